"""Index generations: each full rebuild goes into a new folder, switched to atomically.

Layout under the data dir::

    CURRENT                 "<live generation> <write serial>", replaced atomically
    index.lock              the single writer's lock (rag.store.lock)
    generations/gen-0003/   chroma/ (vectors) and manifest.sqlite3 (documents)

With a Chroma server (MENTORKB_CHROMA_URL) a generation's vectors are the server's
collection `<collection>-gen-0003` instead of its chroma/ folder; dropping the
generation drops the collection.

Readers (the web app) look at CURRENT before each question and reopen when it
changes, so a rebuild goes live without a restart, and a failed rebuild, which
never touches CURRENT, leaves the old generation serving. Incremental writes bump
the serial, because Chroma readers in other processes only see new vectors after
reopening.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.backends import drop_store, make_store
from rag.core.errors import StoreError
from rag.core.types import Chunk, ScoredChunk
from rag.store.manifest import Manifest

if TYPE_CHECKING:
    from rag.backends.chroma import ChromaStore
    from rag.core.protocols import Embedder
    from rag.core.settings import Settings

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
GENERATIONS = "generations"


def read_current(data_dir: Path) -> str:
    """CURRENT's content: '' before the first ingest."""
    try:
        return (data_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def current_generation(data_dir: Path) -> Path | None:
    """The live generation's folder, or None before the first ingest."""
    text = read_current(data_dir)
    return data_dir / GENERATIONS / text.split()[0] if text else None


def new_generation(data_dir: Path) -> Path:
    """A fresh, empty generation folder, numbered after every existing one."""
    root = data_dir / GENERATIONS
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name.removeprefix("gen-")) for p in root.glob("gen-*") if p.name[4:].isdigit()]
    path = root / f"gen-{max(numbers, default=0) + 1:04d}"
    path.mkdir()
    return path


def activate(data_dir: Path, generation: Path) -> None:
    """Make `generation` live, or tell readers it changed: an atomic rewrite of CURRENT."""
    parts = read_current(data_dir).split()
    serial = int(parts[1]) + 1 if len(parts) == 2 and parts[1].isdigit() else 1
    tmp = data_dir / f".{CURRENT}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        f.write(f"{generation.name} {serial}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, data_dir / CURRENT)


def discard(generation: Path, settings: Settings | None = None) -> None:
    """Delete a generation's folder and, given the settings, its collection on a Chroma server."""
    if settings is not None:
        try:
            drop_store(settings, generation)
        except StoreError as e:  # an unreachable server must not hide why we discard
            log.warning("could not drop %s's collection: %s", generation.name, e)
    shutil.rmtree(generation, ignore_errors=True)


def prune_generations(data_dir: Path, settings: Settings | None = None) -> list[Path]:
    """Delete every generation but the live one and the one before it.

    The one before stays for servers still reading it until their next question.
    """
    live = current_generation(data_dir)
    gens = sorted((data_dir / GENERATIONS).glob("gen-*"))
    older = [g for g in gens if live is not None and g.name < live.name]
    keep = {live, older[-1] if older else None}
    doomed = [g for g in gens if g not in keep]
    for g in doomed:
        discard(g, settings)
    return doomed


class LiveIndex:
    """The read side of the index: dense and lexical search on the live generation.

    Follows CURRENT, reopening when it changes, so a rebuild or an ingest in another
    process goes live without a restart.

    Args:
        settings: chooses the store backend and the data dir.
        embedder: the store is bound to its name and dimension.
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._seen = ""
        self._store: ChromaStore | None = None
        self._manifest: Manifest | None = None
        self._lock = threading.Lock()

    def _current(self) -> tuple[ChromaStore, Manifest] | None:
        text = read_current(self.settings.data_dir)
        if text != self._seen:
            with self._lock:
                if text != self._seen:
                    self._close()
                    gen = current_generation(self.settings.data_dir)
                    if gen is not None:
                        self._store = make_store(self.settings, self.embedder, gen)
                        self._manifest = Manifest.of(gen)
                    self._seen = text
        if self._store is None or self._manifest is None:
            return None
        return self._store, self._manifest

    def close(self) -> None:
        """Release the live generation's store and manifest; the next question reopens them."""
        with self._lock:
            self._close()
            self._seen = ""

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
        if self._manifest is not None:
            self._manifest.close()
        self._store = self._manifest = None

    def query(self, vector: Sequence[float], k: int) -> list[ScoredChunk]:
        live = self._current()
        return live[0].query(vector, k) if live else []

    def nearest(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        live = self._current()
        return live[0].nearest(vector, k) if live else []

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        # Read from the BM25 index, which stores every chunk whole and answers a lookup
        # by id faster than Chroma's `get`. A chunk enters it before
        # Chroma and leaves it after (rag.store.manifest), so every chunk Chroma returns is there.
        live = self._current()
        return live[1].chunks_by_id(ids) if live else {}

    def lexical(self, words: Sequence[str], k: int) -> list[tuple[Chunk, float]]:
        live = self._current()
        return live[1].search(words, k) if live else []  # Tantivy searches are thread-safe

    def vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        live = self._current()
        return live[0].vectors(ids) if live else {}

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        live = self._current()
        return live[0].sentence_vectors(ids) if live else {}

    def count(self) -> int:
        live = self._current()
        return live[0].count() if live else 0
