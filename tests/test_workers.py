"""Issue 32: `mentorkb serve --workers 2` on one port: both workers answer, each web
page's queue requests reach the worker that served the page, the JSON API is answered
anywhere, a worker that dies is started again, and stopping stops them all."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from mentorkb.tools.bench_serve import wait_for_workers
from tests.security.gradio_queue import button_fn_index, join
from tests.serving import serve

QUESTION = "How do I prepare for a first meeting?"


def fresh_connections(**kwargs) -> httpx.Client:
    """A client that opens a new connection for every request, so the kernel may hand
    each one to either worker, as it does for a browser's parallel connections."""
    return httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0), **kwargs)


def workers_of(master: psutil.Process) -> list[psutil.Process]:
    return [p for p in master.children() if "--worker-index" in p.cmdline()]


def page_worker(url: str) -> str | None:
    """The worker a new visitor's page load was served by (its sticky cookie)."""
    with fresh_connections(base_url=url) as http:
        http.get("/")
        return http.cookies.get("mentorkb_worker")


@pytest.fixture(scope="module")
def server(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, psutil.Process]]:
    data = tmp_path_factory.mktemp("workers") / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    with serve(data, data.parent / "serve.log", MENTORKB_WORKERS="2") as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        master = next(p for p in psutil.Process(os.getpid()).children(recursive=True)
                      if "serve" in p.cmdline() and str(port) in p.cmdline() and "--worker-index" not in p.cmdline())
        wait_for_workers(url, 2, timeout=120)  # both up and answering (raises otherwise)
        yield url, master
        pids = [p.pid for p in workers_of(master)]
    # Stopping the server (SIGTERM to the supervisor) stops every worker.
    assert pids and not any(psutil.pid_exists(pid) for pid in pids)


def test_each_page_keeps_to_its_worker(server: tuple[str, psutil.Process]) -> None:
    """Gradio's queue keeps a page's event stream in one worker: without the sticky
    cookie about half of these joins are lost (checked by hand with it stripped)."""
    url, _ = server
    for _ in range(6):
        with fresh_connections(base_url=url) as http:
            http.get("/")
            ask = button_fn_index(http, "Ask")
            for _ in range(2):
                message = join(http, ask, [QUESTION, [], None, None])
                assert message["success"], message
                assert "first meeting" in str(message["output"]["data"][0][-1]["content"]).lower()


def test_the_api_is_answered_by_any_worker_and_sets_no_cookie(server: tuple[str, psutil.Process]) -> None:
    url, master = server
    before = {p.pid: p.cpu_times().user for p in workers_of(master)}
    with fresh_connections(base_url=url) as http:
        replies = [http.post("/api/ask", json={"question": QUESTION}) for _ in range(16)]
    assert all(r.status_code == 200 and r.json()["route"] == "answer" for r in replies)
    assert not any("mentorkb_worker" in r.headers.get("set-cookie", "") for r in replies)
    busy = [pid for pid, user in before.items() if psutil.Process(pid).cpu_times().user > user + 0.01]
    assert len(busy) == 2, "both workers should have answered some of the questions"


@pytest.mark.parametrize("port, token, believed", [
    (9001, True, True),    # a sibling's forward, on this worker's private port
    (9001, False, False),  # a local process guessing, on the private port
    (7860, True, False),   # anything on the public port: the headers are dropped
])
def test_the_client_address_is_believed_only_from_a_sibling(port: int, token: bool, believed: bool) -> None:
    import asyncio

    from ui.sticky import StickyWorkers, forward_token

    seen = {}

    async def app(scope, receive, send) -> None:
        seen.update(client=scope["client"], headers=dict(scope["headers"]))

    sticky = StickyWorkers(app, 0, [9001, 9002], "the-secret")
    headers = [(b"x-mentorkb-client", b"203.0.113.9"),
               (b"x-mentorkb-forward", forward_token("the-secret" if token else "a-guess").encode())]
    scope = {"type": "http", "method": "POST", "path": "/api/ask", "headers": headers,
             "server": ("127.0.0.1", port), "client": ("127.0.0.1", 5555)}
    asyncio.run(sticky(scope, None, None))
    assert seen["client"][0] == ("203.0.113.9" if believed else "127.0.0.1")
    assert b"x-mentorkb-client" not in seen["headers"] and b"x-mentorkb-forward" not in seen["headers"]


def test_a_dead_worker_is_started_again(server: tuple[str, psutil.Process]) -> None:
    url, master = server
    [victim] = [p for p in workers_of(master) if re.search(r"--worker-index\s1\b", " ".join(p.cmdline()))]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    # A page that belonged to the dead worker is served by the other meanwhile.
    with fresh_connections(base_url=url, cookies={"mentorkb_worker": "1"}) as http:
        assert http.get("/").status_code == 200
        assert http.post("/api/ask", json={"question": QUESTION}).status_code == 200
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        again = [p for p in workers_of(master) if p.pid != victim.pid]
        if len(again) == 2 and "1" in {page_worker(url) for _ in range(8)}:
            return
        time.sleep(0.5)
    raise AssertionError("worker 1 was not started again")


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess

    from tests.serving import MENTORKB, mentorkb_env

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(MENTORKB), "--data-dir", str(tmp_path), "serve", "--port", str(port),
                               "--workers", "2"], capture_output=True, text=True, env=mentorkb_env(), timeout=60)
    assert done.returncode == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr, done.stderr
