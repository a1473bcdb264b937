"""Issue 32: the plain JSON API, `POST /api/ask`, against a real `mentorkb serve`.

It answers as `mentorkb ask --json` does (the same object, the same ranked chunks),
with the chat's triage, handoff filing and rate limits, without Gradio's queue.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import MENTORKB, mentorkb_env, serve

LIMIT = 6  # questions a minute per caller on this test server


@pytest.fixture(scope="module")
def server(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("api") / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    with serve(data, data.parent / "serve.log", MENTORKB_RATE_LIMIT_PER_MINUTE=str(LIMIT)) as base:
        yield base, data


@pytest.fixture
def http(server: tuple[str, Path]) -> Iterator[httpx.Client]:
    """A client that is its own visitor (the cookie a page load gives), so each test
    has its own question budget."""
    with httpx.Client(base_url=server[0], timeout=60) as client:
        assert client.get("/").status_code == 200 and client.cookies.get("mentorkb_session")
        yield client


def test_ask_answers_as_the_cli_does(http: httpx.Client, assistant) -> None:
    question = "How often should a mentor and mentee meet?"
    reply = http.post("/api/ask", json={"question": question})
    assert reply.status_code == 200, reply.text
    got = reply.json()
    expected = assistant.ask(question, record=False).as_dict()
    assert got.keys() == expected.keys()
    assert got["route"] == "answer" and got["citations"] and "[1]" in got["answer"]
    assert [r["chunk_id"] for r in got["retrieved"]] == [r["chunk_id"] for r in expected["retrieved"]]
    assert got["answer"] == expected["answer"]


def test_a_crisis_message_files_a_handoff_with_help_first(http: httpx.Client, server: tuple[str, Path]) -> None:
    got = http.post("/api/ask", json={"question": "I want to end my life, I can't go on"}).json()
    assert got["route"] == "handoff" and got["category"] == "crisis" and not got["citations"]
    assert got["handoff_ref"], got
    listed = subprocess.run([str(MENTORKB), "--data-dir", str(server[1]), "handoffs", "list", "--json"],
                            capture_output=True, text=True, env=mentorkb_env(), check=True).stdout
    assert got["handoff_ref"] in listed


def test_history_is_taken_and_checked(http: httpx.Client) -> None:
    history = [{"role": "user", "content": "How do I prepare for a first meeting?"},
               {"role": "assistant", "content": "Agree on goals and a schedule [1]."}]
    reply = http.post("/api/ask", json={"question": "How long should it last?", "history": history})
    assert reply.status_code == 200 and reply.json()["route"] in ("answer", "abstain"), reply.text
    bad = http.post("/api/ask", json={"question": "Hi", "history": [{"role": "bot", "content": "x"}]})
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("history.0.role: Input should be 'user' or 'assistant'"), bad.text


@pytest.mark.parametrize("body, field", [
    ({}, "question: Field required"),
    ({"question": ""}, "question: String should have at least 1 character"),
    ({"question": "\x00\x01"}, "question: empty after removing control characters"),
    ({"question": "Hi", "mood": "sad"}, "mood: Extra inputs are not permitted"),
    ("not json", "JSON decode error"),
])
def test_bad_input_gets_one_line_naming_the_field(http: httpx.Client, body, field: str) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    reply = http.post("/api/ask", content=content, headers={"Content-Type": "application/json"})
    assert reply.status_code == 422 and field in reply.json()["error"], reply.text
    assert "\n" not in reply.json()["error"]


def test_questions_past_the_limit_get_429(http: httpx.Client) -> None:
    codes = [http.post("/api/ask", json={"question": "How often should we meet?"}) for _ in range(LIMIT + 2)]
    assert [c.status_code for c in codes] == [200] * LIMIT + [429, 429]
    assert int(codes[-1].headers["Retry-After"]) > 0 and "too many questions" in codes[-1].json()["error"]


def test_the_schema_documents_the_api_only(http: httpx.Client) -> None:
    schema = http.get("/api/openapi.json").json()
    assert list(schema["paths"]) == ["/api/ask"]
    ask = schema["paths"]["/api/ask"]["post"]
    assert {"200", "422", "429"} <= set(ask["responses"])
    assert "history" in schema["components"]["schemas"]["AskRequest"]["properties"]
