"""Scale-out: the index on a real Chroma server (`chroma run`), as several web workers use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.serving import free_port

pytestmark = pytest.mark.slow

QUESTION = "How can I make our remote mentoring calls work better?"
REMOTE = "guides/remote-mentoring.html"


def wait_for_heartbeat(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chroma exited with {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"chroma did not answer at {url} within {timeout}s")


@contextmanager
def chroma_server(path: Path, port: int) -> Iterator[str]:
    """`chroma run` from the installed chromadb on 127.0.0.1:port, stopped on exit."""
    exe = Path(sys.executable).with_name("chroma")
    url = f"http://127.0.0.1:{port}"
    log = path.parent / f"chroma-{port}.log"
    with log.open("a") as out:
        proc = subprocess.Popen(
            [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    try:
        wait_for_heartbeat(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server from the installed chromadb, on a free local port."""
    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "db", free_port()) as url:
        yield url


def server_collections(url: str) -> set[str]:
    from rag.backends.chroma import close_client, http_client

    client = http_client(url)
    try:
        return {c.name for c in client.list_collections()}
    finally:
        close_client(client)


def test_ingest_ask_remove_against_a_chroma_server(chroma_url: str, tmp_path: Path, embedder) -> None:
    from ingest.indexer import Indexer
    from mentorkb.app import build
    from rag.core.settings import load_settings

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="t1")
    indexer = Indexer(settings, embedder)
    report = indexer.sync([corpus])
    assert not report.failed and report.chunks_written > 100
    # The vectors live on the server, not in the generation's folder.
    assert server_collections(chroma_url) >= {"t1-gen-0001"}
    assert not (tmp_path / "data" / "generations" / "gen-0001" / "chroma").exists()

    assistant = build(settings, embedder=embedder).assistant
    answer = assistant.ask(QUESTION)
    assert answer.route == "answer" and answer.citations[0].chunk.source == REMOTE

    # A second web worker: another process, with the same settings, answers identically.
    env = {**os.environ, "MENTORKB_CHROMA_URL": chroma_url, "MENTORKB_COLLECTION": "t1"}
    exe = Path(sys.executable).with_name("mentorkb")
    out = subprocess.run(
        [str(exe), "--data-dir", str(tmp_path / "data"), "ask", "--json", QUESTION],
        capture_output=True, text=True, env=env, timeout=240, check=True,
    ).stdout
    other = json.loads(out)
    assert other["answer"] == answer.text
    assert [r["chunk_id"] for r in other["retrieved"]] == [sc.chunk.chunk_id for sc in answer.retrieved]

    assert indexer.remove([REMOTE]) == [REMOTE]
    after = assistant.ask(QUESTION)
    assert REMOTE not in {sc.chunk.source for sc in after.retrieved}
    assert all(c.chunk.source != REMOTE for c in after.citations)
    assistant.store.close()


def test_rebuild_on_a_server_makes_a_new_collection_and_drops_old_ones(
    chroma_url: str, tmp_path: Path, corpus_copy: Path, embedder
) -> None:
    from ingest.indexer import Indexer
    from mentorkb.app import build
    from rag.core.settings import load_settings

    guides = corpus_copy / "guides"
    settings = load_settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="t2")
    indexer = Indexer(settings, embedder)
    indexer.sync([guides])
    assistant = build(settings, embedder=embedder).assistant
    assert assistant.ask(QUESTION).citations[0].chunk.source == "remote-mentoring.html"
    (guides / "remote-mentoring.html").unlink()
    assert indexer.rebuild().removed == ["remote-mentoring.html"]
    assert not indexer.rebuild().failed
    # Live gen-0003 and the one before it stay; gen-0001's collections (chunks and sentences) are gone.
    assert {c for c in server_collections(chroma_url) if c.startswith("t2-")} == {
        "t2-gen-0002", "t2-gen-0002-sentences", "t2-gen-0003", "t2-gen-0003-sentences"}
    # The assistant follows CURRENT to the new collection, which lacks the deleted file.
    assert "remote-mentoring.html" not in {sc.chunk.source for sc in assistant.ask(QUESTION).retrieved}
    circles = assistant.ask("How do peer mentoring circles work?")
    assert circles.citations[0].chunk.source == "peer-mentoring-circles.md"
    assistant.store.close()


def test_an_unreachable_server_is_a_store_error(tmp_path: Path, embedder) -> None:
    from rag.backends import make_store
    from rag.core.errors import StoreError
    from rag.core.settings import load_settings

    settings = load_settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="Chroma server"):
        make_store(settings, embedder, tmp_path / "gen-0001")


def test_a_malformed_chroma_url_names_the_setting(tmp_path: Path, embedder) -> None:
    from rag.backends import make_store
    from rag.core.errors import ConfigError
    from rag.core.settings import load_settings

    settings = load_settings(data_dir=tmp_path, chroma_url="localhost:8000")
    with pytest.raises(ConfigError, match="MENTORKB_CHROMA_URL"):
        make_store(settings, embedder, tmp_path / "gen-0001")


def test_a_chroma_outage_offers_a_human_and_recovers_by_itself(tmp_path: Path, embedder) -> None:
    from ingest.indexer import Indexer
    from mentorkb.app import build
    from rag.core.settings import load_settings

    db, port = tmp_path / "db", free_port()
    settings = load_settings(data_dir=tmp_path / "data", chroma_url=f"http://127.0.0.1:{port}", collection="t3")
    with chroma_server(db, port):
        assert not Indexer(settings, embedder).sync([CORPUS / "guides"]).failed
        assistant = build(settings, embedder=embedder).assistant
        assert assistant.ask(QUESTION).route == "answer"
    down = assistant.ask(QUESTION)  # the server is gone
    assert down.route == "abstain" and down.category == "unavailable"
    assert "temporarily unavailable" in down.text and "human mentor" in down.text
    assert assistant.ask("I want to end my life").route == "handoff"  # safety never needs the store
    with chroma_server(db, port):
        back = assistant.ask(QUESTION)  # the same assistant, no restart
        assert back.route == "answer" and back.citations[0].chunk.source == "remote-mentoring.html"
    assistant.store.close()
