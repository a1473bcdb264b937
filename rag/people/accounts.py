"""Mentor and admin accounts. Passwords are hashed with Argon2id; never stored or logged.

Mentees need no account (unless MENTORKB_MENTEE_LOGIN is set, in which case any
account may chat).
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from rag.core.errors import ConflictError, InvalidInput, NotFoundError
from rag.core.types import User  # noqa: F401 - re-exported: accounts hand out Users
from rag.people.db import now, translated, users

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
        with self.engine.begin() as conn:
            if not conn.execute(delete(users).where(users.c.name == name)).rowcount:
                raise NotFoundError(f"user {name}: no such user")

    @translated
    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(users).where(users.c.name == name).values(password_hash=self.hasher.hash(password))
            ).rowcount
        if not done:
            raise NotFoundError(f"user {name}: no such user")

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


def _user(row) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], created_at=row["created_at"])
