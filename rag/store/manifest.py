"""The document manifest (SQLite) and its lexical index (Tantivy), per generation.

`documents` says which sources are indexed under which content hash (chunks are
keyed by content hash, so two sources with the same text share one set), and from
which file each was read (its origin, `path`). `changes` holds the time of the
last write to `documents`: an add, an update, a re-read or a removal.
`descriptions` holds what a mentor said about an upload (title, tags, notes) and
who uploaded it: it
wins over what the file says each time the file is read again, a rebuild copies it
to the new generation, and it goes when the document is removed. The
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

from rag.core.types import Chunk
from rag.store.lexical import Lexicon

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
CREATE TABLE IF NOT EXISTS descriptions (
    source       TEXT PRIMARY KEY,
    title        TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]',
    notes        TEXT NOT NULL DEFAULT '',
    mentor       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS changes (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    at           REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Description:
    """A mentor's title, tags and notes for one upload ("" and () when not given),
    and the mentor who uploaded it (who owns it; the document's own `mentor:` still
    names who wrote it)."""

    title: str = ""
    tags: tuple[str, ...] = ()
    notes: str = ""
    mentor: str = ""

    def overrides(self) -> dict[str, object]:
        """What the description changes in the document as loaded: its title and tags."""
        return {k: v for k, v in (("title", self.title), ("tags", self.tags)) if v}


@dataclass(frozen=True)
class DocumentRecord:
    source: str
    path: str  # its origin: the absolute path of the file it was read from ("" if not recorded)
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

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
            self._changed()

    def touch(self, source: str, path: str, size: int, mtime_ns: int) -> None:
        """Record a new file stat (and place) for a document whose content did not change."""
        with self.db:
            self.db.execute(
                "UPDATE documents SET path = ?, size = ?, mtime_ns = ? WHERE source = ?",
                (path, size, mtime_ns, source),
            )
            self._changed()

    def remove(self, sources: Iterable[str]) -> None:
        """Delete documents' records and their descriptions."""
        rows = [(s,) for s in sources]
        with self.db:
            if self.db.executemany("DELETE FROM documents WHERE source = ?", rows).rowcount:
                self._changed()
            self.db.executemany("DELETE FROM descriptions WHERE source = ?", rows)

    def changed_at(self) -> float | None:
        """When a document was last added, updated, re-read or removed; for a manifest
        written before this was kept, the latest ingest. None when empty and unchanged."""
        row = self.db.execute("SELECT at FROM changes").fetchone()
        if row:
            return row[0]
        return self.db.execute("SELECT MAX(ingested_at) FROM documents").fetchone()[0]

    def _changed(self) -> None:
        """Record now as the last change; call inside the write's transaction."""
        self.db.execute("INSERT OR REPLACE INTO changes VALUES (1, ?)", (now(),))

    def describe(self, descriptions: dict[str, Description]) -> None:
        """Keep (or replace) the descriptions of sources, indexed yet or not."""
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO descriptions VALUES (?,?,?,?,?)",
                [(s, d.title, json.dumps(list(d.tags)), d.notes, d.mentor) for s, d in descriptions.items()],
            )

    def descriptions(self) -> dict[str, Description]:
        rows = self.db.execute("SELECT source, title, tags, notes, mentor FROM descriptions").fetchall()
        return {row[0]: _description(row[1:]) for row in rows}

    def description(self, source: str) -> Description | None:
        row = self.db.execute(
            "SELECT title, tags, notes, mentor FROM descriptions WHERE source = ?", (source,)
        ).fetchone()
        return _description(row) if row else None

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


def _description(row: tuple) -> Description:
    title, tags, notes, mentor = row
    return Description(title, tuple(json.loads(tags)), notes, mentor)


def _record(row: tuple) -> DocumentRecord:
    values = list(row)
    values[5] = tuple(json.loads(values[5]))
    return DocumentRecord(*values)


def now() -> float:
    return time.time()
