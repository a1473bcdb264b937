"""Indexer: bring the index in line with files, touching only what changed.

Order of writes, so that a crash at any point loses nothing committed and serves
nothing half-written: chunks go to the vector store first (ids derive from the
content hash, so a repeat is harmless), then the manifest row commits, then old
chunks are dropped. A `dirty` marker left by a killed run makes the next run sweep
chunks that no manifest row claims.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest import loaders, origins, sandbox, uploads
from ingest.chunking import embedding_text, split_document, to_chunks
from ingest.discovery import Found, discover
from ingest.document import LoadedDocument
from ingest.report import IngestReport, Progress
from ingest.screening import hold_back
from rag.backends import make_store
from rag.core.errors import LoaderError, StoreError
from rag.core.protocols import Embedder, VectorStore
from rag.core.sentences import quotable
from rag.core.settings import Settings
from rag.core.types import Chunk
from rag.safety.injection import Detector
from rag.store import index
from rag.store.lock import writer_lock
from rag.store.manifest import Description, DocumentRecord, Manifest, now

log = logging.getLogger(__name__)

def _storage_errors(method):
    """A full disk or read-only data dir becomes one clear StoreError. Each document
    commits in its own transaction, so everything committed before stays intact."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, sqlite3.Error) as e:
            reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
            raise StoreError(
                f"{self.settings.data_dir}: cannot write the index ({reason}); documents stored before "
                "are intact, run the command again once this is fixed"
            ) from e

    return run


@dataclass
class _Pending:
    """A loaded document waiting for its chunks to be embedded and stored."""

    path: Path
    stat: os.stat_result
    doc: LoadedDocument
    chunks: list[Chunk]  # empty for a duplicate of text already stored or queued
    old: DocumentRecord | None


@dataclass
class Target:
    """One generation's store and manifest, open for writing."""

    generation: Path
    store: VectorStore
    manifest: Manifest


def _take_batch(pending: list[_Pending], size: int) -> list[_Pending]:
    """Remove and return the oldest pending documents holding at least `size` chunks."""
    taken, count = 0, 0
    while taken < len(pending) and count < size:
        count += len(pending[taken].chunks)
        taken += 1
    batch = pending[:taken]
    del pending[:taken]
    return batch


class Indexer:
    """Writes documents into the live index (or a new generation), under the writer lock.

    Args:
        settings: data dir, chunk sizes, limits.
        embedder: embeds chunks; the store is bound to it.
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder

    @functools.cached_property
    def detector(self) -> Detector:
        """The injection detector, loaded on the first document that needs it."""
        return Detector()

    @contextmanager
    def _open(self, generation: Path) -> Iterator[Target]:
        store = make_store(self.settings, self.embedder, generation)
        manifest = Manifest.of(generation)
        try:
            yield Target(generation, store, manifest)
        finally:
            manifest.close()
            store.close()

    def sync(
        self,
        paths: list[Path],
        *,
        prune: bool = False,
        overrides: dict[str, object] | None = None,
        progress: Progress | None = None,
        replace: bool = False,
    ) -> IngestReport:
        """Ingest every file under `paths` into the live index. One bad file fails alone.

        Args:
            paths: files and folders.
            prune: also remove documents whose files are gone.
            overrides: metadata (title, mentor, tags, date) that wins over the files'.
            progress: called after each document.
            replace: let a file replace a document of the same source id read from
                another file; without it that file fails and the document stays.
        """
        return self._sync(lambda known: list(discover(paths)), prune, overrides, progress, replace)

    def add(
        self,
        files: list[tuple[Path, str]],
        *,
        overrides: dict[str, object] | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest files under explicit source ids (uploads: `uploads/<mentor>/<name>`)."""
        return self._sync(lambda known: [Found(path, source) for path, source in files], False, overrides,
                          progress)

    def refresh(self, progress: Progress | None = None) -> IngestReport:
        """Re-read every indexed document from its file; drop those whose files are gone."""
        return self._sync(lambda known: [f for f in known if f.path.is_file()], True, None, progress)

    @_storage_errors
    def _sync(self, select, prune, overrides, progress, replace=False) -> IngestReport:
        data_dir = self.settings.data_dir
        report = IngestReport()
        with writer_lock(self.settings.lock_path):
            # Holding the lock, any generation newer than the live one is a rebuild that
            # was killed: clean it up.
            index.prune_generations(data_dir, self.settings)
            generation = self._live_or_first()
            with self._open(generation) as target:
                known = origins.known(target.manifest, self.settings.data_dir)
                self._ingest(target, select(known), report, overrides, progress, replace)
                if prune:
                    self._prune(target, report)
            if report.added or report.updated or report.removed:
                index.activate(data_dir, generation)  # readers reopen to see the new vectors
        return report

    @_storage_errors
    def describe(self, descriptions: dict[str, Description]) -> None:
        """Keep mentors' descriptions (title, tags, notes) of uploads with the documents,
        before the files are indexed, so a crash in between loses none of them."""
        with writer_lock(self.settings.lock_path):
            with Manifest.of(self._live_or_first()) as manifest:
                manifest.describe(descriptions)

    def _live_or_first(self) -> Path:
        """The live generation; for the first write, a new one made live at once, so a
        crash loses nothing. Call holding the writer lock."""
        data_dir = self.settings.data_dir
        generation = index.current_generation(data_dir)
        if generation is None:
            generation = index.new_generation(data_dir)
            index.activate(data_dir, generation)
        return generation

    @_storage_errors
    def rebuild(self, paths: list[Path] = (), progress: Progress | None = None) -> IngestReport:
        """Re-ingest every known document (and `paths`) into a new generation, then switch.

        Documents whose files are gone are left out. The switch happens only if every
        file loaded; otherwise the new generation is discarded and the old one stays live.
        """
        data_dir = self.settings.data_dir
        report = IngestReport()
        with writer_lock(self.settings.lock_path):
            index.prune_generations(data_dir, self.settings)  # a killed rebuild's leftovers
            live = index.current_generation(data_dir)
            known, described = [], {}
            if live is not None:
                with Manifest.of(live) as manifest:
                    known, described = origins.known(manifest, data_dir), manifest.descriptions()
            found = {f.source: f for f in known if f.path.is_file()}
            report.removed = sorted(f.source for f in known if f.source not in found)
            for f in discover(list(paths)):
                was = found.get(f.source)
                if was and (why := origins.conflict(f.source, str(was.path), f.path, data_dir)):
                    report.failed.append((f.source, why))  # so the rebuild is discarded: nothing changes
                else:
                    found[f.source] = f
            generation = index.new_generation(data_dir)
            try:
                with self._open(generation) as target:
                    target.manifest.describe({s: d for s, d in described.items() if s not in report.removed})
                    self._ingest(target, list(found.values()), report, None, progress)
            except BaseException:
                index.discard(generation, self.settings)
                raise
            if report.failed:
                index.discard(generation, self.settings)
                return report
            index.activate(data_dir, generation)
            index.prune_generations(data_dir, self.settings)
        return report

    @_storage_errors
    def remove(self, sources: list[str]) -> list[str]:
        """Delete documents by source id; returns the ones that were indexed."""
        data_dir = self.settings.data_dir
        with writer_lock(self.settings.lock_path):
            generation = index.current_generation(data_dir)
            if generation is None:
                return []
            with self._open(generation) as target:
                gone = [s for s in sources if target.manifest.get(s) is not None]
                self._forget(target, gone)
                target.manifest.remove(sources)  # descriptions of uploads never indexed too
            if gone:
                index.activate(data_dir, generation)
        return gone

    # -- the work -----------------------------------------------------------

    def _ingest(
        self,
        target: Target,
        files: list[Found],
        report: IngestReport,
        overrides: dict[str, object] | None,
        progress: Progress | None,
        replace: bool = False,
    ) -> None:
        dirty = target.generation / "dirty"
        if dirty.exists():  # a previous run died mid-way
            self._sweep(target)
        dirty.touch()
        pending: list[_Pending] = []
        read: dict[str, Path] = {}  # source -> the file read into it in this run
        for i, found in enumerate(files, 1):
            try:
                first = read.get(found.source)
                if first and not origins.same_file(first, found.path):
                    raise LoaderError(found.source, f"two files for one document: {os.path.realpath(first)} and "
                                                    f"{os.path.realpath(found.path)}; ingest them separately")
                read.setdefault(found.source, found.path)
                status, item = self._prepare(target, found, report, overrides, pending, replace)
            except LoaderError as e:
                report.failed.append((found.source, e.reason))
                status, item = "failed", None
            if item is not None:
                pending.append(item)
                # Flush a full batch only once half the next one is waiting, so the
                # last batch is never a small, badly padded remainder.
                if sum(len(p.chunks) for p in pending) >= 1.5 * self.settings.embed_batch:
                    self._flush(target, _take_batch(pending, self.settings.embed_batch), report)
            if progress:
                progress(i, len(files), found.source, status, report.chunks_written)
        self._flush(target, pending, report)
        dirty.unlink()

    def _prepare(
        self,
        target: Target,
        found: Found,
        report: IngestReport,
        overrides: dict[str, object] | None,
        pending: list[_Pending],
        replace: bool = False,
    ) -> tuple[str, _Pending | None]:
        """Load and chunk one file, or settle it at once if nothing changed. A file of
        another origin than the document it would replace fails unless `replace`."""
        if found.error:
            raise LoaderError(found.source, found.error)
        if found.path.is_file() and not loaders.is_supported(found.path):
            report.skipped.append((found.source, f"unsupported file type {found.path.suffix or '(none)'!r}"))
            return "skipped", None
        try:
            stat = found.path.stat()
        except FileNotFoundError:
            raise LoaderError(found.source, "no such file or directory") from None
        except OSError as e:
            raise LoaderError(found.source, f"cannot read file ({e.strerror or e})") from None
        if not found.path.is_file():
            raise LoaderError(found.source, "not a regular file")
        limit = self.settings.max_file_mb
        if stat.st_size > limit * 1024 * 1024:
            raise LoaderError(found.source, f"file is {stat.st_size / 2**20:.1f} MB, over the {limit:g} MB limit (MENTORKB_MAX_FILE_MB)")
        manifest = target.manifest
        old = manifest.get(found.source)
        # Another file than the one the document was read from replaces it only when told
        # to; an origin not recorded is adopted. Either way the new origin is recorded.
        why = old and origins.conflict(old.source, old.path, found.path, self.settings.data_dir)
        if why and not replace:
            raise LoaderError(found.source, why)
        same_stat = old is not None and (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        if same_stat and old.path and not why and not overrides:
            report.unchanged.append(found.source)
            return "unchanged", None
        doc = sandbox.load(found.path, found.source, self.settings.loader_timeout_s)
        described = manifest.description(found.source)
        wins = {**(described.overrides() if described else {}), **{k: v for k, v in (overrides or {}).items() if v}}
        owner = uploads.owner_of(found.source)
        if owner and not doc.mentor and "mentor" not in wins:  # an upload not saying who wrote it: its uploader
            wins["mentor"] = owner
        if wins:
            doc = dataclasses.replace(doc, **wins)
        digest = doc.content_hash
        if old and old.content_hash == digest:
            manifest.touch(found.source, str(found.path.resolve()), stat.st_size, stat.st_mtime_ns)
            report.unchanged.append(found.source)
            return "unchanged", None
        stored = any(r.source != found.source for r in manifest.by_hash(digest))
        queued = digest in {p.doc.content_hash for p in pending}
        if stored or queued:  # the same text under another name: stored once
            return "duplicate", _Pending(found.path, stat, doc, [], old)
        pieces = split_document(
            doc, self.embedder.count_tokens, self.settings.chunk_tokens,
            self.settings.chunk_overlap, self.embedder.max_tokens,
        )
        return ("updated" if old else "added"), _Pending(found.path, stat, doc, to_chunks(doc, pieces), old)

    def _flush(self, target: Target, pending: list[_Pending], report: IngestReport) -> None:
        """Embed all pending chunks in one batch, store them, then commit each document."""
        if not pending:
            return
        hold_back(pending, self.detector, report)
        chunks = [c for p in pending for c in p.chunks]
        if chunks:
            vectors = self.embedder.embed([embedding_text(c) for c in chunks])
            target.store.upsert(chunks, vectors)
            # Each chunk's quotable sentences, embedded now so answers need not (rag.answering.sentences).
            said = [quotable(c.text) for c in chunks]
            flat = [t for ts in said for t in ts]
            target.store.upsert_sentences(chunks, said, self.embedder.embed(flat) if flat else [])
            report.chunks_written += len(chunks)
        counts = {p.doc.content_hash: len(p.chunks) for p in pending if p.chunks}
        records = [
            DocumentRecord(
                source=p.doc.source, path=str(p.path.resolve()), content_hash=p.doc.content_hash,
                title=p.doc.title, mentor=p.doc.mentor, tags=p.doc.tags, date=p.doc.date,
                format=p.doc.format,
                chunks=counts.get(p.doc.content_hash) or target.manifest.by_hash(p.doc.content_hash)[0].chunks,
                size=p.stat.st_size, mtime_ns=p.stat.st_mtime_ns, ingested_at=now(),
            )
            for p in pending
        ]
        target.manifest.put_many([(record, p.chunks) for record, p in zip(records, pending)])
        for p in pending:
            if p.old:
                self._drop_if_unused(target, p.old)
                report.updated.append(p.doc.source)
            else:
                report.added.append(p.doc.source)
        pending.clear()

    def _prune(self, target: Target, report: IngestReport) -> None:
        gone = [r.source for r in target.manifest.all()
                if not origins.file_of(r.source, r.path, self.settings.data_dir).is_file()]
        self._forget(target, gone)
        report.removed.extend(gone)

    def _forget(self, target: Target, sources: list[str]) -> None:
        for source in sources:
            record = target.manifest.get(source)
            if record is None:
                continue
            target.manifest.remove([source])
            self._drop_if_unused(target, record)

    def _drop_if_unused(self, target: Target, record: DocumentRecord) -> None:
        """Delete a document's chunks once no source holds its text, else relabel them."""
        others = target.manifest.by_hash(record.content_hash)
        if not others:
            target.store.delete([record.content_hash])
            target.manifest.drop_chunks(record.content_hash)
        else:
            target.store.relabel(record.content_hash, others[0].source)
            target.manifest.relabel(record.content_hash, others[0].source)

    def _sweep(self, target: Target) -> None:
        """Delete chunks that no manifest row claims: what a killed run left behind."""
        orphans = target.store.content_hashes() - target.manifest.hashes()
        if orphans:
            log.info("removing chunks of %d unfinished documents", len(orphans))
            target.store.delete(sorted(orphans))
        target.manifest.sweep()

