"""A real PostgreSQL 15 for the application database's tests, beside SQLite.

`postgres` (session) runs Debian's server binaries on a temp dir: loopback only, on a
free port, its unix socket inside the temp dir, trust auth, no fsync (a test server:
nothing in it must survive a power cut). initdb and pg_ctl refuse to run as root, so
as root (CI) they run as the `postgres` user through runuser.

`database_url` runs a test once per backend: "" for SQLite (the default file under the
data dir) and, for Postgres, a database of its own, created for the test and dropped
after it. It sets MENTORKB_DATABASE_URL, so every `load_settings` in the test, the
`settings` fixture and the in-process CLI use that database.

Without Postgres the postgres variants fail (never skip) with the one-line reason.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mentorkb.workers import free_ports

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MISSING = f"PostgreSQL 15 not found at {PG_BIN}: run make postgres"
OWNER = "postgres"  # the OS user that runs the server when the tests run as root

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# For a test that reads the SQLite file itself (raw sqlite3, WAL, pragmas).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Postgres:
    """A running server: databases are made and dropped through its `postgres` superuser."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self._names = itertools.count(1)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:  # CREATE/DROP DATABASE refuse a transaction
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database (copied from template1, so it costs a few ms); its URL."""
        name = f"mentorkb_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def tables(self, url: str) -> int:
        """How many tables the database at `url` holds."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=url.rsplit("/", 1)[1]) as conn:
            return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]

    def drop_database(self, url: str) -> None:
        from rag.people.db import close_databases

        close_databases()  # this process's pooled connections to it
        name = url.rsplit("/", 1)[1]
        # FORCE ends any connection still open (a server subprocess's, a leaked engine's).
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_owner(*cmd: str | Path) -> list[str]:
    """The command, run as the `postgres` user if we are root (initdb, pg_ctl refuse root)."""
    args = [str(c) for c in cmd]
    return ["runuser", "-u", OWNER, "--", *args] if os.geteuid() == 0 else args


def _run(root: Path, *cmd: str | Path) -> None:
    done = subprocess.run(_as_owner(*cmd), cwd=root, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        pytest.fail(f"{Path(str(cmd[0])).name} failed ({done.returncode}): {done.stderr.strip()}\n{tail}",
                    pytrace=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL 15 server for the session, stopped and deleted at its end."""
    if not (PG_BIN / "initdb").is_file():
        pytest.fail(MISSING, pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="mentorkb-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(OWNER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_ports(1)[0]
    try:
        _run(root, PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        # The server's time zone is UTC+14 on purpose: a server set to its local time must not
        # move the app's timestamps or its per-day counts off UTC.
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off "
                   "-c max_connections=200 -c timezone=Pacific/Kiritimati")
        _run(root, PG_BIN / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o", options,
             "start")
        try:
            yield Postgres(root, port)
        finally:
            _run(root, PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def database_for(request: pytest.FixtureRequest, backend: str) -> str:
    """"" for SQLite (the data dir's file); for Postgres a new database's URL, dropped when
    `request`'s scope ends. The server starts only when a postgres variant first asks."""
    if backend == "sqlite":
        return ""
    server: Postgres = request.getfixturevalue("postgres")
    url = server.create_database()
    request.addfinalizer(lambda: server.drop_database(url))
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, clean_environ: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's application database: "" (SQLite) or a fresh Postgres database's URL,
    set as MENTORKB_DATABASE_URL for the test (after clean_environ emptied MENTORKB_*).

    A postgres variant that never created its tables ran on SQLite after all: settings
    loaded before this fixture (list it first, or use `pytest.mark.usefixtures`)."""
    url = database_for(request, request.param)
    if url:
        monkeypatch.setenv("MENTORKB_DATABASE_URL", url)
    yield url
    if url and not request.getfixturevalue("postgres").tables(url):
        pytest.fail(f"{request.node.name} never opened its Postgres database: were its settings loaded "
                    "before the database_url fixture?", pytrace=False)
