"""The application database on every backend (SQLite, and PostgreSQL: tests/pg.py): what a
real server rejects or does differently from a SQLite file."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from rag.core.errors import ConflictError, NotFoundError
from rag.core.settings import load_settings
from rag.core.types import Answer
from rag.people.accounts import UserStore
from rag.people.activity import ActivityLog
from rag.people.db import now, open_database, questions
from rag.people.handoffs import HandoffStore

pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture
def engine(tmp_path: Path):
    return open_database(load_settings(data_dir=tmp_path))


def test_timestamps_come_back_in_utc_whatever_the_servers_time_zone(engine) -> None:
    # tests/pg.py runs Postgres in UTC+14, as a server set to its own local time would be.
    store, accounts = HandoffStore(engine), UserStore(engine)
    before = now()
    handoff = store.reply(store.create("legal", [("user", "help")]).ref, "alice", "on it")
    user = accounts.add("alice", "mentor", "a long enough password")
    for stamp in (handoff.created_at, handoff.claimed_at, handoff.replies[0].created_at, user.created_at):
        assert stamp.utcoffset() == timedelta(0), stamp  # aware, in UTC: `mentorkb handoffs show` says UTC
        assert before - timedelta(seconds=1) <= stamp <= now()


def test_the_daily_counts_are_utc_days(engine) -> None:
    log = ActivityLog(engine)
    for _ in range(2):
        log.record_answer(Answer("How do I start?", "abstain", "x"))
    late = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)  # already March 2nd in UTC+14 (and in Berlin, 00:30)
    with engine.begin() as conn:
        conn.execute(update(questions).values(created_at=late))
    assert log.daily(late - timedelta(days=1)) == [{"day": "2024-03-01", "route": "abstained", "count": 2}]
    assert log.recent(1)[0].created_at == late


def test_what_a_client_chooses_is_stored_whatever_it_holds(engine) -> None:
    """Gradio's session_hash is the client's own choice, of any length; a form or the
    chat history can carry a NUL, which a Postgres text column refuses."""
    store, log = HandoffStore(engine), ActivityLog(engine)
    session = "s" * 300
    handoff = store.create("requested", [("user", "please\x00 call")], contact="me\x00@example.org", session=session)
    assert store.open_for(session).ref == handoff.ref and store.open_for("s" * 299) is None
    assert handoff.contact == "me\ufffd@example.org" and "please\ufffd call" in handoff.summary
    assert store.reply(handoff.ref, "alice", "call at\x00 10").replies[0].text == "call at\ufffd 10"
    assert store.resolve(handoff.ref, "alice", "done\x00").resolution_note == "done\ufffd"

    log.record_answer(Answer("what\x00 now?", "abstain", "x"), session=session)
    rated = log.record_feedback(Answer("what\x00 now?", "answer", "an\x00swer"), -1, "bad\x00", session=session)
    log.comment_feedback(rated, "worse\x00", session=session)
    assert log.recent(1)[0].question == "what\ufffd now?"
    assert [i.text for i in log.gap_items(now() - timedelta(days=1))] == ["what\ufffd now?"] * 2
    assert log.stats()["feedback_comments"][0]["comment"] == "worse\ufffd"


def test_an_id_beyond_any_row_is_not_found(engine) -> None:
    store = HandoffStore(engine)
    store.create("legal", [("user", "help")])
    for key in ("2", "2147483648", "99999999999999999999999"):  # past Postgres' integer, and SQLite's
        with pytest.raises(NotFoundError, match="no such handoff"):
            store.get(key)


def test_mentors_racing_for_one_handoff_have_one_winner(engine) -> None:
    """Several mentors claim, resolve or reply to the same open handoff at once: exactly
    one gets it, the others are told who did, and the record is the winner's alone."""
    store = HandoffStore(engine)
    for action in ("claim", "resolve", "reply"):
        ref = store.create("legal", [("user", "help")]).ref
        mentors = [f"m{i}" for i in range(8)]
        start, won, lost = threading.Barrier(len(mentors)), [], []

        def attempt(mentor: str, action=action, ref=ref, start=start, won=won, lost=lost) -> None:
            start.wait()
            try:
                args = () if action == "claim" else ("note",)
                getattr(store, action)(ref, mentor, *args)
                won.append(mentor)
            except ConflictError:
                lost.append(mentor)

        threads = [threading.Thread(target=attempt, args=(m,)) for m in mentors]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        final = store.get(ref)
        assert len(won) == 1 and len(lost) == len(mentors) - 1, (action, won, lost)
        assert final.claimed_by == won[0], (action, final)
        assert [r.author for r in final.replies] == (won if action == "reply" else []), action


def test_the_question_log_commit_leaves_the_connection_durable(engine) -> None:
    """relaxed_commit turns off the wait for the disk for its own transaction only."""
    ActivityLog(engine).record_answer(Answer("how do I start?", "answer", "a"))
    setting = "SHOW synchronous_commit" if engine.dialect.name == "postgresql" else "PRAGMA synchronous"
    for _ in range(3):  # every pooled connection
        with engine.connect() as conn:
            assert str(conn.execute(text(setting)).scalar()) in ("on", "2")  # 2: SQLite's FULL


def test_backup_copies_a_sqlite_database_and_sends_postgres_to_pg_dump(tmp_path: Path, database_url: str) -> None:
    from mentorkb.backup import backup

    settings = load_settings(data_dir=tmp_path / "data")
    UserStore(open_database(settings)).add("alice", "mentor", "a long enough password")
    report = backup(settings, tmp_path / "copy")
    if database_url:  # docs/scaling.md says so: the server's own tools back it up
        assert "mentorkb.sqlite3" not in report.copied and any("pg_dump" in n for n in report.notes)
        assert not (tmp_path / "copy" / "mentorkb.sqlite3").exists()
    else:
        assert "mentorkb.sqlite3" in report.copied
        copied = load_settings(data_dir=tmp_path / "copy")
        assert UserStore(open_database(copied)).get("alice").role == "mentor"
