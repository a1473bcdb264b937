"""Load untrusted files in a worker process, with a time and memory limit per file.

Parsers of PDF, DOCX and HTML are large, and hostile input can make them hang,
balloon or crash. Each file is parsed in a separate worker process (one per
process using MentorKB, started on first use by a fresh `forkserver`, so no model
or thread state is inherited). A file that takes longer than the time limit, or
kills its worker, is reported as that file's error and the worker is replaced;
the rest of the batch goes on.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
from multiprocessing.pool import Pool
from pathlib import Path

from ingest import loaders
from ingest.document import LoadedDocument
from rag.core.errors import LoaderError

log = logging.getLogger(__name__)

WORKER_MEMORY_BYTES = 2 * 2**30  # address space per worker; a memory bomb fails alone


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):  # not on this platform: time limit only
        pass


def _load(path: Path, source: str) -> LoadedDocument:
    try:
        return loaders.load(path, source)
    except MemoryError:
        raise LoaderError(source, f"needs more than {WORKER_MEMORY_BYTES // 2**30} GB of memory to read") from None
    except RecursionError:
        raise LoaderError(source, "structure nested too deeply to read") from None
    except LoaderError:
        raise
    except Exception as e:  # noqa: BLE001 - the border: a parser bug fails this file only
        log.debug("loader crashed on %s", source, exc_info=True)
        raise LoaderError(source, f"could not be read ({type(e).__name__})") from None


class LoaderSandbox:
    """One worker process; `load` parses a file there or raises a LoaderError."""

    def __init__(self) -> None:
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def load(self, path: Path, source: str, timeout_s: float) -> LoadedDocument:
        with self._lock:  # one file at a time per process; parsing is not the bottleneck
            pool = self._pool or self._start()
            pending = pool.apply_async(_load, (path, source))
            try:
                return pending.get(timeout_s)
            except multiprocessing.TimeoutError:
                self._restart()
                raise LoaderError(source, f"took longer than {timeout_s:g} s to read; skipped") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.terminate()
                self._pool.join()
                self._pool = None

    def _start(self) -> Pool:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ingest.loaders"])
        # maxtasksperchild bounds any slow leak in a parser.
        self._pool = context.Pool(1, initializer=_limit_memory, maxtasksperchild=500)
        return self._pool

    def _restart(self) -> None:
        """Kill a hung (or dead) worker; the next load starts a fresh one."""
        log.warning("loader worker timed out; replacing it")
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        self._pool = None


_SANDBOX = LoaderSandbox()
atexit.register(_SANDBOX.close)


def load(path: Path, source: str, timeout_s: float) -> LoadedDocument:
    """Parse one file in the shared worker process, within `timeout_s` seconds."""
    return _SANDBOX.load(path, source, timeout_s)
