"""Issue 22, finding 1: anonymous "Talk to a human mentor" floods must not bury a crisis handoff.

The probe's attack, replayed over loopback against `mentorkb serve`: hundreds of
queue calls to the button's handler, each with a fresh `session_hash` and no cookie.
Before the fix every call stored a handoff and the views showed only the newest 200,
so an open crisis handoff fell out of both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.core.errors import InvalidInput
from rag.core.settings import Settings
from rag.people.limits import Caller
from tests.security.gradio_queue import button_fn_index, join
from tests.serving import MENTORKB, add_user, mentorkb_env, post_login, serve

FLOOD = 300


@pytest.fixture(scope="module")
def served(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("flood") / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    with serve(data, data.parent / "serve.log") as url:
        yield url, data


def handoffs_list(data: Path, *args: str) -> list[dict]:
    done = subprocess.run([str(MENTORKB), "--data-dir", str(data), "handoffs", "list", "--json", *args],
                          capture_output=True, text=True, env=mentorkb_env(), check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_flood_of_anonymous_requests_is_limited_and_the_crisis_stays_first(served) -> None:
    url, data = served
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("/gradio_api/call/ask", json={"data": ["I don't want to be alive anymore"]}).json()
        result = http.get(f"/gradio_api/call/ask/{event['event_id']}").text
        assert '"route": "handoff"' in result and '"category": "crisis"' in result, result
        fn_index = button_fn_index(http, "Send to a mentor")
        replies = [join(http, fn_index, [f"flood{n}@example.org", None], may_limit=True) for n in range(FLOOD)]
    # Past the request budget the server refuses the calls themselves (issue 31).
    limited = replies.count(None)
    replies = [r["output"]["data"][0] for r in replies if r is not None]
    stored = [r for r in replies if "Your reference is" in r]
    refused = [r for r in replies if "can't be asked from here again" in r]
    assert limited == FLOOD - Settings.model_construct().requests_per_minute + 1  # the ask above was one
    assert 0 < len(stored) <= 5 and len(stored) + len(refused) + limited == FLOOD
    assert "988" in refused[0]  # help resources even when refused
    listed = handoffs_list(data)
    assert listed[0]["category"] == "crisis" and len(listed) == 1 + len(stored)


def test_views_page_every_waiting_handoff_crisis_first(corpus_data_dir: Path, tmp_path: Path) -> None:
    """300 stored handoffs (the flood without its limit): the CLI lists them all and the
    mentor queue pages them, the crisis first in both."""
    from mentorkb.app import handoff_store
    from rag.core.settings import load_settings

    data = tmp_path / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    store = handoff_store(load_settings(data_dir=data))
    first = store.create("requested", [("user", "early")], requested_by="mentee")
    crisis = store.create("crisis", [("user", "I don't want to be alive anymore")])
    for n in range(FLOOD):
        store.create("requested", [("user", f"flood {n}")], requested_by="mentee")
    everything = handoffs_list(data, "--status", "all")
    assert len(everything) == FLOOD + 2 and [h["ref"] for h in everything[:2]] == [crisis.ref, first.ref]
    last = handoffs_list(data, "--page", "7", "--per-page", "50")
    assert len(last) == 2 and not {h["ref"] for h in last} & {crisis.ref, first.ref}
    add_user(data, "mo", "mentor", "a-long-password")
    with serve(data, tmp_path / "serve.log") as url, httpx.Client(base_url=url, timeout=60) as http:
        assert post_login(http, "mo", "a-long-password").status_code == 303
        refresh = button_fn_index(http, "Refresh queue", "/mentor")
        pages = [[value(out) for out in join(http, refresh, [None, page, "waiting"], "/mentor")["output"]["data"]]
                 for page in (1, 7)]
    (table, _, heading, _), (last_table, _, last_heading, _) = pages
    assert [row[0] for row in table["data"][:2]] == [crisis.ref, first.ref] and len(table["data"]) == 50
    assert f"{FLOOD + 2} waiting" in heading and "1 urgent (crisis)" in heading and "page 1 of 7" in heading
    assert len(last_table["data"]) == 2 and "page 7 of 7" in last_heading


def value(output):
    """A handler output's value, whether sent plainly or as a `gr.update`."""
    return output["value"] if isinstance(output, dict) and output.get("__type__") == "update" else output


def test_requests_are_limited_per_visitor_and_per_address_and_empty_ones_not_stored(tmp_path: Path,
                                                                                     embedder) -> None:
    from mentorkb.app import build, handoff_store
    from rag.core.errors import RateLimitedError
    from rag.core.settings import load_settings

    settings = load_settings(data_dir=tmp_path, handoff_requests_per_hour=2, handoff_requests_per_address_per_hour=3)
    assistant = build(settings, embedder=embedder).assistant
    with pytest.raises(InvalidInput, match="write a message or leave a contact"):
        assistant.request_human([], session="s0", caller=Caller.of(None, "v0", "10.0.0.1"))
    said = [("user", "I'd like to talk to someone")]
    for n in (1, 2):
        assistant.request_human(said, session=f"a{n}", caller=Caller.of(None, "alice", "10.0.0.1"))
    with pytest.raises(RateLimitedError):  # alice's third, with a new session id
        assistant.request_human(said, session="a3", caller=Caller.of(None, "alice", "10.0.0.1"))
    assistant.request_human(said, session="b1", caller=Caller.of(None, "bob", "10.0.0.1"))
    with pytest.raises(RateLimitedError):  # the address's fourth, whoever asks
        assistant.request_human(said, session="c1", caller=Caller.of(None, "carol", "10.0.0.1"))
    assistant.request_human(said, session="d1", caller=Caller.of(None, "dan", "10.0.0.2"))
    alice = Caller.of(None, "alice", "10.0.0.1")
    again = assistant.request_human(said, contact="alice@example.org", session="a1",
                                    caller=alice)  # her own open handoff is updated, never limited
    assert again.contact == "alice@example.org"
    assert len(handoff_store(settings).list()) == 4
