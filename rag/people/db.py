"""The application database: handoffs and their replies, accounts and their web sessions,
feedback, the question log and the knowledge-gap view's marks.

SQLite under the data dir by default (`data/mentorkb.sqlite3`). Any SQLAlchemy URL
in `MENTORKB_DATABASE_URL` (e.g. `postgresql+psycopg://user@host/mentorkb`) works
unchanged: the tables use only portable types, and every query goes through
SQLAlchemy Core.

This database is separate from the search index (Chroma plus the per-generation
manifest): a reindex never touches a handoff, and several web workers can share it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rag.core.errors import DatabaseError
from rag.core.settings import Settings

log = logging.getLogger(__name__)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # mentor | admin
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Web sign-ins, one row per signed-in browser: the cookie holds a random session id, the
# table only its sha256, so a copy of the database cannot sign anyone in. Deleting a row
# revokes that cookie (sign out); deleting a user's rows revokes them all.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", String(16), nullable=False, unique=True),
    Column("category", String(32), nullable=False),  # a triage category, "requested", "abstain"
    Column("requested_by", String(16), nullable=False),  # mentee | triage
    Column("status", String(16), nullable=False, index=True),  # open | claimed | resolved
    Column("summary", Text, nullable=False),
    Column("transcript", JSON, nullable=False),  # [{"role": "user"|"assistant", "text": ...}]
    Column("contact", String(200)),
    Column("session", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("claimed_at", DateTime(timezone=True)),
    Column("claimed_by", String(64)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution_note", Text),
    Column("notified", String(16)),  # None (no webhook) | sent | failed
)

handoff_replies = Table(
    "handoff_replies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("author", String(64), nullable=False),  # the mentor's account name
    Column("text", Text, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("session", String(64)),
    Column("rating", Integer, nullable=False),  # +1 or -1
    Column("comment", Text),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", JSON, nullable=False),  # [{"n", "source", "title", "section", "page"}]
)

questions = Table(
    "questions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("session", String(64)),
    Column("question", Text),  # None when MENTORKB_LOG_QUESTIONS is off
    Column("route", String(16), nullable=False),
    Column("category", String(32)),
    Column("latency_ms", Float, nullable=False),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="SET NULL")),
)

# The knowledge-gap view's state (rag.people.gaps). A gap item is an abstained question
# (kind "q", a `questions` row) or a thumbs-down (kind "f", a `feedback` row).
gap_covered = Table(
    "gap_covered",
    metadata,
    Column("kind", String(1), nullable=False),
    Column("item_id", Integer, nullable=False),
    Column("covered_at", DateTime(timezone=True), nullable=False),
    Column("covered_by", String(64), nullable=False),
    PrimaryKeyConstraint("kind", "item_id"),
)

# Embeddings of logged question text, so the gap view embeds each question once (an
# abstained question's is stored as it is logged: answering computed it anyway). Keyed by
# a hash of the model's name and the text; `text_hash` lets a purge of the log drop the
# purged texts' vectors. A cache: anything missing is embedded again.
question_vectors = Table(
    "question_vectors",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("text_hash", String(64), nullable=False, index=True),
    Column("vector", LargeBinary, nullable=False),  # float32
)


def now() -> datetime:
    return datetime.now(UTC)


def database_url(settings: Settings) -> str:
    return settings.database_url.get_secret_value() or f"sqlite:///{settings.data_dir / 'mentorkb.sqlite3'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def relaxed_commit(engine: Engine) -> Iterator[Connection]:
    """A transaction whose commit does not wait for the disk: for rows that may be lost
    if the machine loses power (never if the process dies), such as the question log.
    SQLite (WAL) skips the commit's fsync for it, a cost on every question; Postgres
    skips waiting for its WAL flush (`synchronous_commit`). Other writes stay durable.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a connection setting, so it is put back before the pool reuses it
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.commit()  # SQLAlchemy began a transaction around the pragma
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn
        finally:
            if sqlite:
                conn.rollback()  # nothing, if the transaction above ended
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
                conn.commit()


_ENGINES: dict[str, Engine] = {}


def open_database(settings: Settings) -> Engine:
    """The engine for `settings`, tables created on first use; one per URL per process."""
    url = database_url(settings)
    if url in _ENGINES:
        return _ENGINES[url]
    try:
        if url.startswith("sqlite:///"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        # A file needs no liveness check on each checkout; a server connection does.
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        metadata.create_all(engine)
    except ImportError as e:
        raise DatabaseError(
            f"database {engine_label(url)}: its driver is not installed ({e.name}); for Postgres, "
            "pip install 'mentorkb[postgres]'"
        ) from e
    except (SQLAlchemyError, OSError) as e:
        raise DatabaseError(f"database {engine_label(url)}: {_reason(e)}") from e
    _ENGINES[url] = engine
    return engine


def close_databases() -> None:
    """Dispose every engine this process opened (tests; orderly shutdown)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def engine_label(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by create_engine
        return "<invalid URL>"


def _reason(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    return str(orig).splitlines()[0] if str(orig) else type(orig).__name__


def translated(method):
    """Run a store method, turning SQLAlchemy errors into one-line DatabaseErrors."""

    @wraps(method)
    def run(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as e:
            raise DatabaseError(f"database: {_reason(e)}") from e

    return run
