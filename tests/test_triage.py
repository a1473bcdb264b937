"""Safety triage: sensitive messages route to a human; everyday phrasing does not."""

from __future__ import annotations

import pytest

from rag.triage import CRISIS_RESOURCES, handoff_text, triage


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("I've been thinking about killing myself", "crisis"),
        ("Honestly everyone would be better off without me", "crisis"),
        ("I'm giving my stuff away, I won't need it soon", "crisis"),
        ("sometimes I hurt myself when work gets too much", "crisis"),
        ("My manager keeps making sexual comments about me", "abuse_harassment"),
        ("a colleague keeps sending me unwanted messages at night", "abuse_harassment"),
        ("my partner hits me and I'm afraid to go home", "abuse_harassment"),
        ("I get panic attacks before every standup", "medical"),
        ("I've barely been eating and count every calorie", "medical"),
        ("my landlord is suing me, do I need a lawyer?", "legal"),
        ("I think I was passed over because I'm pregnant, is that discrimination?", "hr_confidential"),
    ],
)
def test_sensitive_messages_are_caught(message: str, category: str) -> None:
    found = triage(message)
    assert found is not None and found.category == category


@pytest.mark.parametrize(
    "message",
    [
        "this deadline is killing me",
        "how do I kill a hung process",
        "I want to quit my job, how do I tell my mentor?",
        "my mentor's feedback hurt a bit, how do I take it well?",
        "can you give feedback on my resume",
        "how often should we meet?",
        "when should I involve my manager or HR?",
    ],
)
def test_everyday_phrasing_is_not_escalated(message: str) -> None:
    assert triage(message) is None


def test_crisis_reply_leads_with_resources_and_gives_no_advice() -> None:
    text = handoff_text("crisis")
    assert text.startswith(CRISIS_RESOURCES)
    assert "988" in text and "emergency number" in text
    assert "?" not in text  # it asks nothing, methods least of all
