"""Workspace: the mentor and admin actions of the web app, over uploads and the Indexer.

It lives in the composition root because it joins `ingest` (staging, indexing) to
what `ui` may call; `ui` sees only the `rag.core.protocols.Workspace` Protocol. Every
method checks the caller's role and ownership here, on the server. Index writes
from this process are serialized by one lock, and the cross-process writer lock
(held by a CLI reindex) becomes a clear "busy" message. Uploaded files are checked
(trial-parsed) before that lock, in a few worker slots shared fairly among mentors.

A mentor's title, tags and notes for an upload are kept in the index's manifest
with the document (`Indexer.describe`), written before the file is indexed: a
replaced version, a re-read and a full rebuild all keep them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

from ingest import uploads
from ingest.indexer import Indexer
from rag.core.errors import AccessDenied, IndexLockedError, InvalidInput, NotFoundError
from rag.core.settings import Settings
from rag.core.types import IndexStats, SharedDocument, UploadResult
from rag.people.accounts import User
from rag.store.index import current_generation
from rag.store.manifest import Description, DocumentRecord, Manifest

log = logging.getLogger(__name__)

T = TypeVar("T")
BUSY = "the index is busy (a reindex is running); try again in a minute"


class Workspace:
    """Upload, replace, delete and rebuild, each checked against the calling user.

    Args:
        settings: data dir and upload limits.
        indexer: writes the live index, with the embedder the Assistant searches with.
    """

    def __init__(self, settings: Settings, indexer: Indexer) -> None:
        self.settings = settings
        self.indexer = indexer
        self._writing = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.upload_workers)
        self._turns: dict[str, threading.Lock] = {}
        self._turns_lock = threading.Lock()

    # -- mentors ------------------------------------------------------------

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
        _require_role(user)
        if not files:
            return UploadResult(errors=("no file chosen",))
        # Checking (a trial parse, up to the loader time limit a file) runs before the
        # index lock, in a few shared worker slots, one file at a time per mentor: one
        # mentor's hostile files never hold up another's upload.
        with self._mentor_turn(user.name):
            checked, errors = uploads.check(files, user.name, self.settings, self._slot)
            with self._writer():
                report = uploads.place(checked, user.name, self.settings)
                report.errors[:0] = errors
                said = Description(title.strip(), tuple(t for t in tags if t), notes.strip(), user.name)
                self.indexer.describe({s.source: said for s in report.staged})
                indexed, failed, held = self._index([(s.path, s.source) for s in report.staged], progress)
        return UploadResult(tuple(indexed), tuple(report.errors) + tuple(failed), tuple(held))

    def replace(self, source: str, file: tuple[str, Path], user: User) -> UploadResult:
        _require_role(user)
        uploads.check_owner(source, user.name, user.is_admin)
        owner = uploads.owner_of(source)
        if owner is None:
            raise AccessDenied(f"{source}: only uploaded documents can be replaced from the web")
        old_name = source.rsplit("/", 1)[-1]
        client_name, temp_path = file
        if Path(uploads.safe_name(client_name)).suffix.lower() != Path(old_name).suffix.lower():
            raise InvalidInput(f"{client_name}: the new version must have the same file type as {old_name}")
        with self._mentor_turn(owner):
            checked, errors = uploads.check([(old_name, temp_path)], owner, self.settings, self._slot)
            with self._writer():
                if self._record(source) is None:
                    raise NotFoundError(f"{source}: not in the index")
                report = uploads.place(checked, owner, self.settings)
                report.errors[:0] = errors
                indexed, failed, held = self._index([(s.path, s.source) for s in report.staged], None)
        errors = [e.replace(old_name, client_name, 1) for e in report.errors]
        return UploadResult(tuple(indexed), tuple(errors) + tuple(failed), tuple(held))

    def delete(self, source: str, user: User) -> None:
        _require_role(user)
        uploads.check_owner(source, user.name, user.is_admin)
        with self._writer():
            if self._record(source) is None:
                raise NotFoundError(f"{source}: not in the index")
            # The file goes first: a crash in between leaves an index entry without a
            # file, which `recover` drops, never a file that would come back to life.
            owner = uploads.owner_of(source)
            if owner is not None:
                (uploads.uploads_dir(self.settings, owner) / source.rsplit("/", 1)[-1]).unlink(missing_ok=True)
            self.indexer.remove([source])

    def recover(self) -> tuple[list[str], list[str]]:
        """Make the index agree with the upload folders after a crash: index uploads
        that were stored but not (or not fully) indexed, and drop uploads whose files
        are gone. Unchanged files cost a stat each. Returns (indexed, dropped)."""
        with self._writer():
            records = {r.source: r for r in self._records() if uploads.owner_of(r.source)}
            known = set(records)
            on_disk = []
            root = self.settings.data_dir / uploads.UPLOADS
            for owner_dir in sorted(p for p in root.glob("*") if p.is_dir()):
                for path in sorted(owner_dir.iterdir()):
                    if path.is_file() and not path.name.startswith("."):
                        on_disk.append((path, uploads.source_id(owner_dir.name, path.name)))
            gone = sorted(known - {source for _, source in on_disk})
            if gone:
                self.indexer.remove(gone)
            stale = [(path, source) for path, source in on_disk if _changed(path, records.get(source))]
            indexed, failed, _ = self._index(stale, None)
            for line in failed:
                log.warning("recovering uploads: %s", line)
            return indexed, gone

    def documents(self, user: User) -> list[SharedDocument]:
        _require_role(user)
        records, described = self._live(lambda m: (m.all(), m.descriptions()), ([], {}))
        if not user.is_admin:
            records = [r for r in records if uploads.owner_of(r.source) == user.name]
        shown = []
        for r in records:
            note = described[r.source].notes if r.source in described else ""
            shown.append(SharedDocument(r.source, r.title, r.mentor, r.tags, note, r.chunks, r.ingested_at))
        return sorted(shown, key=lambda d: d.ingested_at, reverse=True)

    # -- admins -------------------------------------------------------------

    def reindex(self, user: User) -> str:
        if not user.is_admin:
            raise AccessDenied(f"{user.name}: only admins can rebuild the index")
        with self._writer():
            report = self.indexer.rebuild()
            if report.failed:
                first = "; ".join(f"{s}: {r}" for s, r in report.failed[:3])
                return f"rebuild incomplete, the previous index stays live ({first})"
        return report.summary()

    def stats(self) -> IndexStats:
        records, changed_at = self._live(lambda m: (m.all(), m.changed_at()), ([], None))
        times = [r.ingested_at for r in records]
        return IndexStats(
            documents=len(records),
            chunks=sum(r.chunks for r in records),
            built_at=min(times) if times else None,
            updated_at=changed_at,  # a delete or a re-read moves it too
        )

    # -- helpers ------------------------------------------------------------

    def _mentor_turn(self, mentor: str) -> AbstractContextManager:
        """One upload or replace at a time per mentor (so a quota is checked against
        what is really kept); other mentors go on."""
        with self._turns_lock:
            turn = self._turns.setdefault(mentor, threading.Lock())
        return _holding(turn, "your previous upload is still being checked; try again when it is done")

    def _slot(self) -> AbstractContextManager:
        """One of the `upload_workers` parsing slots shared by all mentors."""
        return _holding(self._slots, BUSY)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """One index write at a time in this process; another process's lock is 'busy'."""
        if not self._writing.acquire(timeout=600):
            raise IndexLockedError(BUSY)
        try:
            yield
        except IndexLockedError:
            raise IndexLockedError(BUSY) from None
        finally:
            self._writing.release()

    def _index(self, files, progress) -> tuple[list[str], list[str], list[str]]:
        """Index staged files with their metadata; returns (indexed sources, error lines,
        "NAME: sentence" for each sentence held back as an instruction)."""
        indexed: list[str] = []
        failed: list[str] = []
        held: list[str] = []
        for i, (path, source) in enumerate(files, 1):
            # The indexer applies the title and tags described at upload, and credits a
            # document that names no mentor (front matter `mentor:`) to its uploader.
            report = self.indexer.add([(path, source)])
            failed += [f"{s.rsplit('/', 1)[-1]}: {r}" for s, r in report.failed]
            held += [f"{s.rsplit('/', 1)[-1]}: {t}" for s, t in report.flagged]
            if not report.failed:
                indexed.append(source)
            if progress:
                progress(i, len(files), source)
        return indexed, failed, held

    def _live(self, read: Callable[[Manifest], T], empty: T) -> T:
        """`read` of the live generation's manifest, or `empty` before the first index."""
        live = current_generation(self.settings.data_dir)
        if live is None:
            return empty
        with Manifest.of(live) as manifest:
            return read(manifest)

    def _records(self) -> list[DocumentRecord]:
        return self._live(Manifest.all, [])

    def _record(self, source: str) -> DocumentRecord | None:
        return next((r for r in self._records() if r.source == source), None)


@contextmanager
def _holding(lock: threading.Lock | threading.BoundedSemaphore, busy: str) -> Iterator[None]:
    """Hold `lock`, or say `busy` (IndexLockedError) after waiting ten minutes for it."""
    if not lock.acquire(timeout=600):
        raise IndexLockedError(busy)
    try:
        yield
    finally:
        lock.release()


def _changed(path: Path, record: DocumentRecord | None) -> bool:
    """True unless the index holds this file as it is now (same size and mtime)."""
    if record is None:
        return True
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns) != (record.size, record.mtime_ns)


def _require_role(user: User) -> None:
    if user.role not in ("mentor", "admin"):
        raise AccessDenied(f"{user.name}: only mentors and admins can change documents")
