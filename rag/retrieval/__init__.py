"""Finding the passages for a question: dense and BM25 search fused and re-ranked
(`retrieve`, `ranker`), follow-up questions made standalone (`followup`), starter
questions for an empty chat (`starters`) and a LangChain retriever over it all.
"""
