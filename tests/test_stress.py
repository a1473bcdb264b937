"""`make stress`: kill -9 of ingest and of a full rebuild at many points, then check
that the index and the manifest agree with the files. Not part of `make test`."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.store import index
from rag.store.manifest import Manifest
from tests.test_ingest import lexical_hashes, settings, state, write_docs  # noqa: F401 - fixture

pytestmark = [pytest.mark.stress, pytest.mark.timeout(3600)]
RUNS = int(os.environ.get("MENTORKB_STRESS_RUNS", "20"))
EXE = Path(sys.executable).with_name("mentorkb")


def run_and_kill(args: list[str], env: dict, after_lines: int | None, after_s: float | None) -> int:
    proc = subprocess.Popen([str(EXE), *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)
    start, done = time.monotonic(), 0
    for line in proc.stderr:
        done += line.startswith("[")
        if (after_lines is not None and done >= after_lines) or (
                after_s is not None and time.monotonic() - start >= after_s):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    proc.stderr.close()
    return proc.returncode


def test_kill_9_at_random_points_never_loses_or_half_serves(tmp_path: Path, settings, embedder) -> None:
    rng = random.Random(20261123)
    docs = tmp_path / "docs"
    names = write_docs(docs, 60)
    data = str(settings.data_dir)
    env = {**os.environ, "MENTORKB_EMBED_BATCH": "8", "HF_HUB_OFFLINE": "1"}
    killed = 0
    for run in range(RUNS):
        if run % 4 == 3 and index.current_generation(settings.data_dir):
            code = run_and_kill(["--data-dir", data, "reindex", "--full"], env, None, rng.uniform(3, 12))
        else:
            (docs / names[rng.randrange(len(names))]).write_text(f"# Changed {run}\n\nNew text for run {run}.\n")
            code = run_and_kill(["--data-dir", data, "ingest", str(docs)], env, rng.randint(1, 60), None)
        killed += code == -signal.SIGKILL
        by_source, stored, _ = state(settings, embedder)
        assert set(by_source) <= set(names)
        assert set(by_source.values()) <= stored, f"run {run}: a committed document lost its chunks"
        assert set(by_source.values()) <= lexical_hashes(settings), f"run {run}: ... its BM25 chunks"
    print(f"\nkill -9 runs: {RUNS}, killed mid-work: {killed}")
    assert killed >= RUNS * 3 // 4
    finish = subprocess.run([str(EXE), "--data-dir", data, "ingest", str(docs)], capture_output=True, text=True,
                            env=env, timeout=600)
    assert finish.returncode == 0, finish.stderr
    by_source, stored, count = state(settings, embedder)
    assert sorted(by_source) == names and stored == set(by_source.values()) == lexical_hashes(settings)
    live = index.current_generation(settings.data_dir)
    assert count == sum(r.chunks for r in Manifest.of(live).all())
    assert len(list((settings.data_dir / "generations").iterdir())) <= 3  # abandoned rebuilds are cleaned up
