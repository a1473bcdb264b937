"""The gaps panel's plot data and cluster cards, from a real question log (SQLite, and Postgres)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from rag.core.types import Answer
from rag.people.activity import ActivityLog
from rag.people.db import now, open_database, questions
from rag.people.gaps import GapFinder
from tests.test_gaps import SENSITIVE, TOPICS, abstained, seed
from ui.gaps import clusters_html, rates_frame, summary_html, volume_frame

pytestmark = pytest.mark.usefixtures("database_url")  # SQLite and Postgres (tests/pg.py)


def test_volume_and_rates_per_day_with_no_division_by_zero(settings) -> None:
    log = ActivityLog(open_database(settings))
    for route in ("answer", "answer", "abstain", "handoff"):
        log.record_answer(Answer("How do I start?", route, "x", category="crisis" if route == "handoff" else None))
    log.record_feedback(Answer("How do I start?", "answer", "x"), -1)
    log.record_feedback(Answer("How do I start?", "answer", "x"), 1)  # helpful: not on the plots
    with log.engine.begin() as conn:  # one of the answers was asked yesterday
        first = conn.execute(questions.select().order_by(questions.c.id)).first()
        conn.execute(update(questions).where(questions.c.id == first.id)
                     .values(created_at=now() - timedelta(days=1)))
    rows = log.daily(now() - timedelta(days=7))
    rows.append({"day": "2000-01-01", "route": "not helpful", "count": 2})  # ratings on a day without questions
    today, yesterday = str(now().date()), str((now() - timedelta(days=1)).date())

    volume = volume_frame(rows)
    assert list(volume.columns) == ["day", "route", "count"]
    assert str(volume["day"].dtype).startswith("datetime64")  # a time axis on the plot
    assert volume.assign(day=volume["day"].dt.strftime("%Y-%m-%d")).to_dict("records") == [
        {"day": yesterday, "route": "answered", "count": 1},
        {"day": today, "route": "abstained", "count": 1},
        {"day": today, "route": "answered", "count": 1},
        {"day": today, "route": "handed off", "count": 1},
    ]
    rates = {(r["day"].strftime("%Y-%m-%d"), r["measure"]): r["rate"] for r in rates_frame(rows).to_dict("records")}
    assert rates == {
        (yesterday, "abstain rate"): 0.0, (yesterday, "handoff rate"): 0.0, (yesterday, "thumbs-down rate"): 0.0,
        (today, "abstain rate"): 1 / 3, (today, "handoff rate"): 1 / 3, (today, "thumbs-down rate"): 1 / 3,
    }
    assert rates_frame([]).empty and volume_frame([]).empty
    assert list(rates_frame([]).columns) == ["day", "measure", "rate"]


def test_cards_show_questions_as_text_and_never_a_sensitive_message(settings, assistant) -> None:
    log = ActivityLog(open_database(settings))
    finder = GapFinder(lambda: log, assistant.embedder, assistant.store)
    seed(log)
    hostile = "How do I <b>take</b> parental leave & keep *my* projects? <script>x()</script>"
    log.record_answer(abstained(hostile), session="h")
    log.record_answer(Answer(SENSITIVE, "handoff", "help text", category="crisis", handoff_ref="MKB-ABCDEF"))
    report = finder.report(30)
    shown = summary_html(report) + clusters_html(report)
    assert f"<strong>{report.questions} questions</strong> abstained on or rated not helpful in the last 30 days" \
        in shown and "3 clusters" in shown
    for asked in TOPICS.values():
        assert any(q.replace("'", "&#x27;") in shown or q in shown for q in asked)
    assert "&lt;b&gt;take&lt;/b&gt;" in shown and "<script>" not in shown and "<b>" not in shown
    assert "*my*" in shown and "end it all" not in shown and "MKB-" not in shown
    off = ActivityLog(open_database(settings), log_questions=False)
    quiet = GapFinder(lambda: off, assistant.embedder, assistant.store).report(30)
    assert "not logged" in summary_html(quiet) and clusters_html(quiet) == ""
