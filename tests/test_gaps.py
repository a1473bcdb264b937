"""The knowledge-gap view against the real parts: a question log (SQLite, and Postgres), MiniLM and
the sample corpus's index. The seeded topics are none of the corpus's."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from rag.core.errors import InvalidInput, NotFoundError
from rag.core.types import Answer
from rag.people.activity import ActivityLog
from rag.people.db import feedback, now, open_database, question_vectors, questions
from rag.people.gaps import GapFinder

TOPICS = {
    "leave": [
        "How do I plan my return to work after parental leave?",
        "What should I tell my team before I go on parental leave?",
        "Is it normal to feel behind after coming back from maternity leave?",
        "How can I stay in touch with work during paternity leave without burning out?",
        "Who covers my projects while I'm on parental leave?",
        "Any advice for the first week back after parental leave?",
    ],
    "visa": [
        "How does the visa process work if I transfer to the Berlin office?",
        "Will the company sponsor my work visa for a move abroad?",
        "What documents do I need for a work permit when relocating to another country?",
        "How long does an international relocation visa usually take?",
        "Can my spouse get a visa if I relocate for work?",
    ],
    "kubernetes": [
        "Which Kubernetes certification should I study for first?",
        "Is the CKA exam worth it for a backend developer?",
        "How do I prepare for the Certified Kubernetes Administrator exam?",
        "What's a good study plan for Kubernetes certification?",
        "Should I take CKAD or CKA to learn Kubernetes?",
    ],
}
NOISE = [
    "Where is the nearest place to park a bicycle?",
    "What's the wifi password in the cafeteria?",
    "Can I bring my dog to the office on Fridays?",
]
SENSITIVE = "I can't go on anymore and I want to end it all after my parental leave"


def abstained(question: str, **extra) -> Answer:
    return Answer(question, "abstain", "I couldn't find this in the documents.", **extra)


# Every test on SQLite and on Postgres (tests/pg.py); usefixtures sets the database up before
# `settings` reads MENTORKB_DATABASE_URL.
pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture
def log(settings) -> ActivityLog:
    return ActivityLog(open_database(settings))


@pytest.fixture
def finder(log, assistant) -> GapFinder:
    return GapFinder(lambda: log, assistant.embedder, assistant.store)


def counting(finder: GapFinder) -> list[int]:
    """Make `finder` note the size of every embed it asks for."""
    calls: list[int] = []
    real = finder.embedder

    class Counting:
        name = real.name

        def embed(self, texts):
            calls.append(len(texts))
            return real.embed(texts)

    finder.embedder = Counting()
    return calls


def seed(log: ActivityLog) -> None:
    for n, question in enumerate([q for qs in TOPICS.values() for q in qs] + NOISE):
        log.record_answer(abstained(question), session=f"s{n}")


def test_clusters_recover_the_topics_and_never_show_a_handed_off_message(log, finder):
    seed(log)
    log.record_answer(Answer(SENSITIVE, "handoff", "help text", category="crisis", handoff_ref="MKB-ABCDEF"))
    log.record_answer(abstained("Is my parental leave plan making me depressed?", category="crisis",
                                notice="A check-in"))
    log.record_answer(abstained("Which Kubernetes exam should I book?", category="unavailable"))  # store down
    report = finder.report(30)
    found = [set(c.examples) | {c.label} for c in report.clusters]
    for topic, asked in TOPICS.items():
        matches = [group for group in found if group & set(asked)]
        assert len(matches) == 1 and report.clusters[found.index(matches[0])].size == len(asked), (topic, found)
        assert matches[0] <= set(asked), (topic, matches[0])
    assert set(NOISE) <= set(report.unclustered)
    shown = json.dumps(report.as_dict())
    for hidden in ("end it all", "depressed", "sensitive", "MKB-", "book?"):
        assert hidden not in shown
    assert report.questions == sum(map(len, TOPICS.values())) + len(NOISE)
    biggest = report.clusters[0]
    assert biggest.size == 6 and "leave" in biggest.terms and biggest.reasons == {"abstained": 6}
    assert biggest.id.startswith("gap-q") and len(biggest.examples) == 3
    assert biggest.closest.source and 0 < biggest.closest.similarity < 1


def test_a_not_helpful_rating_is_a_gap_and_repeats_in_a_session_count_once(log, finder):
    question = "How do I get my work visa extended?"
    answer = Answer(question, "answer", "Some answer [1].")
    log.record_answer(abstained(question), session="a")
    log.record_feedback(abstained(question), -1, session="a")  # same person, same question
    log.record_feedback(answer, -1, session="b")
    log.record_feedback(Answer("How do I renew my visa for work?", "answer", "x"), -1, session="c")
    log.record_feedback(Answer("How do I renew my visa?", "answer", "x"), 1, session="d")  # helpful: no gap
    (cluster,) = finder.report(30).clusters
    assert cluster.size == 3 and cluster.reasons == {"abstained": 1, "not helpful": 3}


def test_covered_clusters_leave_the_view_and_come_back_with_new_questions(log, finder):
    seed(log)
    leave = next(c for c in finder.report(30).clusters if "leave" in c.terms)
    finder.cover(leave.id, "mira")
    report = finder.report(30)
    assert leave.id not in {c.id for c in report.clusters} and report.hidden_covered == 1
    again = next(c for c in finder.report(30, include_covered=True).clusters if c.id == leave.id)
    assert again.covered and again.covered_by == "mira"
    log.record_answer(abstained("How much parental leave can I take as a new father?"), session="new")
    back = next(c for c in finder.report(30).clusters if c.id == leave.id)
    assert not back.covered and back.new_since_covered == 1 and back.covered_by == "mira"
    with pytest.raises(NotFoundError, match="gap-q999"):
        finder.cover("gap-q999", "mira")


def test_the_period_and_the_embedding_cache(log, finder, settings):
    seed(log)
    engine = open_database(settings)
    with engine.begin() as conn:  # the visa questions were asked 40 days ago
        conn.execute(update(questions).where(questions.c.question.in_(TOPICS["visa"]))
                     .values(created_at=now() - timedelta(days=40)))
    assert not any(set(c.examples) & set(TOPICS["visa"]) for c in finder.report(30).clusters)
    assert any(set(c.examples) & set(TOPICS["visa"]) for c in finder.report(60).clusters)
    calls = counting(finder)
    finder.report(60)
    assert calls == []  # every text's vector came from the cache
    with pytest.raises(InvalidInput, match="since"):
        finder.report(0)
    log.purge(log.recent(1)[0].created_at + timedelta(seconds=1))
    with engine.connect() as conn:
        assert conn.execute(question_vectors.select()).first() is None
        assert conn.execute(feedback.select()).first() is None
    assert finder.report(60).questions == 0


def test_cli_gaps_prints_one_json_object_and_covers_by_id(log, settings):
    from click.testing import CliRunner

    from mentorkb.cli import cli
    from rag.people.accounts import UserStore

    seed(log)
    UserStore(open_database(settings)).add("mira", "mentor", "a long enough password")
    run = CliRunner().invoke(cli, ["gaps", "--json"], catch_exceptions=False)
    report = json.loads(run.output)
    assert run.exit_code == 0 and report["questions"] == 19 and len(report["clusters"]) == 3
    leave = next(c for c in report["clusters"] if "leave" in c["terms"])
    assert leave["closest"] is None and leave["size"] == 6  # this data dir has no index yet
    run = CliRunner().invoke(cli, ["gaps", "--cover", leave["id"], "--as", "mira"], catch_exceptions=False)
    assert run.exit_code == 0 and "marked covered by mira" in run.output
    text = CliRunner().invoke(cli, ["gaps"], catch_exceptions=False).output
    assert "2 clusters (1 covered, hidden" in text and leave["label"] not in text
    run = CliRunner().invoke(cli, ["gaps", "--cover", "gap-q999", "--as", "mira"])
    assert run.exit_code != 0 and "gap-q999" in run.output


def test_an_abstained_question_keeps_the_embedding_answering_computed(settings, log, finder, assistant):
    from mentorkb.app import build

    asking = build(settings, embedder=assistant.embedder, store=assistant.store).assistant
    question = "Which cello teacher in Lisbon gives lessons to beginners?"
    assert asking.ask(question, session="z").route == "abstain"
    assert asking.ask(question, session="y", record=False).route == "abstain"  # not logged, not a gap
    calls = counting(finder)
    report = finder.report(30)
    assert report.questions == 1, (log.recent(5), report)
    assert calls == [] and report.unclustered == (question,)
