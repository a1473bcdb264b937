"""Start `mentorkb serve` as a real subprocess on a free port, for web and browser tests."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Shared with `mentorkb bench`, which starts servers the same way.
from mentorkb.tools.bench_serve import free_port, wait_for_port  # noqa: F401 - re-exported to tests

MENTORKB = Path(sys.executable).with_name("mentorkb")


def mentorkb_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORKB_")}
    return {**env, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **extra}


@contextmanager
def serve(data_dir: Path, log: Path, **env: str) -> Iterator[str]:
    """The base URL ('http://127.0.0.1:PORT/') of a server on `data_dir`, stopped on exit."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(MENTORKB), "--data-dir", str(data_dir), "serve", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=mentorkb_env(**env),
        )
    try:
        wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def add_user(data_dir: Path, name: str, role: str, password: str, **env: str) -> None:
    subprocess.run(
        [str(MENTORKB), "--data-dir", str(data_dir), "users", "add", name, "--role", role],
        check=True, capture_output=True, env=mentorkb_env(MENTORKB_NEW_PASSWORD=password, **env),
    )


def form_token(page_html: str) -> str:
    """The CSRF token of our sign-in form."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', page_html)
    assert found, "the sign-in form has no csrf_token field"
    return html.unescape(found.group(1))


def post_login(http, username: str, password: str, headers: dict[str, str] | None = None, **fields: str):
    """POST the sign-in form as a browser does: fetch it first (for its CSRF token and
    the session cookie that token belongs to), then send it back with the fields."""
    token = form_token(http.get("/login").text)
    return http.post("/login", data={"username": username, "password": password, "csrf_token": token, **fields},
                     headers=headers, follow_redirects=False)
