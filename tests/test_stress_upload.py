"""`make stress`: kill -9 of `mentorkb serve` while a mentor's upload is being checked
and indexed, at random points, driven through the real web page in Chromium.

After every kill the committed documents keep their chunks; after the restart (which
runs `Workspace.recover`) the index, the manifest and the upload folder agree.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from ingest.indexer import Indexer
from rag.core.settings import load_settings
from rag.store import index
from rag.store.manifest import Manifest
from tests.conftest import CORPUS
from tests.serving import MENTORKB, add_user, free_port, mentorkb_env, wait_for_port
from tests.test_browser import ARGS, CHROMIUM, sign_in
from tests.test_ingest import state

pytestmark = [pytest.mark.stress, pytest.mark.browser, pytest.mark.timeout(3600)]
RUNS = int(__import__("os").environ.get("MENTORKB_STRESS_RUNS", "20"))
FILES_PER_UPLOAD = 4


def start(data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("a") as out:
        proc = subprocess.Popen([str(MENTORKB), "--data-dir", str(data), "serve", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=mentorkb_env())
    wait_for_port(port, proc, log)
    return proc, f"http://127.0.0.1:{port}"


def long_doc(run: int, i: int) -> str:
    paras = "\n\n".join(f"Step {k} of the run {run} file {i} routine: write down one thing you learned, "
                        f"one question for your mentor and one small experiment for next week." for k in range(60))
    return f"# Upload {run}-{i}\n\n## Practice\n\n{paras}\n"


def agree(settings, embedder) -> None:
    """Every upload file is indexed with all its chunks, and every indexed upload has its file."""
    by_source, stored, count = state(settings, embedder)
    files = {f"uploads/ana/{p.name}" for p in (settings.data_dir / "uploads" / "ana").glob("*.md")}
    uploaded = {s for s in by_source if s.startswith("uploads/")}
    assert uploaded == files, (sorted(uploaded ^ files))
    assert set(by_source.values()) == stored
    live = index.current_generation(settings.data_dir)
    assert count == sum(r.chunks for r in Manifest.of(live).all())


def test_kill_9_of_serve_during_web_uploads(tmp_path: Path, embedder) -> None:
    from playwright.sync_api import sync_playwright

    rng = random.Random(4242)
    data = tmp_path / "data"
    settings = load_settings(data_dir=data)
    assert not Indexer(settings, embedder).sync([CORPUS / "guides"]).failed
    add_user(data, "ana", "mentor", "ana-password-123")
    log = tmp_path / "serve.log"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    killed = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for run in range(RUNS):
            proc, base = start(data, log)
            context = browser.new_context()
            context.set_default_timeout(120_000)
            page = context.new_page()
            sign_in(page, base, "ana", "ana-password-123")
            files = []
            for i in range(FILES_PER_UPLOAD):
                path = incoming / f"run{run:02d}-{i}.md"
                path.write_text(long_doc(run, i), encoding="utf-8")
                files.append(str(path))
            page.locator("#upload-files input[type=file]").set_input_files(files)
            page.locator("#upload").click()
            time.sleep(rng.uniform(0.5, 8.0))
            killed += proc.poll() is None
            proc.kill()  # SIGKILL
            proc.wait()
            context.close()
            by_source, stored, _ = state(settings, embedder)
            assert set(by_source.values()) <= stored, f"run {run}: a committed document lost its chunks"
        browser.close()
    proc, _ = start(data, log)  # the restart recovers interrupted uploads
    proc.terminate()
    proc.wait(timeout=60)
    print(f"\nserve kill -9 runs: {RUNS}, killed while running: {killed}; "
          f"uploads indexed in the end: {len(list((data / 'uploads' / 'ana').glob('*.md')))}")
    assert killed == RUNS
    agree(settings, embedder)
