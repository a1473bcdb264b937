"""The hybrid retriever as a LangChain `BaseRetriever`, for LangChain chains.

Kept apart from rag.retrieval.retrieve because LangChain's retriever base is slow to import
and the web app does not use it.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class MentorKBRetriever(BaseRetriever):
    """The hybrid retriever as a LangChain retriever: chunks become Documents."""

    retriever: Any

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(
                page_content=sc.chunk.text,
                metadata={
                    "source": sc.chunk.source, "title": sc.chunk.title, "section": sc.chunk.section,
                    "page": sc.chunk.page, "mentor": sc.chunk.mentor, "chunk_id": sc.chunk.chunk_id,
                    "score": sc.score, "similarity": sc.similarity,
                },
                id=sc.chunk.chunk_id,
            )
            for sc in self.retriever.search(query)
        ]
