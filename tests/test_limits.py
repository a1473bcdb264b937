"""Bounded work per request and per session: floods, huge messages, control characters."""

from __future__ import annotations

import time
from pathlib import Path

from mentorkb.app import build
from rag.core.settings import load_settings
from rag.people.limits import Budget, Caller, RateLimiter


def test_moving_window_per_key() -> None:
    limiter = RateLimiter("t", 3, 1)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another key is not affected
    assert 0 < limiter.retry_after("a") <= 1 and limiter.retry_after("b") == 0
    time.sleep(1.05)  # the window moves on
    assert limiter.allow("a")


def test_a_budget_counts_the_caller_and_its_address() -> None:
    budget = Budget("t", per_caller=2, window_s=60, per_address=3)
    alice, bob = Caller.of(None, "alice", "10.0.0.1"), Caller.of("bob", None, "10.0.0.1")
    assert [budget.take(alice) for _ in range(3)][:2] == [0, 0] and budget.take(alice) >= 1
    assert budget.take(bob) == 0 and budget.take(bob) >= 1  # the address's fourth, whoever asks
    assert budget.take(Caller.of(None, "carol", "10.0.0.2")) == 0
    assert Caller.of(None, None, "10.0.0.9").key == "address:10.0.0.9" and bob.key == "user:bob"


def test_a_flooding_session_is_slowed_but_never_denied_crisis_help(corpus_data_dir: Path, embedder) -> None:
    assistant = build(load_settings(data_dir=corpus_data_dir, rate_limit_per_minute=3), embedder=embedder).assistant
    flood = Caller.of(None, "flood", "10.0.0.1")
    # A new chat session id every time (the client picks it) does not reset the count.
    routes = [assistant.ask("How often should we meet?", session=f"s{n}", caller=flood).route for n in range(5)]
    assert routes == ["answer"] * 3 + ["refuse"] * 2
    limited = assistant.ask("How often should we meet?", caller=flood)
    assert limited.category == "rate_limited" and "wait about" in limited.text and not limited.retrieved
    crisis = assistant.ask("I want to end my life", caller=flood)
    assert crisis.route == "handoff" and "988" in crisis.text
    assert assistant.ask("How often should we meet?", caller=Caller.of(None, "other", "10.0.0.2")).route == "answer"
    assert assistant.ask("How often should we meet?").route == "answer"  # the CLI has no caller


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
