"""Web sessions: expiry, removed accounts, safe redirects, and MENTORKB_MENTEE_LOGIN."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def users(tmp_path, database_url):  # on SQLite and on Postgres (tests/pg.py)
    from mentorkb.app import user_store
    from rag.core.settings import load_settings

    store = user_store(load_settings(data_dir=tmp_path / "data"))
    store.add("ana", "mentor", "a-long-password")
    return store


def test_a_session_expires_and_dies_with_its_account(users, tmp_path) -> None:
    from rag.core.settings import load_settings
    from ui import auth

    settings = load_settings(data_dir=tmp_path / "data", session_hours=8)
    session: dict = {}
    auth.sign_in(session, users.get("ana"), users, settings)
    assert auth.signed_in(session, users, settings).name == "ana"
    assert auth.signed_in({**session, auth.SESSION_USER: "bob"}, users, settings) is None  # not bob's session
    age(users, hours=9)
    stale = dict(session)
    assert auth.signed_in(stale, users, settings) is None and stale == {}
    users.remove("ana")
    assert auth.signed_in(session, users, settings) is None
    assert auth.signed_in({"user": "ana", "at": time.time()}, users, settings) is None  # no session id: not ours


def test_signing_out_ends_this_session_or_every_one(users, tmp_path) -> None:
    from rag.core.settings import load_settings
    from ui import auth

    settings = load_settings(data_dir=tmp_path / "data")
    here, there, elsewhere = {}, {}, {}
    for session in (here, there, elsewhere):
        auth.sign_in(session, users.get("ana"), users, settings)
    copy = dict(here)
    auth.sign_out(here, users)
    assert here == {} and auth.signed_in(copy, users, settings) is None
    assert auth.signed_in(there, users, settings).name == "ana"
    auth.sign_out(there, users, everywhere=True)
    assert auth.signed_in(elsewhere, users, settings) is None


def age(users, hours: float) -> None:
    """Make every stored web session `hours` old."""
    from datetime import timedelta

    from sqlalchemy import update

    from rag.people.db import now, web_sessions

    with users.engine.begin() as conn:
        conn.execute(update(web_sessions).values(created_at=now() - timedelta(hours=hours)))


def test_the_secret_key_is_created_once_and_private(tmp_path) -> None:
    from rag.core.settings import load_settings
    from ui import auth

    settings = load_settings(data_dir=tmp_path / "data")
    key = auth.secret_key(settings)
    assert len(key) >= 48 and auth.secret_key(settings) == key
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    given = load_settings(data_dir=tmp_path / "data", secret_key="given")
    assert auth.secret_key(given) == "given" and "given" not in repr(given) + str(given.model_dump())


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "", None])
def test_redirects_after_login_stay_on_the_site(target) -> None:
    from ui.auth import safe_next

    assert safe_next(target) == "/mentor/"
    assert safe_next("/admin/") == "/admin/"

