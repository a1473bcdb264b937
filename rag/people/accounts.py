"""Mentor and admin accounts and their web sessions. Passwords are hashed with Argon2id;
never stored or logged.

A web session is a row per signed-in browser, so each can be revoked: signing out ends
one, and a new password, removing the account or `mentorkb users signout` end them all.

Mentees need no account (unless MENTORKB_MENTEE_LOGIN is set, in which case any
account may chat).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from rag.core.errors import ConflictError, InvalidInput, NotFoundError
from rag.core.types import User  # noqa: F401 - re-exported: accounts hand out Users
from rag.people.db import now, translated, users, web_sessions

ROLES = ("mentor", "admin")
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


class UserStore:
    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    @translated
    def add(self, name: str, role: str, password: str) -> User:
        check_name(name)
        if role not in ROLES:
            raise InvalidInput(f"role: must be one of {', '.join(ROLES)} (got {role!r})")
        check_password(password)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(users).values(
                        name=name, role=role, password_hash=self.hasher.hash(password), created_at=now()
                    )
                )
        except IntegrityError:
            raise ConflictError(f"user {name}: already exists") from None
        return self.get(name)

    @translated
    def get(self, name: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"user {name}: no such user")
        return _user(row)

    @translated
    def list(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name)).mappings()]

    @translated
    def remove(self, name: str) -> None:
        """Delete the account and its web sessions. SQLite may give a re-created account the
        same id, so the sessions go with it, never left to match the newcomer."""
        with self.engine.begin() as conn:
            user_id = _user_id(conn, name)
            _end_all(conn, user_id)
            conn.execute(delete(users).where(users.c.id == user_id))

    @translated
    def set_password(self, name: str, password: str) -> None:
        """Set a new password and end every web session of the account."""
        check_password(password)
        hashed = self.hasher.hash(password)  # before the transaction: Argon2 takes a while
        with self.engine.begin() as conn:
            user_id = _user_id(conn, name)
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hashed))
            _end_all(conn, user_id)

    @translated
    def start_session(self, user: User, max_age_s: float) -> str:
        """A new web session for `user`: its random id, for the cookie. Only the id's hash is
        stored. The user's sessions older than `max_age_s` are deleted on the way."""
        session_id = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user.id,
                                                    web_sessions.c.created_at < _cutoff(max_age_s)))
            conn.execute(insert(web_sessions).values(id_hash=_digest(session_id), user_id=user.id,
                                                     created_at=now()))
        return session_id

    @translated
    def session_user(self, session_id: str, max_age_s: float) -> User | None:
        """The user of a web session, or None if it was ended or is older than `max_age_s`."""
        query = (select(users).join(web_sessions, web_sessions.c.user_id == users.c.id)
                 .where(web_sessions.c.id_hash == _digest(session_id),
                        web_sessions.c.created_at >= _cutoff(max_age_s)))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _user(row) if row else None

    @translated
    def end_session(self, session_id: str, everywhere: bool = False) -> int:
        """End a web session (sign out) or, with `everywhere`, every session of its user.
        How many ended: 0 for an unknown or already ended session."""
        digest = _digest(session_id)
        with self.engine.begin() as conn:
            if not everywhere:
                return conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == digest)).rowcount
            user_id = conn.execute(select(web_sessions.c.user_id).where(web_sessions.c.id_hash == digest)).scalar()
            return 0 if user_id is None else _end_all(conn, user_id)

    @translated
    def end_sessions(self, name: str) -> int:
        """End every web session of the account ("sign out everywhere"); how many ended."""
        with self.engine.begin() as conn:
            return _end_all(conn, _user_id(conn, name))

    @translated
    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches, else None. An unknown name costs the same time."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        stored = row["password_hash"] if row else self._dummy()
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return _user(row) if row else None

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash


def check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidInput(
            f"name: 2-64 letters, digits, '.', '_' or '-', starting with a letter or digit (got {name!r})"
        )


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")


def _user_id(conn: Connection, name: str) -> int:
    user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    if user_id is None:
        raise NotFoundError(f"user {name}: no such user")
    return user_id


def _end_all(conn: Connection, user_id: int) -> int:
    return conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id)).rowcount


def _digest(session_id: str) -> str:
    """What the table keeps of a session id: a copy of the database signs no one in."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _cutoff(max_age_s: float):
    return now() - timedelta(seconds=max_age_s)


def _user(row) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], created_at=row["created_at"])
