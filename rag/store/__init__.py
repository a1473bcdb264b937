"""The index on disk: generations and the live index (`index`), the manifest of
documents and chunks (`manifest`), the BM25 index (`lexical`) and the cross-process
writer lock (`lock`). Ingest writes here; retrieval reads from here.
"""
