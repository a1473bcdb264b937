"""The small interfaces that backends implement. Settings choose the backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from rag.core.types import Chunk, IndexStats, ScoredChunk, SharedDocument, UploadResult, User


class Embedder(Protocol):
    """Turns text into unit-length vectors."""

    name: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed a batch of passages."""

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would read for `text` (without special tokens)."""

    def embed_spans(self, text: str, spans: Sequence[tuple[int, int]]) -> list[list[float]]:
        """One vector per character span of `text` from one encode; (0, len(text)) is the whole."""


class VectorIndex(Protocol):
    """Finds the chunks nearest a vector: what retrieval needs."""

    def query(self, vector: Sequence[float], k: int) -> list[ScoredChunk]:
        """The k nearest chunks, best first."""

    def nearest(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The k nearest chunk ids with their cosine similarity, best first."""

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Stored chunks by id."""

    def count(self) -> int:
        """Chunks stored."""

    def vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """Stored embeddings by chunk id (a numpy array each, or a list)."""

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored embeddings of the chunks' sentences, by sentence text."""


class LexicalIndex(Protocol):
    """Finds chunks by words (BM25)."""

    def lexical(self, words: Sequence[str], k: int) -> list[tuple[Chunk, float]]:
        """The k best-matching chunks with their BM25 scores, best first."""


class VectorStore(VectorIndex, Protocol):
    """A VectorIndex that can also be written: what ingest needs."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Add or replace chunks by id."""

    def upsert_sentences(self, chunks: Sequence[Chunk], texts: Sequence[Sequence[str]],
                         vectors: Sequence[Sequence[float]]) -> None:
        """Store each chunk's sentences with their embeddings, replacing what it had."""

    def delete(self, content_hashes: Sequence[str]) -> None:
        """Remove every chunk of the given documents."""

    def relabel(self, content_hash: str, source: str) -> None:
        """Name another source on a document's chunks."""

    def content_hashes(self) -> set[str]:
        """Every document hash with chunks in the store."""

    def close(self) -> None:
        """Release resources."""


class Workspace(Protocol):
    """What mentors and admins may do to the documents, from the web app.

    Implementations check the caller's role and ownership themselves (raising
    `AccessDenied`), so hiding a button is never the only guard.
    """

    def upload(
        self,
        files: Sequence[tuple[str, Path]],
        user: User,
        *,
        title: str = "",
        tags: Sequence[str] = (),
        notes: str = "",
        progress: Callable[[int, int, str], None] | None = None,
    ) -> UploadResult:
        """Check, store and index (client name, temp path) files; searchable on return."""

    def replace(self, source: str, file: tuple[str, Path], user: User) -> UploadResult:
        """A new version of one of the user's documents, keeping its title, tags and notes."""

    def delete(self, source: str, user: User) -> None:
        """Remove a document from the index (and its uploaded file); gone from answers at once."""

    def documents(self, user: User) -> list[SharedDocument]:
        """A mentor's own uploads; every indexed document for an admin."""

    def reindex(self, user: User) -> str:
        """Admins only: the safe full rebuild `mentorkb reindex --full` runs; a one-line summary."""

    def stats(self) -> IndexStats:
        """Documents, chunks and build times of the live index."""
