"""Issue 22, findings 3 and 10: uploads need a mentor, are capped, cleaned up, and never
served without a session.

Before: `POST /gradio_api/upload` on the chat app took files of any size with no
session and nothing removed them (four 4 MB files filled a small data disk), and a
deleted upload's temp copy stayed downloadable at `/gradio_api/file=…`.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.security.gradio_queue import button_fn_index, join, mentor_server
from tests.serving import post_login

MENTOR, PASSWORD = "mira", "a-long-password"
LIMIT_MB = 1


@pytest.fixture(scope="module")
def served(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with mentor_server(corpus_data_dir, tmp_path_factory.mktemp("upload-routes"), MENTOR, PASSWORD,
                       MENTORKB_MAX_FILE_MB=str(LIMIT_MB), MENTORKB_MENTOR_QUOTA_MB="0.01") as (url, data, uploads):
        yield url, data, uploads


def files_in(folder: Path) -> list[Path]:
    """Files with content: Gradio's File component leaves an empty temp file per handled
    upload, which the next upload's sweep removes after a minute (tested below)."""
    return [p for p in folder.rglob("*") if p.is_file() and p.stat().st_size]


def test_the_chat_and_admin_take_and_serve_no_files(served) -> None:
    url, data, uploads = served
    with httpx.Client(base_url=url, timeout=60) as http:
        for prefix in ("", "/admin"):
            sent = http.post(f"{prefix}/gradio_api/upload", files={"files": ("a.md", b"# A\n")})
            assert sent.status_code == 404, (prefix, sent.text)
            assert http.get(f"{prefix}/gradio_api/upload_progress", params={"upload_id": "x"}).status_code == 404
        planted = uploads / "planted.md"
        planted.write_text("# Planted\n")
        for route in (f"/gradio_api/file={planted}", f"/gradio_api/file/{planted}", f"/mentor/gradio_api/file={planted}"):
            assert http.get(route).status_code in (401, 404), route
        planted.unlink()
    assert files_in(uploads) == []


def test_a_mentor_upload_is_capped_quota_checked_and_its_temp_copy_deleted(served) -> None:
    url, data, uploads = served
    with httpx.Client(base_url=url, timeout=120) as http:
        assert http.post("/mentor/gradio_api/upload", files={"files": ("a.md", b"# A\n")}).status_code == 401
        signed = post_login(http, MENTOR, PASSWORD)
        assert signed.status_code == 303
        big = b"# Big\n\n" + b"word " * (LIMIT_MB * 2**20 // 5 + 10)
        over = http.post("/mentor/gradio_api/upload", files={"files": ("big.md", big)})
        assert over.status_code == 413, over.text
        fn_index = button_fn_index(http, "Upload and index", "/mentor")
        results = []
        for name, body in (("small.md", b"# Small\n\nShort notes.\n"), ("second.md", b"# Second\n\n" + b"x " * 6000)):
            sent = http.post("/mentor/gradio_api/upload", files={"files": (name, body)})
            assert sent.status_code == 200, sent.text
            done = join(http, fn_index, [[{"path": sent.json()[0], "orig_name": name,
                                           "meta": {"_type": "gradio.FileData"}}], "", "", ""], "/mentor")
            results.append(done["output"]["data"][0])
            assert http.get(f"/mentor/gradio_api/file={sent.json()[0]}").status_code in (403, 404)  # deleted
    assert "1 uploaded" in results[0] and "over your upload quota" in results[1], results
    assert files_in(uploads) == []
    assert sorted(p.name for p in (data / "uploads" / MENTOR).iterdir() if not p.name.startswith(".")) == ["small.md"]


def test_the_sweep_clears_abandoned_uploads_and_gradios_empty_temp_files(tmp_path: Path) -> None:
    import os
    import time

    from ui.mentor import UPLOAD_TTL_S, _sweep

    now = time.time()
    stale, fresh = tmp_path / ("a" * 64), tmp_path / ("b" * 64)
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "doc.md").write_text("# Doc\n")
    os.utime(stale, (now - UPLOAD_TTL_S - 5, now - UPLOAD_TTL_S - 5))
    (tmp_path / "tmpold0000").touch()
    os.utime(tmp_path / "tmpold0000", (now - 120, now - 120))
    (tmp_path / "tmpnew0000").touch()  # may be an upload being received right now
    (tmp_path / "keep.txt").write_text("not Gradio's")
    _sweep(tmp_path, now)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, "keep.txt", "tmpnew0000"])
