"""Issue 31, finding 7: web sessions can be revoked.

Before: the session cookie named the user and its sign-in time, and nothing on the
server remembered it, so a copied cookie kept working after the browser signed out,
after `mentorkb users passwd`, and after the account was removed and created again.
Now each sign-in is a row in `web_sessions`: a plain sign-out ends that one, and a new
password, removing the account or `users signout` end every one.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.pg import BACKENDS, database_for
from tests.security.gradio_queue import mentor_server
from tests.serving import MENTORKB, add_user, form_token, mentorkb_env, post_login

MENTOR, PASSWORD = "mira", "a-long-password"
COOKIE = "mentorkb_session"


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """(url, data dir, the environment naming its database): a server on SQLite, then one
    on Postgres (tests/pg.py); the CLI calls below must use the same database."""
    url = database_for(request, request.param)
    db = {"MENTORKB_DATABASE_URL": url} if url else {}
    # Every sign-in here comes from one address: more than the default limit allows.
    with mentor_server(corpus_data_dir, tmp_path_factory.mktemp("sessions"), MENTOR, PASSWORD,
                       MENTORKB_LOGIN_ATTEMPTS="100", **db) as (url, data, _):
        yield url, data, db


def login(http: httpx.Client, name: str, password: str) -> httpx.Client:
    """Sign `http` in through the form (with its CSRF token)."""
    signed = post_login(http, name, password)
    assert signed.status_code == 303, signed.text
    return http


@contextmanager
def browsers(url: str, count: int) -> Iterator[list[httpx.Client]]:
    clients = [httpx.Client(base_url=url, timeout=60) for _ in range(count)]
    try:
        yield clients
    finally:
        for http in clients:
            http.close()


def stolen(url: str, http: httpx.Client) -> httpx.Client:
    """Another client holding a copy of `http`'s session cookie."""
    return httpx.Client(base_url=url, timeout=60, cookies={COOKIE: http.cookies[COOKIE]})


def status(http: httpx.Client) -> int:
    return http.get("/mentor/config").status_code


def users_cli(data: Path, *args: str, **env: str) -> str:
    done = subprocess.run([str(MENTORKB), "--data-dir", str(data), "users", *args],
                          capture_output=True, text=True, env=mentorkb_env(**env))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_copied_cookie_dies_when_its_browser_signs_out(served) -> None:
    url, _, _ = served
    with browsers(url, 2) as (laptop, phone):
        for http in (laptop, phone):
            login(http, MENTOR, PASSWORD)
        with stolen(url, laptop) as thief:
            assert status(thief) == 200
            assert laptop.get("/logout", follow_redirects=False).status_code == 303
            assert status(thief) == 401 and status(laptop) == 401
        assert status(phone) == 200  # a plain sign-out leaves the account's other browsers alone


def test_a_new_password_ends_every_session(served) -> None:
    url, data, db = served
    add_user(data, "pia", "mentor", PASSWORD, **db)
    with browsers(url, 3) as (laptop, phone, later):
        for http in (laptop, phone):
            login(http, "pia", PASSWORD)
        with stolen(url, laptop) as thief:
            assert status(thief) == 200
            users_cli(data, "passwd", "pia", MENTORKB_NEW_PASSWORD="another-long-password", **db)
            assert [status(thief), status(laptop), status(phone)] == [401, 401, 401]
        assert status(login(later, "pia", "another-long-password")) == 200


def test_an_account_removed_and_created_again_does_not_revive_old_cookies(served) -> None:
    from mentorkb.app import user_store
    from rag.core.settings import load_settings

    url, data, db = served
    add_user(data, "rex", "mentor", PASSWORD, **db)
    accounts = user_store(load_settings(data_dir=data, database_url=db.get("MENTORKB_DATABASE_URL")))
    before = accounts.get("rex").id
    with browsers(url, 1) as (laptop,), stolen(url, login(laptop, "rex", PASSWORD)) as thief:
        assert status(thief) == 200
        users_cli(data, "remove", "rex", **db)
        users_cli(data, "add", "rex", "--role", "mentor", MENTORKB_NEW_PASSWORD=PASSWORD, **db)
        # SQLite gave the newest id again (the case that matters); Postgres never reuses one.
        assert (accounts.get("rex").id == before) == (not db)
        assert status(thief) == 401 and status(laptop) == 401


def test_signout_and_sign_out_everywhere_end_all_of_an_accounts_sessions(served) -> None:
    url, data, db = served
    add_user(data, "sam", "mentor", PASSWORD, **db)
    with browsers(url, 4) as (laptop, phone, tablet, desk):
        for http in (laptop, phone):
            login(http, "sam", PASSWORD)
        with stolen(url, laptop) as thief:
            assert users_cli(data, "signout", "sam", **db).strip() == "2 web sessions ended for sam"
            assert [status(thief), status(laptop), status(phone)] == [401, 401, 401]
        for http in (tablet, desk):
            login(http, "sam", PASSWORD)
        assert tablet.get("/logout", params={"everywhere": "1"}, follow_redirects=False).status_code == 303
        assert status(desk) == 200  # a GET (a link another site could send) ends only its own session
        login(tablet, "sam", PASSWORD)
        # Without the form's token (a page on another site): refused, nothing ended.
        assert tablet.post("/logout", data={"everywhere": "1"}, follow_redirects=False).status_code == 403
        assert status(desk) == 200 and status(tablet) == 200
        token = form_token(tablet.get("/logout/everywhere").text)
        ended = tablet.post("/logout", data={"everywhere": "1", "csrf_token": token}, follow_redirects=False)
        assert ended.status_code == 303
        assert status(desk) == 401 and status(tablet) == 401


def test_the_store_keeps_only_hashes_and_ends_sessions(tmp_path: Path, database_url: str) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from mentorkb.app import user_store
    from rag.core.errors import NotFoundError
    from rag.core.settings import load_settings
    from rag.people.db import now, web_sessions

    store = user_store(load_settings(data_dir=tmp_path / "data"))
    ana, bob = store.add("ana", "mentor", PASSWORD), store.add("bob", "admin", PASSWORD)

    def rows() -> list[tuple]:
        with store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(web_sessions))]

    first = store.start_session(ana, 3600)
    assert len(first) >= 43 and rows()[0][:2] == (hashlib.sha256(first.encode()).hexdigest(), ana.id)
    assert first not in repr(rows())
    assert store.session_user(first, 3600).name == "ana"
    assert store.session_user(first, 0) is None and store.session_user("made-up", 3600) is None
    assert store.end_session(first) == 1 and store.session_user(first, 3600) is None
    assert store.end_session(first) == 0

    kept = [store.start_session(ana, 3600) for _ in range(3)]
    assert store.end_session(kept[0], everywhere=True) == 3 and rows() == []
    assert store.start_session(ana, 3600) and store.end_sessions("ana") == 1
    with pytest.raises(NotFoundError):
        store.end_sessions("nobody")

    old = store.start_session(ana, 3600)
    with store.engine.begin() as conn:
        conn.execute(update(web_sessions).values(created_at=now() - timedelta(hours=2)))
    store.start_session(ana, 3600)  # clears ana's expired rows on the way
    assert len(rows()) == 1 and store.session_user(old, 3 * 3600) is None

    store.set_password("ana", "another-long-password")
    assert rows() == []
    bobs = store.start_session(bob, 3600)
    store.remove("bob")
    # SQLite gives the re-created account bob's id again (the case that matters); Postgres a new one.
    assert (store.add("bob", "admin", PASSWORD).id == bob.id) == (not database_url)
    assert store.session_user(bobs, 3600) is None
