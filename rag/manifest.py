"""The document manifest and the lexical index, in one SQLite file per generation.

`documents` says which sources are indexed under which content hash (chunks are
keyed by content hash, so two sources with the same text share one set).
`chunks_fts` is an FTS5 table of the same chunks, ranked with BM25 over title,
heading path and text. It commits in the same transaction as the document rows,
so the lexical index can never drift from the manifest, and every process that
opens the file searches the same index: nothing is copied into memory.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.types import Chunk

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
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, section, text,
    chunk_id UNINDEXED, content_hash UNINDEXED, source UNINDEXED,
    page UNINDEXED, mentor UNINDEXED,
    tokenize = 'porter unicode61'
);
"""

# BM25 weights of the title, heading path and text columns.
_FTS_WEIGHTS = (2.0, 1.5, 1.0)



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

    def close(self) -> None:
        self.db.close()

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
        """`put` of each (record, chunks), all in one transaction.

        The chunks replace any the index held under the same content hash. FTS5 cannot
        index that column, so replacing costs one scan of the table: one per call here,
        not one per document.
        """
        replacing = {record.content_hash: chunks for record, chunks in items if chunks}  # the last one wins
        with self.db:
            if replacing:
                self.db.execute(
                    "DELETE FROM chunks_fts WHERE content_hash IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(replacing)),),
                )
            self.db.executemany(
                "INSERT INTO chunks_fts VALUES (?,?,?,?,?,?,?,?)",
                [(c.title, c.section, c.text, c.chunk_id, c.content_hash, c.source, c.page, c.mentor)
                 for chunks in replacing.values() for c in chunks],
            )
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
        with self.db:
            self.db.execute("DELETE FROM chunks_fts WHERE content_hash = ?", (content_hash,))

    def relabel(self, content_hash: str, source: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE chunks_fts SET source = ? WHERE content_hash = ?", (source, content_hash)
            )

    def search(self, words: Sequence[str], k: int) -> list[tuple[Chunk, float]]:
        """The k chunks best matching any of `words` by BM25, best first, with a score > 0."""
        if not words:
            return []
        query = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = self.db.execute(
            "SELECT chunk_id, text, source, title, section, page, mentor, content_hash, "
            f"bm25(chunks_fts, {', '.join(map(str, _FTS_WEIGHTS))}) AS rank "
            "FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (query, k),
        ).fetchall()
        return [(Chunk(*row[:8]), -row[8]) for row in rows]

    def chunks(self) -> list[Chunk]:
        """Every chunk in the lexical index, in chunk id order."""
        rows = self.db.execute(
            "SELECT chunk_id, text, source, title, section, page, mentor, content_hash "
            "FROM chunks_fts ORDER BY chunk_id"
        ).fetchall()
        return [Chunk(*row) for row in rows]

    def hashes(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT content_hash FROM documents")}


def _record(row: tuple) -> DocumentRecord:
    values = list(row)
    values[5] = tuple(json.loads(values[5]))
    return DocumentRecord(*values)


def now() -> float:
    return time.time()
