"""Human handoff: the record in a real database (a SQLite file, and PostgreSQL: tests/pg.py),
its lifecycle, the webhook, the CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from mentorkb.app import build, handoff_store
from mentorkb.cli import cli
from rag.core.errors import ConflictError, DatabaseError, InvalidInput, NotFoundError
from rag.core.settings import load_settings
from rag.people.accounts import UserStore
from rag.people.activity import ActivityLog
from rag.people.db import metadata, open_database
from rag.people.handoffs import HandoffStore
from rag.people.notify import WebhookNotifier
from tests.pg import sqlite_only

TRANSCRIPT = [("user", "How do I prepare for a first meeting?"), ("assistant", "Send a short note first. [1]")]


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> HandoffStore:
    return HandoffStore(open_database(load_settings(data_dir=tmp_path / "db")))


def test_lifecycle_open_claim_resolve(store: HandoffStore, tmp_path: Path, database_url: str) -> None:
    created = store.create("legal", [*TRANSCRIPT, ("user", "my old employer is suing me")])
    assert created.status == "open" and created.ref.startswith("MKB-") and len(created.ref) == 10
    assert created.summary == "Legal: “my old employer is suing me”"
    assert created.transcript[-1] == ("user", "my old employer is suing me")

    assert [h.ref for h in store.list("open")] == [created.ref]
    claimed = store.claim(created.ref.lower(), "alice")
    assert (claimed.status, claimed.claimed_by) == ("claimed", "alice") and claimed.claimed_at
    assert store.claim(created.ref, "alice").status == "claimed"  # idempotent for the claimer
    with pytest.raises(ConflictError, match="already claimed by alice"):
        store.claim(created.ref, "bob")
    with pytest.raises(ConflictError, match="claimed by alice, not bob"):
        store.resolve(created.ref, "bob", "done")
    with pytest.raises(InvalidInput, match="note"):
        store.resolve(created.ref, "alice", "  ")

    resolved = store.resolve(created.ref, "alice", "Talked it through; referred to legal aid.")
    assert resolved.status == "resolved" and resolved.resolved_at >= resolved.claimed_at
    with pytest.raises(ConflictError, match="already resolved"):
        store.resolve(created.ref, "alice", "again")
    assert store.list("open") == [] and [h.ref for h in store.list("resolved")] == [created.ref]

    # It is a real row in the database (the SQLite file under the data dir, or the Postgres
    # server), read through a connection of its own.
    raw = create_engine(database_url or f"sqlite:///{tmp_path / 'db' / 'mentorkb.sqlite3'}")
    with raw.connect() as conn:
        row = tuple(conn.execute(text("SELECT status, claimed_by, resolution_note FROM handoffs")).one())
    raw.dispose()
    assert row == ("resolved", "alice", "Talked it through; referred to legal aid.")


def test_unknown_reference_is_a_clear_error(store: HandoffStore) -> None:
    with pytest.raises(NotFoundError, match="handoff MKB-NOPE: no such handoff"):
        store.get("MKB-NOPE")


def test_longest_waiting_first_and_contact_added_later(store: HandoffStore) -> None:
    first = store.create("requested", TRANSCRIPT, requested_by="mentee")
    second = store.create("medical", [("user", "I keep getting panic attacks")])
    assert [h.ref for h in store.list()] == [first.ref, second.ref]
    updated = store.update(first.ref, contact="sam@example.org", transcript=[*TRANSCRIPT, ("user", "thanks")])
    assert updated.contact == "sam@example.org" and len(updated.transcript) == 3


def test_crisis_creates_a_handoff_and_says_so_after_the_resources(assistant) -> None:
    history = [("user", "how often should we meet?"), ("assistant", "Every two weeks. [1]")]
    answer = assistant.ask("honestly I don't want to be alive anymore", history, session="s-crisis")
    assert answer.route == "handoff" and answer.category == "crisis" and answer.handoff_ref
    assert answer.text.index("988") < answer.text.index("is with the human mentors")
    # It promises no contact it cannot make: it says how to leave one, and how to read a reply.
    assert "reach out to you" not in answer.text and "Check my request" in answer.text
    assert answer.handoff_ref in answer.text and not answer.retrieved
    record = assistant.handoffs.get(answer.handoff_ref)
    assert record.category == "crisis" and record.requested_by == "triage" and record.status == "open"
    assert record.transcript == (*history, ("user", "honestly I don't want to be alive anymore"))


def test_a_crisis_is_logged_only_as_its_category_and_reference_and_kept_whole_in_its_handoff(assistant) -> None:
    said = "I have been thinking about killing myself this week"
    answer = assistant.ask(said, session="s-private")
    assert answer.route == "handoff" and answer.category == "crisis"
    logged = [q.question for q in assistant.activity.recent(200)]
    assert f"[sensitive: crisis] → {answer.handoff_ref}" in logged
    assert not any(q and "killing myself" in q for q in logged)
    assert assistant.handoffs.get(answer.handoff_ref).trigger == said
    # A rating of that reply keeps no copy of the words either.
    assistant.activity.record_feedback(answer, -1, session="s-private")
    with assistant.activity.engine.connect() as conn:
        stored = [q for (q,) in conn.exec_driver_sql("SELECT question FROM feedback")]
    assert stored and not any("killing myself" in q for q in stored)


def test_unrecorded_asks_file_no_handoff_and_say_so(assistant) -> None:
    before = len(assistant.handoffs.list())
    answer = assistant.ask("I think my manager is harassing me", record=False)
    assert answer.route == "handoff" and answer.handoff_ref is None
    assert "not recorded" in answer.text and "with the human mentors" not in answer.text
    assert len(assistant.handoffs.list()) == before


def test_replies_are_stored_with_the_handoff_and_read_by_the_code_alone(store: HandoffStore) -> None:
    h = store.create("requested", TRANSCRIPT, requested_by="mentee")
    with pytest.raises(InvalidInput, match="reply: write"):
        store.reply(h.ref, "alice", "  ")
    first = store.reply(h.ref, "alice", "Happy to help: shall we talk Friday?")
    assert (first.status, first.claimed_by) == ("claimed", "alice")  # replying claims an open handoff
    with pytest.raises(ConflictError, match="claimed by alice, not bob"):
        store.reply(h.ref, "bob", "me too")
    store.reply(h.ref, "alice", "Friday 10:00 works.")
    seen = store.for_mentee(h.ref.lower())
    assert seen.status == "claimed" and [r.text for r in seen.replies] == [
        "Happy to help: shall we talk Friday?", "Friday 10:00 works."]
    assert not hasattr(seen, "transcript") and not hasattr(seen, "contact")
    for guess in (str(h.id), "MKB-0000", "hello"):  # ids and malformed codes are never looked up
        with pytest.raises(InvalidInput, match="reference"):
            store.for_mentee(guess)
    with pytest.raises(NotFoundError):
        store.for_mentee("MKB-ZZZZZZ")
    store.resolve(h.ref, "alice", "talked")
    with pytest.raises(ConflictError, match="already resolved"):
        store.reply(h.ref, "alice", "one more")


def test_queue_views_put_open_crises_first(store: HandoffStore) -> None:
    asked = store.create("requested", TRANSCRIPT, requested_by="mentee")
    legal = store.create("legal", [("user", "my employer is suing me")])
    crisis = store.create("crisis", [("user", "I want to end it")])
    store.claim(legal.ref, "alice")
    items, total, urgent = store.queue("waiting")
    assert [h.ref for h in items] == [crisis.ref, asked.ref, legal.ref] and (total, urgent) == (3, 1)
    assert items[0].urgent and not items[1].urgent
    assert [h.ref for h in store.queue("mine", "alice")[0]] == [legal.ref]
    store.resolve(crisis.ref, "bob", "called them")
    items, total, urgent = store.queue("all")
    assert [h.ref for h in items] == [asked.ref, legal.ref, crisis.ref] and (total, urgent) == (3, 0)
    with pytest.raises(InvalidInput, match="view"):
        store.queue("everything")


def test_mentee_can_always_ask_for_a_human_and_is_not_duplicated(assistant) -> None:
    first = assistant.request_human(TRANSCRIPT, session="s-request")
    again = assistant.request_human([*TRANSCRIPT, ("user", "please call me")], contact="@sam on chat",
                                    session="s-request")
    assert again.ref == first.ref and again.contact == "@sam on chat" and len(again.transcript) == 3
    assert first.category == "requested" and first.requested_by == "mentee"
    other = assistant.request_human(TRANSCRIPT, session="s-other")
    assert other.ref != first.ref


def test_a_broken_database_never_claims_a_mentor_was_told(corpus_data_dir: Path, embedder, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'broken.sqlite3'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE handoffs"))
    broken = HandoffStore(engine)
    with pytest.raises(DatabaseError, match="no such table: handoffs"):
        broken.create("legal", TRANSCRIPT)
    settings = load_settings(data_dir=corpus_data_dir)
    assistant = build(settings, embedder=embedder, handoffs=broken,
                          activity=ActivityLog(engine)).assistant
    answer = assistant.ask("I think my manager is harassing me")
    assert answer.route == "handoff" and answer.handoff_ref is None
    assert "with the human mentors" not in answer.text and "contact a human mentor" in answer.text


class _Hook(BaseHTTPRequestHandler):
    failures = 0
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        status = 500 if len(type(self).received) <= type(self).failures else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"boom")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    handler = type("Hook", (_Hook,), {"failures": 0, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("database_url")
def test_webhook_is_retried_and_carries_no_transcript_by_default(webhook, tmp_path: Path) -> None:
    handler, url = webhook
    handler.failures = 2
    notifier = WebhookNotifier(url, backoff_s=0.01)
    store = HandoffStore(open_database(load_settings(data_dir=tmp_path)), notifier)
    created = store.create("crisis", [("user", "I can't go on")])
    notifier.flush()
    assert len(handler.received) == 3  # two failures, then delivered
    body = handler.received[-1]
    assert body["ref"] == created.ref and body["category"] == "crisis" and created.ref in body["text"]
    assert "transcript" not in body and "can't go on" not in json.dumps(body)
    assert store.get(created.ref).notified == "sent"


@pytest.mark.usefixtures("database_url")
def test_webhook_that_never_answers_loses_nothing(webhook, tmp_path: Path, caplog) -> None:
    handler, url = webhook
    handler.failures = 99
    settings = load_settings(data_dir=tmp_path, handoff_webhook=url, handoff_webhook_transcript=True)
    store = handoff_store(settings)
    store.notifier.backoff_s = 0.01
    created = store.create("legal", TRANSCRIPT)
    store.notifier.flush()
    assert len(handler.received) == store.notifier.attempts
    assert handler.received[0]["transcript"][0]["text"] == TRANSCRIPT[0][1]
    kept = store.get(created.ref)
    assert kept.status == "open" and kept.notified == "failed"
    assert "gave up" in caplog.text and url not in caplog.text  # webhook URLs are secrets


@pytest.mark.usefixtures("database_url")
def test_cli_users_and_handoff_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = CliRunner().invoke
    added = run(cli, ["--data-dir", str(data), "users", "add", "alice", "--role", "mentor"],
                input="a long enough password\na long enough password\n")
    assert added.exit_code == 0, added.output
    assert "added mentor alice" in added.output
    duplicate = run(cli, ["--data-dir", str(data), "users", "add", "alice", "--role", "mentor",
                          "--password", "another long password"])
    assert duplicate.exit_code == 1 and "user alice: already exists" in duplicate.output

    ref = HandoffStore(open_database(load_settings(data_dir=data))).create("medical", TRANSCRIPT).ref
    listed = run(cli, ["--data-dir", str(data), "handoffs", "list"])
    assert listed.exit_code == 0 and ref in listed.output and "Health or medical" in listed.output
    shown = run(cli, ["--data-dir", str(data), "handoffs", "show", ref, "--json"])
    assert json.loads(shown.output)["transcript"][0]["text"] == TRANSCRIPT[0][1]
    nobody = run(cli, ["--data-dir", str(data), "handoffs", "claim", ref, "--as", "mallory"])
    assert nobody.exit_code == 1 and "user mallory: no such user" in nobody.output
    assert run(cli, ["--data-dir", str(data), "handoffs", "claim", ref, "--as", "alice"]).exit_code == 0
    replied = run(cli, ["--data-dir", str(data), "handoffs", "reply", ref, "--as", "alice", "--text", "Call me?"])
    assert replied.exit_code == 0 and "reply stored (1 in all)" in replied.output
    shown = run(cli, ["--data-dir", str(data), "handoffs", "show", ref])
    assert "alice" in shown.output and "Call me?" in shown.output
    assert f"raised by: {TRANSCRIPT[0][1]}" in shown.output
    resolved = run(cli, ["--data-dir", str(data), "handoffs", "resolve", ref, "--as", "alice", "--note", "called"])
    assert resolved.exit_code == 0 and f"{ref} resolved by alice" in resolved.output
    assert ref not in run(cli, ["--data-dir", str(data), "handoffs", "list"]).output
    assert ref in run(cli, ["--data-dir", str(data), "handoffs", "list", "--status", "resolved"]).output


@sqlite_only
@pytest.mark.usefixtures("database_url")
def test_passwords_are_hashed_and_checked(tmp_path: Path) -> None:
    accounts = UserStore(open_database(load_settings(data_dir=tmp_path)))
    accounts.add("alice", "admin", "correct horse battery")
    assert accounts.authenticate("alice", "correct horse battery").is_admin
    assert accounts.authenticate("alice", "wrong horse battery") is None
    assert accounts.authenticate("nobody", "correct horse battery") is None
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("mentorkb.sqlite3*"))  # WAL included
    assert b"correct horse battery" not in raw and b"$argon2id$" in raw
    with pytest.raises(InvalidInput, match="name:"):
        accounts.add("../etc", "mentor", "correct horse battery")
    with pytest.raises(InvalidInput, match="role:"):
        accounts.add("bob", "root", "correct horse battery")


@pytest.mark.usefixtures("database_url")
def test_question_log_respects_the_privacy_setting(corpus_data_dir: Path, embedder, tmp_path: Path) -> None:
    engine = open_database(load_settings(data_dir=tmp_path))
    quiet = build(load_settings(data_dir=corpus_data_dir), embedder=embedder,
                      handoffs=HandoffStore(engine), activity=ActivityLog(engine, log_questions=False)).assistant
    quiet.ask("How often should a mentor and mentee meet?")
    quiet.ask("are you a real person?")
    logged = quiet.activity.recent()
    assert [q.route for q in logged] == ["refuse", "answer"] and all(q.question is None for q in logged)
    stats = quiet.activity.stats()
    assert stats["questions"] == 2 and stats["by_route"] == {"answer": 1, "refuse": 1}


@pytest.mark.usefixtures("database_url")
def test_purge_enforces_retention_but_never_touches_open_handoffs(tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from rag.core.types import Answer
    from rag.people.db import handoffs, now, questions

    data = tmp_path / "data"
    settings = load_settings(data_dir=data)
    engine = open_database(settings)
    store = HandoffStore(engine)
    old_open = store.create("requested", TRANSCRIPT, requested_by="mentee")
    old_resolved = store.create("legal", TRANSCRIPT)
    store.reply(old_resolved.ref, "alice", "see you Friday")
    store.resolve(old_resolved.ref, "alice", "done")
    recent_resolved = store.create("medical", TRANSCRIPT)
    store.resolve(recent_resolved.ref, "alice", "done")
    log = ActivityLog(engine)
    for _ in range(3):
        log.record_answer(Answer("q", "answer", "a", timings_ms={"total": 5.0}))
    long_ago = now() - timedelta(days=400)
    with engine.begin() as conn:
        conn.execute(update(handoffs).where(handoffs.c.ref.in_([old_open.ref, old_resolved.ref]))
                     .values(created_at=long_ago, resolved_at=None))
        conn.execute(update(handoffs).where(handoffs.c.ref == old_resolved.ref).values(resolved_at=long_ago))
        conn.execute(update(questions).where(questions.c.id <= 2).values(created_at=long_ago))

    result = CliRunner().invoke(cli, ["--data-dir", str(data), "purge"])
    assert result.exit_code == 0, result.output
    assert "2 questions, 0 feedback, 1 resolved handoffs deleted" in result.output
    assert {h.ref for h in store.list()} == {old_open.ref, recent_resolved.ref}
    assert len(log.recent()) == 1
    with engine.connect() as conn:  # the purged handoff's replies went with it
        assert conn.exec_driver_sql("SELECT count(*) FROM handoff_replies").scalar() == 0


@sqlite_only
@pytest.mark.usefixtures("database_url")
def test_question_log_rows_skip_the_fsync_and_leave_other_writes_durable(tmp_path: Path) -> None:
    from rag.core.types import Answer

    engine = open_database(load_settings(data_dir=tmp_path))
    log = ActivityLog(engine)
    log.record_answer(Answer("how do I start?", "answer", "a", timings_ms={"total": 5.0}))
    # The row is committed (another connection, outside the pool, reads it) ...
    with sqlite3.connect(tmp_path / "mentorkb.sqlite3") as other:
        assert other.execute("SELECT question, route FROM questions").fetchall() == [("how do I start?", "answer")]
    # ... and the pooled connection is back to full durability for handoffs and accounts.
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store = HandoffStore(engine)
    ref = store.create("crisis", [("user", "help")]).ref
    assert [h.ref for h in store.list()] == [ref]


@pytest.mark.usefixtures("database_url")
def test_cli_ask_files_a_handoff_only_with_record(corpus_data_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    said = "I think my manager is harassing me"
    trial = CliRunner().invoke(cli, ["--data-dir", str(data), "ask", said])
    assert trial.exit_code == 0 and "no handoff was filed (run with --record" in trial.output
    assert handoff_store(load_settings(data_dir=data)).list() == []
    real = CliRunner().invoke(cli, ["--data-dir", str(data), "ask", "--record", said])
    assert real.exit_code == 0 and "is with the human mentors" in real.output and "no handoff" not in real.output
    [filed] = handoff_store(load_settings(data_dir=data)).list()
    assert filed.trigger == said and filed.ref in real.output
