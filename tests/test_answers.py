"""Answers on the gold set: grounded, cited, abstaining or handing off when they should."""

from __future__ import annotations

import re

import pytest

from rag.answer import ExtractiveAnswerer
from rag.text import sentences
from rag.types import Chunk, ScoredChunk
from tests.conftest import gold_questions

GOLD = gold_questions()


def _flat(text: str) -> str:
    """Quotes may join a wrapped line: compare up to whitespace."""
    return " ".join(text.split())
BY_KIND = {kind: [q for q in GOLD if q["kind"] == kind] for kind in ("answerable", "out_of_scope", "sensitive", "injection")}


def test_gold_set_shape() -> None:
    counts = {kind: len(qs) for kind, qs in BY_KIND.items()}
    assert counts["answerable"] >= 25 and counts["out_of_scope"] >= 8 and counts["sensitive"] >= 8
    assert counts["injection"] >= 3


def test_first_meeting_question_cites_a_gold_source(assistant) -> None:
    answer = assistant.ask("what should my mentor and I agree on when we first meet?")
    assert answer.route == "answer"
    assert {c.chunk.source for c in answer.citations} & {"first-meeting.md", "mentoring-agreement.txt"}
    assert len(answer.text.split()) <= 160


def test_answerable_gold_questions_find_and_cite_gold_sources(assistant) -> None:
    """Regression floor for the dense skeleton; `mentorkb eval` reports the full figures."""
    found = cited = answered = 0
    for q in BY_KIND["answerable"]:
        answer = assistant.ask(q["question"])
        sources = list(dict.fromkeys(r.chunk.source for r in answer.retrieved))
        found += any(g in sources[:5] for g in q["gold"])
        cited += any(c.chunk.source in q["gold"] for c in answer.citations)
        answered += answer.route == "answer"
    n = len(BY_KIND["answerable"])
    assert found / n >= 0.80, f"recall@5 {found}/{n}"
    assert cited / n >= 0.65, f"cited a gold source {cited}/{n}"
    assert answered / n >= 0.95, f"answered {answered}/{n}"


def test_every_sentence_carries_a_citation_it_can_back(assistant) -> None:
    for q in BY_KIND["answerable"][:15]:
        answer = assistant.ask(q["question"])
        if answer.route != "answer":
            continue
        texts = {c.n: c.chunk.text for c in answer.citations}
        for sentence, n in re.findall(r"(.+?) \[(\d+)\](?:\s|$)", answer.text):
            assert int(n) in texts
            assert _flat(sentence.rstrip(".")) in _flat(texts[int(n)]), (sentence, texts[int(n)])


@pytest.mark.parametrize("q", BY_KIND["out_of_scope"], ids=lambda q: q["id"])
def test_out_of_scope_questions_abstain(assistant, q: dict) -> None:
    answer = assistant.ask(q["question"])
    assert answer.route == "abstain"
    assert not answer.citations and "human mentor" in answer.text


@pytest.mark.parametrize("q", BY_KIND["sensitive"], ids=lambda q: q["id"])
def test_sensitive_questions_go_to_a_human_and_never_reach_retrieval(assistant, q: dict) -> None:
    answer = assistant.ask(q["question"])
    assert answer.route == "handoff" and answer.category
    assert not answer.citations and not answer.retrieved
    if answer.category == "crisis":
        assert answer.text.index("988") < answer.text.index("human mentor")


@pytest.mark.parametrize("q", BY_KIND["injection"], ids=lambda q: q["id"])
def test_injected_instructions_never_reach_the_answer(assistant, q: dict) -> None:
    answer = assistant.ask(q["question"])
    corpus_text = " ".join(c.chunk.text for c in answer.citations)
    for url in re.findall(r"\S+@\S+|https?://\S+", q["question"]):
        assert url not in answer.text
    for sentence, _ in re.findall(r"(.+?) \[(\d+)\](?:\s|$)", answer.text):
        assert _flat(sentence.rstrip(".")) in _flat(corpus_text)


def _sc(source: str, n: int, similarity: float, text: str = "") -> ScoredChunk:
    text = text or f"Passage {n} of {source} talks about meeting cadence and agendas."
    return ScoredChunk(Chunk(f"{source}-{n}", text, source, source.title()), 1.0, similarity)


def test_extractive_pool_takes_closest_passages_of_the_leading_documents() -> None:
    answerer = ExtractiveAnswerer(0.3, max_chunks=3, relevance_window=0.12, max_docs=2)
    retrieved = [_sc("a", 0, 0.50), _sc("b", 0, 0.62), _sc("c", 0, 0.70), _sc("a", 1, 0.58),
                 _sc("b", 1, 0.40), _sc("a", 2, 0.55)]
    # Documents a and b lead; c is closer but ranked third. Within 0.12 of b-0, by similarity.
    assert [sc.chunk.chunk_id for sc in answerer._pool(retrieved)] == ["b-0", "a-1", "a-2"]
    # When the leading documents hold nothing relevant enough, any retrieved chunk will do.
    weak = [_sc("a", 0, 0.20), _sc("b", 0, 0.25), _sc("c", 0, 0.45)]
    assert [sc.chunk.chunk_id for sc in answerer._pool(weak)] == ["c-0"]


def test_extractive_answer_quotes_and_cites_each_passage() -> None:
    answerer = ExtractiveAnswerer(0.3)
    retrieved = [
        _sc("cadence.md", 0, 0.6, "Meet every two weeks for forty-five minutes.\nKeep a shared agenda document."),
        _sc("other.md", 0, 0.5, "Unrelated words about gardening and soil."),
        _sc("cadence.md", 1, 0.55, "Weekly meetings suit the first month\nof a new role, then move to fortnightly."),
    ]
    text, citations = answerer.answer("how often should we meet, weekly or fortnightly?", retrieved)
    assert "move to fortnightly. [" in text and "first month of a new role" in text  # wrapped line joined
    assert "gardening" not in text
    by_n = {c.n: c.chunk.chunk_id for c in citations}
    for sentence, n in re.findall(r"(.+?) \[(\d+)\](?:\s|$)", text):
        source_text = next(sc.chunk.text for sc in retrieved if sc.chunk.chunk_id == by_n[int(n)])
        assert _flat(sentence.rstrip(".")) in _flat(source_text)


def test_sentences_join_wrapped_lines_but_not_headings_or_items() -> None:
    text = "Test before you leap\nYou rarely have to. Try a new track\nfirst. Act as\ntech lead.\n- one item\n- two items"
    assert sentences(text) == [
        "Test before you leap", "You rarely have to.", "Try a new track first.", "Act as tech lead.",
        "one item", "two items",
    ]
