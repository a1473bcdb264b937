"""The document manifest (SQLite) and its lexical index (Tantivy), per generation.

`documents` says which sources are indexed under which content hash (chunks are
keyed by content hash, so two sources with the same text share one set). The
lexical index (rag.store.lexical) holds the same chunks for BM25. The two are kept equal
by order: chunks enter the lexical index before the document rows that claim them
commit, and leave it after, so a killed writer can leave only unclaimed chunks,
which the next writer sweeps (`sweep`), as it sweeps the vector store.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.store.lexical import Lexicon
from rag.core.types import Chunk

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source       TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    title        TEXT NOT NULL,
    mentor       TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]',
    date         TEXT NOT NULL DEFAULT '',
    format       TEXT NOT NULL,
    chunks       INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    ingested_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_hash ON documents (content_hash);
"""


@dataclass(frozen=True)
class DocumentRecord:
    source: str
    path: str  # absolute path of the file it was read from
    content_hash: str
    title: str
    mentor: str
    tags: tuple[str, ...]
    date: str
    format: str
    chunks: int
    size: int
    mtime_ns: int
    ingested_at: float


class Manifest:
    """Read and write document records. Each write commits at once."""

    @classmethod
    def of(cls, generation: Path) -> Manifest:
        """The manifest of an index generation."""
        return cls(generation / "manifest.sqlite3")

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self.lexical = Lexicon(path.with_name(path.stem + ".lexical"))

    def close(self) -> None:
        self.db.close()

    def sweep(self) -> int:
        """Delete lexical chunks that no document claims (a killed write's); returns how many texts."""
        orphans = self.lexical.hashes() - self.hashes()
        if orphans:
            self.lexical.drop(orphans)
        return len(orphans)

    def get(self, source: str) -> DocumentRecord | None:
        row = self.db.execute("SELECT * FROM documents WHERE source = ?", (source,)).fetchone()
        return _record(row) if row else None

    def all(self) -> list[DocumentRecord]:
        rows = self.db.execute("SELECT * FROM documents ORDER BY source").fetchall()
        return [_record(r) for r in rows]

    def by_hash(self, content_hash: str) -> list[DocumentRecord]:
        rows = self.db.execute(
            "SELECT * FROM documents WHERE content_hash = ? ORDER BY source", (content_hash,)
        ).fetchall()
        return [_record(r) for r in rows]

    def put(self, record: DocumentRecord, chunks: Sequence[Chunk] = ()) -> None:
        """Record a document and, when given, its chunks for lexical search, atomically."""
        self.put_many([(record, chunks)])

    def put_many(self, items: Sequence[tuple[DocumentRecord, Sequence[Chunk]]]) -> None:
        """`put` of each (record, chunks): the chunks first, in one lexical commit, then
        the records, in one transaction.

        The chunks replace any the index held under the same content hash.
        """
        replacing = {record.content_hash: chunks for record, chunks in items if chunks}  # the last one wins
        if replacing:
            self.lexical.replace(replacing)
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(
                    record.source, record.path, record.content_hash, record.title, record.mentor,
                    json.dumps(list(record.tags)), record.date, record.format,
                    record.chunks, record.size, record.mtime_ns, record.ingested_at,
                ) for record, _ in items],
            )

    def touch(self, source: str, path: str, size: int, mtime_ns: int) -> None:
        """Record a new file stat (and place) for a document whose content did not change."""
        with self.db:
            self.db.execute(
                "UPDATE documents SET path = ?, size = ?, mtime_ns = ? WHERE source = ?",
                (path, size, mtime_ns, source),
            )

    def remove(self, sources: Iterable[str]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM documents WHERE source = ?", [(s,) for s in sources])

    def drop_chunks(self, content_hash: str) -> None:
        """Delete a text's chunks; call after removing the documents that held it."""
        self.lexical.drop([content_hash])

    def relabel(self, content_hash: str, source: str) -> None:
        self.lexical.relabel(content_hash, source)

    def search(self, words: Sequence[str], k: int) -> list[tuple[Chunk, float]]:
        """The k chunks best matching any of `words` by BM25, best first, with a score > 0."""
        return self.lexical.search(words, k)

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id, from the lexical index (which stores them whole)."""
        return self.lexical.by_id(ids)

    def chunks(self) -> list[Chunk]:
        """Every chunk in the lexical index, in chunk id order."""
        return self.lexical.chunks()

    def hashes(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT content_hash FROM documents")}


def _record(row: tuple) -> DocumentRecord:
    values = list(row)
    values[5] = tuple(json.loads(values[5]))
    return DocumentRecord(*values)


def now() -> float:
    return time.time()
