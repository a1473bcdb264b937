"""Chroma on disk opened from several threads at once, as the web server does."""

from __future__ import annotations

import threading
from pathlib import Path

from rag.backends.chroma import ChromaStore


def test_threads_opening_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """chromadb publishes a path's shared System before starting it; without our lock a
    second thread in that window failed with "Could not connect to tenant default_tenant"
    (about half the opens in this test)."""
    errors: list[str] = []

    def open_count_close(path: Path) -> None:
        try:
            store = ChromaStore.persistent(path, "mentorkb", "minilm", 384)
            store.count()
            store.close()
        except Exception as e:  # noqa: BLE001 - every failure is reported below
            errors.append(repr(e))

    for round_ in range(15):
        path = tmp_path / f"round-{round_}" / "chroma"
        threads = [threading.Thread(target=open_count_close, args=(path,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
