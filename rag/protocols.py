"""The small interfaces that backends implement. Settings choose the backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag.types import Chunk, ScoredChunk


class Embedder(Protocol):
    """Turns text into unit-length vectors."""

    name: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed a batch of passages."""

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would read for `text` (without special tokens)."""


class VectorIndex(Protocol):
    """Finds the chunks nearest a vector: what retrieval needs."""

    def query(self, vector: Sequence[float], k: int) -> list[ScoredChunk]:
        """The k nearest chunks, best first."""

    def count(self) -> int:
        """Chunks stored."""

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored embeddings by chunk id."""


class LexicalIndex(Protocol):
    """Finds chunks by words (BM25)."""

    def lexical(self, words: Sequence[str], k: int) -> list[tuple[Chunk, float]]:
        """The k best-matching chunks with their BM25 scores, best first."""


class VectorStore(VectorIndex, Protocol):
    """A VectorIndex that can also be written: what ingest needs."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Add or replace chunks by id."""

    def delete(self, content_hashes: Sequence[str]) -> None:
        """Remove every chunk of the given documents."""

    def relabel(self, content_hash: str, source: str) -> None:
        """Name another source on a document's chunks."""

    def content_hashes(self) -> set[str]:
        """Every document hash with chunks in the store."""

    def close(self) -> None:
        """Release resources."""
