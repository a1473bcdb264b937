"""The web app, served by `mentorkb serve`, answers through Gradio's own client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise AssertionError(f"server did not listen on {port} within {timeout}s")


@pytest.fixture(scope="module")
def server(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    exe = Path(sys.executable).with_name("mentorkb")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "--data-dir", str(corpus_data_dir), "serve", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_app_answers_with_citations(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("How can I make our remote mentoring calls work better?", api_name="/ask")
    assert result["route"] == "answer"
    assert result["citations"] and "[1]" in result["answer"]
    assert {c["source"] for c in result["citations"]} <= {r["source"] for r in result["retrieved"]}
    handoff = client.predict("I keep thinking everyone would be better off without me", api_name="/ask")
    assert handoff["route"] == "handoff" and "988" in handoff["answer"] and not handoff["citations"]


def test_chat_handler_keeps_turns_and_escapes_the_user(assistant) -> None:
    from ui.app import chat_responder

    respond = chat_responder(assistant)
    *_, (chat, box, turns) = respond("How do I write a mentoring agreement? <script>x</script>", [], [])
    assert box == "" and chat[0]["content"].count("&lt;script&gt;") == 1
    assert "**[1]**" in chat[1]["content"] and "Sources" in chat[1]["content"]
    *_, (chat, _, turns) = respond("what about the review date?", chat, turns)
    assert len(chat) == 4 and [role for role, _ in turns] == ["user", "assistant"] * 2
    assert "mentoring-agreement.txt" in chat[3]["content"]  # the follow-up stayed on topic
