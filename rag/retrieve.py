"""Retrieval: the question's nearest chunks in the vector store."""

from __future__ import annotations

from rag.protocols import Embedder, VectorIndex
from rag.types import ScoredChunk


class DenseRetriever:
    """Embeds the question and asks the store for its k nearest chunks."""

    def __init__(self, embedder: Embedder, store: VectorIndex, k: int = 10) -> None:
        self.embedder = embedder
        self.store = store
        self.k = k

    def search(self, question: str) -> list[ScoredChunk]:
        [vector] = self.embedder.embed([question])
        return self.store.query(vector, self.k)
