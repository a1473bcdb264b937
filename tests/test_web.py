"""The web app, served by `mentorkb serve`, answers through Gradio's own client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import add_user, post_login, serve


@pytest.fixture(scope="module")
def server(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(corpus_data_dir, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


def test_served_app_answers_with_citations(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("How can I make our remote mentoring calls work better?", api_name="/ask")
    assert result["route"] == "answer"
    assert result["citations"] and "[1]" in result["answer"]
    assert {c["source"] for c in result["citations"]} <= {r["source"] for r in result["retrieved"]}
    handoff = client.predict("I keep thinking everyone would be better off without me", api_name="/ask")
    assert handoff["route"] == "handoff" and "988" in handoff["answer"] and not handoff["citations"]


def test_chat_handler_keeps_turns_answers_and_escapes_the_user(assistant) -> None:
    from ui.app import chat_responder

    respond = chat_responder(assistant)
    *_, (chat, box, turns, answers, sources, panel, shown, said, urgent) = respond(
        "How do I write a mentoring agreement? <script>x</script>", [], [], {})
    assert box == "" and chat[0]["content"].count("&lt;script&gt;") == 1
    # Screen readers hear the answer once, without its sources list but with their count.
    count = len(answers[1].citations)
    assert urgent == "" and f"{count} source" in said and "<strong>[1]</strong>" in said
    assert "mkb-sources" not in said
    assert "<strong>[1]</strong>" in chat[1]["content"] and "Sources" in chat[1]["content"]
    assert shown == 1 and answers[1].citations
    assert [n for _, n in sources["choices"]] == [c.n for c in answers[1].citations]
    *_, (chat, _, turns, answers, *_) = respond("what about the review date?", chat, turns, answers)
    assert len(chat) == 4 and [role for role, _ in turns] == ["user", "assistant"] * 2
    assert sorted(answers) == [1, 3]
    assert "mentoring-agreement.txt" in chat[3]["content"]  # the follow-up stayed on topic


def test_mentee_login_puts_the_chat_behind_the_form_and_sign_in_is_rate_limited(corpus_data_dir: Path,
                                                                               tmp_path: Path) -> None:
    import httpx

    data = tmp_path / "data"
    shutil.copytree(corpus_data_dir, data)
    add_user(data, "ana", "mentor", "a-long-password")
    with serve(data, tmp_path / "serve.log", MENTORKB_MENTEE_LOGIN="1", MENTORKB_LOGIN_ATTEMPTS="3") as url:
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as http:
            page = http.get("/")
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
            assert http.get("/config").status_code == 401
            assert http.post("/gradio_api/call/ask", json={"data": ["hi"]}).status_code == 401
            assert http.get("/login").status_code == 200
            signed = post_login(http, "ana", "a-long-password", next="/")
            assert signed.status_code == 303 and signed.headers["location"] == "/"
            assert http.get("/config").status_code == 200
            # 3 attempts per name and per address in 15 minutes: the sign-in above was the first.
            guesses = [post_login(http, "ana", f"guess-{i}") for i in range(3)]
            assert [g.status_code for g in guesses] == [401, 401, 429]
            assert "Too many sign-in attempts" in guesses[2].text and int(guesses[2].headers["Retry-After"]) > 0
            spray = post_login(http, "bob", "a-long-password")
            assert spray.status_code == 429  # the same address, another account: still limited


def test_chat_streams_drafts_from_a_generative_backend(corpus_data_dir: Path, embedder) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from mentorkb.app import build
    from rag.answering.generative import GenerativeAnswerer
    from rag.core.settings import load_settings
    from ui.app import chat_responder

    reply = "Keep the first five minutes of every call unstructured [1]."
    model = GenericFakeChatModel(messages=iter([AIMessage(reply)]))
    answerer = GenerativeAnswerer(model, embedder, min_support=0.45, min_relevance=0.32)
    assistant = build(load_settings(data_dir=corpus_data_dir), embedder=embedder, answerer=answerer).assistant
    updates = list(chat_responder(assistant)("How can I make our remote mentoring calls work better?", [], [], {}))
    drafts = [u[0][-1]["content"] for u in updates[:-1]]
    assert len(set(drafts)) > 1 and drafts[-1].startswith("<p>Keep the first five minutes")  # the reply, growing
    chat, _, _, answers, sources, *_ = updates[-1]
    assert chat[-1]["content"].startswith(
        "<p>Keep the first five minutes of every call unstructured. <strong>[1]</strong>")
    assert answers[1].final and sources["choices"][0][0].startswith("[1] Remote and Hybrid Mentoring")
