"""Indexer.sync: bring the index in line with a set of files, touching only what changed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest import loaders
from ingest.chunking import embedding_text, split_document, to_chunks
from ingest.document import LoadedDocument
from rag.errors import LoaderError
from rag.lock import writer_lock
from rag.manifest import DocumentRecord, Manifest, now
from rag.protocols import Embedder, VectorStore
from rag.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str, str], None]


@dataclass
class IngestReport:
    """What one sync did; `failed` holds one `(source, reason)` per bad file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_written: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed; "
            f"{self.chunks_written} chunks written"
        )

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"source": s, "reason": r} for s, r in self.failed],
            "chunks_written": self.chunks_written,
        }


def discover(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """(file, source id) pairs. A folder's files are named relative to it, a file by its name.

    Inside folders, hidden entries and files of unknown type are skipped; a file
    named directly is always yielded, so an unknown type gets a clear error.
    """
    for root in paths:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if path.is_file() and loaders.is_supported(path):
                    yield path, rel.as_posix()
        else:
            yield root, root.name


class Indexer:
    """Writes documents into the vector store and the manifest, under the writer lock."""

    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore, manifest: Manifest) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.manifest = manifest

    def sync(self, paths: list[Path], progress: Progress | None = None) -> IngestReport:
        """Ingest every file under `paths`. One bad file fails alone; the rest go on."""
        report = IngestReport()
        files = list(discover(paths))
        with writer_lock(self.settings.lock_path):
            for i, (path, source) in enumerate(files, 1):
                try:
                    status = self._sync_one(path, source, report)
                except LoaderError as e:
                    report.failed.append((source, e.reason))
                    status = "failed"
                if progress:
                    progress(i, len(files), source, status)
        return report

    def _sync_one(self, path: Path, source: str, report: IngestReport) -> str:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise LoaderError(source, "no such file or directory") from None
        if not path.is_file():
            raise LoaderError(source, "not a regular file")
        old = self.manifest.get(source)
        if old and (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            report.unchanged.append(source)
            return "unchanged"
        doc = loaders.load(path, source)
        digest = doc.content_hash
        if old and old.content_hash == digest:
            self.manifest.touch(source, stat.st_size, stat.st_mtime_ns)
            report.unchanged.append(source)
            return "unchanged"
        twins = [r for r in self.manifest.by_hash(digest) if r.source != source]
        if twins:
            # The same text under another name: stored once, both sources known.
            chunks = twins[0].chunks
        else:
            chunks = self._write(doc)
            report.chunks_written += chunks
        self.manifest.put(
            DocumentRecord(
                source=source, content_hash=digest, title=doc.title, mentor=doc.mentor,
                tags=doc.tags, date=doc.date, format=doc.format, chunks=chunks,
                size=stat.st_size, mtime_ns=stat.st_mtime_ns, ingested_at=now(),
            )
        )
        if old:
            self._drop_if_unused(old.content_hash)
            report.updated.append(source)
            return "updated"
        report.added.append(source)
        return "added"

    def _write(self, doc: LoadedDocument) -> int:
        pieces = split_document(
            doc,
            self.embedder.count_tokens,
            self.settings.chunk_tokens,
            self.settings.chunk_overlap,
            self.embedder.max_tokens,
        )
        chunks = to_chunks(doc, pieces)
        vectors = self.embedder.embed([embedding_text(c) for c in chunks])
        self.store.upsert(chunks, vectors)
        return len(chunks)

    def _drop_if_unused(self, content_hash: str) -> None:
        if not self.manifest.by_hash(content_hash):
            self.store.delete([content_hash])
