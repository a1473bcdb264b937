"""Gradio's queue protocol spoken directly, as the probe did: join, then read the result."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def button_fn_index(http: httpx.Client, label: str, prefix: str = "") -> int:
    """The queue index of the event behind the button labelled `label` (from the app's config)."""
    config = http.get(f"{prefix}/config").json()
    ids = {c["id"] for c in config["components"] if c.get("props", {}).get("value") == label}
    return next(i for i, d in enumerate(config["dependencies"]) if any(t[0] in ids for t in d["targets"]))


def join(http: httpx.Client, fn_index: int, data: list, prefix: str = "", may_limit: bool = False) -> dict | None:
    """Join the queue as a new client session; the `process_completed` message (None
    when `may_limit` and the server refused the call with 429).

    `message["success"]` says whether the handler ran; its first output is
    `message["output"]["data"][0]`, Gradio's error text `message["output"]["error"]`.
    """
    session = uuid.uuid4().hex
    joined = http.post(f"{prefix}/gradio_api/queue/join",
                       json={"data": data, "fn_index": fn_index, "session_hash": session,
                             "event_data": None, "trigger_id": None})
    if may_limit and joined.status_code == 429:
        return None
    assert joined.status_code == 200, joined.text
    with http.stream("GET", f"{prefix}/gradio_api/queue/data", params={"session_hash": session}) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the queue closed without a result")


@contextmanager
def mentor_server(corpus_data_dir: Path, root: Path, mentor: str, password: str,
                  **env: str) -> Iterator[tuple[str, Path, Path]]:
    """(url, data dir, Gradio upload folder) of `mentorkb serve` on a copy of the corpus
    index, with a mentor account and its own upload folder (GRADIO_TEMP_DIR)."""
    from tests.serving import add_user, serve

    data, uploads = root / "data", root / "gradio-uploads"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    add_user(data, mentor, "mentor", password, **env)  # the server's database (MENTORKB_DATABASE_URL)
    uploads.mkdir()
    with serve(data, root / "serve.log", GRADIO_TEMP_DIR=str(uploads), **env) as url:
        yield url, data, uploads
