"""Issue 22, finding 8: one mentor's hostile upload must not hold up another mentor's.

The probe uploaded a YAML alias bomb three times; each took the loader's whole time
limit, inside the index lock and in Gradio's one-at-a-time event queue, so another
mentor's small upload waited three minutes. Here the time limit is 3 s and the
bombs take it all; the other mentor's upload must finish while they still run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.security.gradio_queue import button_fn_index, join, mentor_server
from tests.serving import add_user, post_login

BOMBS = 3


def alias_bomb() -> bytes:
    """Markdown whose YAML front matter expands to 9^9 strings when read."""
    lines = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join([*lines, "title: *i", "---", "# Bomb", "", "text", ""]).encode()


@contextmanager
def signed_in(url: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=300) as http:
        assert post_login(http, name, "a-long-password").status_code == 303
        yield http


def upload(http: httpx.Client, files: list[tuple[str, bytes]]) -> str:
    sent = http.post("/mentor/gradio_api/upload", files=[("files", f) for f in files])
    assert sent.status_code == 200, sent.text
    data = [{"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
            for path, (name, _) in zip(sent.json(), files)]
    done = join(http, button_fn_index(http, "Upload and index", "/mentor"), [data, "", "", ""], "/mentor")
    return done["output"]["data"][0]


def test_a_hostile_upload_does_not_hold_up_another_mentor(corpus_data_dir: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fairness")
    with mentor_server(corpus_data_dir, root, "eve", "a-long-password", MENTORKB_LOADER_TIMEOUT_S="3",
                       MENTORKB_UPLOAD_WORKERS="2") as (url, data, _):
        add_user(data, "bea", "mentor", "a-long-password")
        finished: dict[str, float] = {}
        replies: dict[str, str] = {}

        def hostile() -> None:
            with signed_in(url, "eve") as http:
                replies["eve"] = upload(http, [(f"bomb{n}.md", alias_bomb()) for n in range(BOMBS)])
            finished["eve"] = time.monotonic()

        attacker = threading.Thread(target=hostile)
        attacker.start()
        time.sleep(1.0)  # the first bomb is being read
        with signed_in(url, "bea") as http:
            replies["bea"] = upload(http, [("pairing.md", b"# Pairing\n\nPair on code reviews weekly.\n")])
        finished["bea"] = time.monotonic()
        attacker.join(120)
    assert "1 uploaded" in replies["bea"], replies
    assert f"{BOMBS} refused" in replies["eve"] and "took longer than 3 s" in replies["eve"], replies
    assert finished["bea"] < finished["eve"]  # bea's upload did not wait for eve's bombs
