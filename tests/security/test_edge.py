"""Issue 31: the probe's findings 4, 6, 9 and 11, replayed over loopback against `mentorkb serve`.

Before the fix: 300 of 300 direct `/gradio_api/call/ask` calls were answered; a new
client-chosen `session_hash` reset the chat's limit; a 1 MB message was echoed whole
and 20 MB ones were read into memory; a cross-site form could sign a victim in; and
any local client could pick its address with X-Forwarded-For.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.core.settings import Settings
from tests.security.gradio_queue import button_fn_index, join
from tests.serving import add_user, form_token, post_login, serve

DEFAULTS = Settings.model_construct()  # the documented defaults, which the server runs with
PASSWORD = "a-long-password"


@pytest.fixture(scope="module")
def url(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("edge") / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    add_user(data, "mo", "mentor", PASSWORD)
    with serve(data, data.parent / "serve.log") as base:
        yield base


def test_direct_api_calls_get_429_past_the_question_limit(url: str) -> None:
    limit = DEFAULTS.rate_limit_per_minute
    with httpx.Client(base_url=url, timeout=60) as http:
        calls = [http.post("/gradio_api/call/ask", json={"data": ["How often should we meet?"]}) for _ in range(150)]
        codes = [c.status_code for c in calls]
        assert codes[:limit] == [200] * limit and codes[limit:] == [429] * (150 - limit), codes
        assert int(calls[-1].headers["Retry-After"]) > 0 and "too many questions" in calls[-1].json()["error"]
        # Each accepted call is counted once: the last of them is answered, not told to wait.
        for accepted in (calls[0], calls[limit - 1]):
            answered = http.get(f"/gradio_api/call/ask/{accepted.json()['event_id']}").text
            assert '"route": "answer"' in answered, answered


def test_a_new_session_hash_does_not_reset_the_chat_limit(url: str) -> None:
    """One browser (one visitor cookie) that picks a new session_hash for each message."""
    limit = DEFAULTS.rate_limit_per_minute
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/").status_code == 200 and http.cookies.get("mentorkb_session")
        ask = button_fn_index(http, "Ask")
        replies = [join(http, ask, ["How do I prepare for a first meeting?", [], None, None])["output"]["data"][0]
                   for _ in range(limit + 3)]
    said = [str(r[-1]["content"]) for r in replies]
    assert not any("wait about" in s for s in said[:limit])
    assert all("wait about" in s for s in said[limit:]), said[limit:]


def test_a_huge_message_is_cut_before_it_is_echoed_and_huge_bodies_refused(url: str) -> None:
    cap = DEFAULTS.max_question_chars
    with httpx.Client(base_url=url, timeout=120) as http:
        http.get("/")
        ask = button_fn_index(http, "Ask")
        message = "How often should a mentor and mentee meet? " + "x" * 2**20
        reply = join(http, ask, [message, [], None, None])["output"]["data"][0]
        echoed = str(reply[0]["content"])
        assert "How often should a mentor" in echoed and len(echoed) < cap + 500, len(echoed)
        too_big = http.post("/gradio_api/queue/join", content=b"{" + b" " * (DEFAULTS.max_request_kb * 1024 + 1),
                            headers={"content-type": "application/json"})
        assert too_big.status_code == 413 and "too large" in too_big.json()["error"]

        def stream():  # no Content-Length: cut off as it streams in
            for _ in range(DEFAULTS.max_request_kb // 64 + 2):
                yield b" " * 65536

        chunked = http.post("/gradio_api/queue/join", content=stream(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413


def test_a_cross_site_login_post_is_refused(url: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as attacker, httpx.Client(base_url=url, timeout=60) as victim:
        # The attacker's own page: a form posting the attacker's name and password, and
        # even a token from the attacker's own session; the victim's browser has none.
        token = form_token(attacker.get("/login").text)
        forged = victim.post("/login", data={"username": "mo", "password": PASSWORD, "csrf_token": token},
                             headers={"origin": "https://evil.example"}, follow_redirects=False)
        assert forged.status_code == 403 and "expired" in forged.text
        assert victim.get("/mentor/config").status_code == 401
        assert post_login(victim, "mo", PASSWORD).status_code == 303  # the real form still works


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy(url: str) -> None:
    """Sign-in attempts under new names, each claiming another address: still one address."""
    attempts = DEFAULTS.login_attempts
    with httpx.Client(base_url=url, timeout=60) as http:
        codes = [post_login(http, f"nobody{n}", "wrong-password-1",
                            headers={"x-forwarded-for": f"203.0.113.{n}"}).status_code for n in range(attempts + 1)]
    # Earlier tests' sign-ins came from this address too, so the limit may come sooner.
    assert codes[-1] == 429 and set(codes) == {401, 429} and codes.index(429) <= attempts, codes


def test_a_listed_proxy_is_believed(corpus_data_dir: Path, tmp_path: Path) -> None:
    """Behind a proxy in MENTORKB_TRUSTED_PROXIES each client counts under its own address."""
    data = tmp_path / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    attempts = 2
    with serve(data, tmp_path / "serve.log", MENTORKB_TRUSTED_PROXIES="127.0.0.1",
               MENTORKB_LOGIN_ATTEMPTS=str(attempts)) as base, httpx.Client(base_url=base, timeout=60) as http:
        def attempt(name: str, client: str) -> int:
            return post_login(http, name, "wrong-password-1", headers={"x-forwarded-for": client}).status_code

        assert [attempt(f"a{n}", f"203.0.113.{n}") for n in range(attempts + 2)] == [401] * (attempts + 2)
        assert [attempt(f"b{n}", "198.51.100.7") for n in range(attempts + 1)] == [401] * attempts + [429]
