"""Bounded work per request and per session: floods, huge messages, control characters."""

from __future__ import annotations

from pathlib import Path

from mentorkb.app import build
from rag.core.settings import load_settings
from rag.people.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another session is not affected
    assert limiter.retry_after("a") == 60
    clock.now = 59.9
    assert not limiter.allow("a")
    clock.now = 60.0
    assert limiter.allow("a") and limiter.retry_after("b") == 0


def test_key_memory_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 10, clock=clock, max_keys=100)
    for i in range(1000):
        clock.now = i
        limiter.allow(f"client-{i}")
    assert len(limiter._events) <= 100


def test_a_flooding_session_is_slowed_but_never_denied_crisis_help(corpus_data_dir: Path, embedder) -> None:
    assistant = build(load_settings(data_dir=corpus_data_dir, rate_limit_per_minute=3), embedder=embedder).assistant
    routes = [assistant.ask("How often should we meet?", session="flood").route for _ in range(5)]
    assert routes == ["answer"] * 3 + ["refuse"] * 2
    limited = assistant.ask("How often should we meet?", session="flood")
    assert limited.category == "rate_limited" and "wait about" in limited.text and not limited.retrieved
    crisis = assistant.ask("I want to end my life", session="flood")
    assert crisis.route == "handoff" and "988" in crisis.text
    assert assistant.ask("How often should we meet?", session="someone-else").route == "answer"
    assert assistant.ask("How often should we meet?").route == "answer"  # the CLI has no session


def test_huge_and_control_character_messages_are_bounded(assistant) -> None:
    flood = "How often should a mentor and mentee meet?\x00\x1b[31m\u202e " + "blah " * 20_000
    answer = assistant.ask(flood, [("user", "x" * 100_000)] * 50)
    assert len(answer.question) <= assistant.settings.max_question_chars
    assert answer.question.isprintable() and "\x1b" not in answer.question
    assert answer.route in ("answer", "abstain")


def test_a_requested_handoff_escalates_when_a_crisis_follows(assistant) -> None:
    requested = assistant.request_human([("user", "can I talk to someone?")], session="s-escalate")
    crisis = assistant.ask("honestly everyone would be better off without me", session="s-escalate")
    assert crisis.handoff_ref == requested.ref
    record = assistant.handoffs.get(requested.ref)
    assert record.category == "crisis" and record.summary.startswith("Crisis")
    assert record.transcript[-1] == ("user", "honestly everyone would be better off without me")
