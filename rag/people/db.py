"""The application database: handoffs and their replies, accounts and their web sessions,
feedback, the question log and the knowledge-gap view's marks.

SQLite under the data dir by default (`data/mentorkb.sqlite3`). Any SQLAlchemy URL
in `MENTORKB_DATABASE_URL` (e.g. `postgresql+psycopg://user@host/mentorkb`) works
unchanged: the tables use only portable types, and every query goes through
SQLAlchemy Core. The test suite runs every store on SQLite and on a real PostgreSQL 15
(tests/pg.py); the column types below make the two behave alike:

- `UTCDateTime`: timestamps come back aware and in UTC on both (SQLite's are naive,
  Postgres' are in the server's time zone), and Postgres sessions run in UTC, so
  `date()` counts UTC days as SQLite's does.
- `Str` / `LongText`: a NUL, which a Postgres text column refuses, is stored as U+FFFD.
- `SessionKey`: a chat session id is the client's choice, of any length; one longer
  than its column is stored (and looked up) as its sha256.

This database is separate from the search index (Chroma plus the per-generation
manifest): a reindex never touches a handoff, and several web workers can share it.
"""

from __future__ import annotations

import hashlib
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
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rag.core.errors import DatabaseError
from rag.core.settings import Settings

log = logging.getLogger(__name__)

metadata = MetaData()


class Str(TypeDecorator):
    """VARCHAR(n) whose NULs are stored as U+FFFD: Postgres refuses NUL in text, SQLite
    kept it, and a form or a chat history can carry one."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


class LongText(Str):
    """TEXT, NULs stored as U+FFFD (see Str)."""

    impl = Text
    cache_ok = True  # each subclass says so itself


class SessionKey(Str):
    """A chat session id, as the client chose it (Gradio's session_hash is the client's
    own): one longer than the column is stored, and matched, as its sha256 hex digest."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        value = super().process_bind_param(value, dialect)
        if isinstance(value, str) and len(value) > self.impl.length:
            return hashlib.sha256(value.encode()).hexdigest()
        return value


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and read back aware, in UTC, on every backend (SQLite
    returns naive values; Postgres returns them in the session's time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value  # naive: already UTC, as everything this app writes

    def process_result_value(self, value, dialect):
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Str(64), nullable=False, unique=True),
    Column("role", Str(16), nullable=False),  # mentor | admin
    Column("password_hash", Str(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Web sign-ins, one row per signed-in browser: the cookie holds a random session id, the
# table only its sha256, so a copy of the database cannot sign anyone in. Deleting a row
# revokes that cookie (sign out); deleting a user's rows revokes them all.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", Str(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", Str(16), nullable=False, unique=True),
    Column("category", Str(32), nullable=False),  # a triage category, "requested", "abstain"
    Column("requested_by", Str(16), nullable=False),  # mentee | triage
    Column("status", Str(16), nullable=False, index=True),  # open | claimed | resolved
    Column("summary", LongText, nullable=False),
    Column("transcript", JSON, nullable=False),  # [{"role": "user"|"assistant", "text": ...}]
    Column("contact", Str(200)),
    Column("session", SessionKey(64)),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("claimed_at", UTCDateTime),
    Column("claimed_by", Str(64)),
    Column("resolved_at", UTCDateTime),
    Column("resolution_note", LongText),
    Column("notified", Str(16)),  # None (no webhook) | sent | failed
)

handoff_replies = Table(
    "handoff_replies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("author", Str(64), nullable=False),  # the mentor's account name
    Column("text", LongText, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("session", SessionKey(64)),
    Column("rating", Integer, nullable=False),  # +1 or -1
    Column("comment", LongText),
    Column("question", LongText, nullable=False),
    Column("answer", LongText, nullable=False),
    Column("citations", JSON, nullable=False),  # [{"n", "source", "title", "section", "page"}]
)

questions = Table(
    "questions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("session", SessionKey(64)),
    Column("question", LongText),  # None when MENTORKB_LOG_QUESTIONS is off
    Column("route", Str(16), nullable=False),
    Column("category", Str(32)),
    Column("latency_ms", Float, nullable=False),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="SET NULL")),
)

# The knowledge-gap view's state (rag.people.gaps). A gap item is an abstained question
# (kind "q", a `questions` row) or a thumbs-down (kind "f", a `feedback` row).
gap_covered = Table(
    "gap_covered",
    metadata,
    Column("kind", Str(1), nullable=False),
    Column("item_id", Integer, nullable=False),
    Column("covered_at", UTCDateTime, nullable=False),
    Column("covered_by", Str(64), nullable=False),
    PrimaryKeyConstraint("kind", "item_id"),
)

# Embeddings of logged question text, so the gap view embeds each question once (an
# abstained question's is stored as it is logged: answering computed it anyway). Keyed by
# a hash of the model's name and the text; `text_hash` lets a purge of the log drop the
# purged texts' vectors. A cache: anything missing is embedded again.
question_vectors = Table(
    "question_vectors",
    metadata,
    Column("key", Str(64), primary_key=True),
    Column("text_hash", Str(64), nullable=False, index=True),
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


def _postgres_utc(dbapi_connection, _record) -> None:
    """Sessions in UTC whatever the server's own zone: `date()` of a timestamp then counts
    UTC days, as on SQLite (ActivityLog.daily)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_connection.commit()  # the driver began a transaction around the SET


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
        elif engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _postgres_utc)
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
