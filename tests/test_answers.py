"""Answers on the gold set: grounded, cited, abstaining or handing off when they should."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rag.answering.answerable import missing
from rag.answering.extractive import ExtractiveAnswerer
from rag.core.sentences import quotable, units
from rag.core.text import sentences
from rag.core.types import Chunk, ScoredChunk
from tests.conftest import gold_questions

GOLD = gold_questions()


def _flat(text: str) -> str:
    """Quotes may join a wrapped line: compare up to whitespace."""
    return " ".join(text.split())


# A sentence of an answer and its citation marks: "Text. [1]" or, where documents agree, "Text. [1][2]".
CITED = re.compile(r"(.+?) ((?:\[\d+\])+)(?:\s|$)")


def _assert_quoted(text: str, citations) -> None:
    """Every sentence is a verbatim quote (up to line breaks and its end mark) of each chunk it cites."""
    by_n = {c.n: c.chunk.text for c in citations}
    found = CITED.findall(text)
    assert found and " ".join(s + " " + m for s, m in found) == text
    for sentence, marks in found:
        for n in map(int, re.findall(r"\d+", marks)):
            assert _flat(sentence.rstrip(".!?")) in _flat(by_n[n]), (sentence, by_n[n])

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
        _assert_quoted(answer.text, answer.citations)


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
    for sentence, _ in CITED.findall(answer.text):
        assert _flat(sentence.rstrip(".")) in _flat(corpus_text)


def _sc(source: str, n: int, similarity: float, text: str = "") -> ScoredChunk:
    text = text or f"Passage {n} of {source} talks about meeting cadence and agendas."
    return ScoredChunk(Chunk(f"{source}-{n}", text, source, source.title()), 1.0, similarity)


def test_extractive_answer_quotes_and_cites_each_passage(embedder) -> None:
    answerer = ExtractiveAnswerer(0.3, embedder)
    retrieved = [
        _sc("cadence.md", 0, 0.6, "Meet every two weeks for forty-five minutes.\nKeep a shared agenda document."),
        _sc("other.md", 0, 0.5, "Unrelated words about gardening and soil."),
        _sc("cadence.md", 1, 0.55, "Weekly meetings suit the first month\nof a new role, then move to fortnightly."),
    ]
    text, citations = answerer.answer("how often should we meet, weekly or fortnightly?", retrieved)
    assert "move to fortnightly. [" in text and "first month of a new role" in text  # wrapped line joined
    assert "gardening" not in text
    _assert_quoted(text, citations)


def test_the_answer_comes_from_the_second_document_when_it_holds_it(embedder) -> None:
    """The first document is about the programme; the second says who may apply."""
    answerer = ExtractiveAnswerer(0.3, embedder)
    retrieved = [
        _sc("history.md", 0, 0.52, "The mentoring programme began in 2015 with twelve pairs.\n"
            "It grew to three hundred pairs across four offices by 2022."),
        _sc("eligibility.md", 0, 0.48, "## Who can apply\nTo apply as a mentee, you must have been with "
            "the company for at least six months. Your manager must approve the time you spend."),
        _sc("history.md", 1, 0.40, "Pairs met in the cafeteria in the early years."),
    ]
    text, citations = answerer.answer("Am I eligible to apply as a mentee?", retrieved)
    assert text.startswith("To apply as a mentee, you must have been with the company for at least six months.")
    assert citations[0].chunk.source == "eligibility.md"
    _assert_quoted(text, citations)


def test_a_sentence_leaning_on_the_one_before_brings_it(embedder) -> None:
    answerer = ExtractiveAnswerer(0.3, embedder)
    retrieved = [_sc("a.md", 0, 0.6, "Book a skip-level meeting every quarter. "
                     "They give you a direct line to your manager's manager.")]
    text, citations = answerer.answer("what do skip-level meetings give me?", retrieved)
    assert text.index("Book a skip-level meeting every quarter.") < text.index("They give you a direct line")
    _assert_quoted(text, citations)


def test_where_two_documents_say_the_same_in_the_same_words_both_are_cited_once(embedder) -> None:
    answerer = ExtractiveAnswerer(0.3, embedder)
    retrieved = [_sc("a.md", 0, 0.6, "Skip-level meetings give you a direct line to senior leaders."),
                 _sc("b.md", 0, 0.5, "Skip-level meetings give you a direct line to senior leaders!")]
    text, citations = answerer.answer("what do skip-level meetings give me?", retrieved)
    assert text.count("Skip-level meetings give you a direct line") == 1 and text.endswith(" [1][2]")
    assert sorted(c.chunk.source for c in citations) == ["a.md", "b.md"]
    _assert_quoted(text, citations)


def test_a_question_about_a_named_companys_pay_abstains_and_says_what_is_missing(assistant) -> None:
    answer = assistant.ask("What are the salary bands for a senior engineer at Stripe?")
    assert answer.route == "abstain" and not answer.citations
    assert "don't mention Stripe or salary" in answer.text and "human mentor" in answer.text


def test_specifics_the_passages_never_mention_make_a_question_unanswerable() -> None:
    retrieved = [_sc("pay.md", 0, 0.6, "Before a pay conversation, know your market rate.\nAsk for a range."),
                 _sc("visas.md", 0, 0.5, "Relocation can depend on your visa.")]
    assert missing("How do I prepare for a pay conversation?", retrieved) == []
    assert missing("What is the salary of a Staff Engineer at Netflix?", retrieved) == ["Staff", "Engineer", "Netflix", "salary"]
    assert missing("Do visas affect a move? I'm unsure.", retrieved) == []
    assert missing("Can I get a 15% raise, or $5,000?", retrieved) == ["15%", "$5,000"]
    assert missing("can I go back to being an IC later?", retrieved) == []  # the field's shorthand


def test_sentences_join_wrapped_lines_but_not_headings_or_items() -> None:
    text = "Test before you leap\nYou rarely have to. Try a new track\nfirst. Act as\ntech lead.\n- one item\n- two items"
    assert sentences(text) == [
        "Test before you leap", "You rarely have to.", "Try a new track first.", "Act as tech lead.",
        "one item", "two items",
    ]


class CountingEmbedder:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_answers_read_the_sentence_vectors_ingest_stored(assistant, embedder) -> None:
    question = "how do I give feedback to my mentee?"
    retrieved = assistant.retriever.search(question)
    counting = CountingEmbedder(embedder)
    text, _ = ExtractiveAnswerer(0.32, counting, index=assistant.store).answer(question, retrieved)
    assert text and counting.texts == 1  # the question; every sentence came from the index
    top = retrieved[0].chunk
    stored = assistant.store.sentence_vectors([top.chunk_id])
    assert set(stored) == set(quotable(top.text))
    sentence = quotable(top.text)[0]
    [fresh] = embedder.embed([sentence])
    assert np.dot(stored[sentence], fresh) > 0.999


def test_sentences_keep_their_context_and_leave_bylines_and_headings_out() -> None:
    text = ("# Remote mentoring\nBy Freya Nilsson, Fjordline Digital\nFjordline Digital has been remote\n"
            "since 2020. It works.\n\nTry these:\n- a walk and talk\n- a virtual coffee")
    assert [(u.text, u.kind, u.prev) for u in units(text)] == [
        ("By Freya Nilsson, Fjordline Digital", "para", ""),
        ("Fjordline Digital has been remote since 2020.", "para", ""),
        ("It works.", "para", "Fjordline Digital has been remote since 2020."),
        ("Try these:", "para", ""),
        ("a walk and talk", "item", "Try these:"),
        ("a virtual coffee", "item", "Try these:"),
    ]
