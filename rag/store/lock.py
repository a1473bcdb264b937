"""The index's single-writer lock: Chroma must never have two writing processes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.core.errors import IndexLockedError


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` or fail at once, naming the holder's pid.

    flock is released by the kernel when the holder dies, so a killed ingest never
    leaves a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise IndexLockedError(
                f"another process is writing the index (pid {holder}); try again when it finishes"
            ) from None
        try:  # who holds it, for the message above; best effort (the disk may be full)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass
        try:
            yield
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
