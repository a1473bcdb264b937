"""Issue 22, finding 2: a mentor's queue call cannot hand the upload handler a server file.

The probe sent file data naming a server path (`{"path": "/etc/…", "meta":
{"_type": "gradio.FileData"}}`): Gradio's own check was skipped on mounted apps,
and the file was copied into the mentor's uploads and served to mentees. Here the
server runs with its own upload folder (GRADIO_TEMP_DIR), so a symlink can be
planted inside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.security.gradio_queue import button_fn_index, join, mentor_server
from tests.serving import post_login

MENTOR, PASSWORD = "mona", "a-long-password"


@pytest.fixture(scope="module")
def mentor_http(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("file-data")
    secret = root / "server-notes.md"
    secret.write_text("# Server notes\n\nThe vault code is TOPSECRET-4711, never share it.\n")
    with mentor_server(corpus_data_dir, root, MENTOR, PASSWORD) as (url, data, uploads):
        with httpx.Client(base_url=url, timeout=120) as http:
            signed = post_login(http, MENTOR, PASSWORD, next="/mentor/")
            assert signed.status_code == 303
            yield http, data, secret, uploads, root / "serve.log"


def upload_as(http: httpx.Client, path: str, name: str) -> dict:
    fn_index = button_fn_index(http, "Upload and index", "/mentor")
    file_data = {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    return join(http, fn_index, [[file_data], "", "", ""], "/mentor")


def stored(data: Path) -> list[str]:
    folder = data / "uploads" / MENTOR
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def test_a_real_upload_is_indexed(mentor_http) -> None:
    """The control: the same call with a file uploaded through Gradio works."""
    http, data, secret, uploads, log = mentor_http
    sent = http.post("/mentor/gradio_api/upload", files={"files": ("pairing.md", b"# Pairing\n\nPair on reviews.\n")})
    assert sent.status_code == 200, sent.text
    done = upload_as(http, sent.json()[0], "pairing.md")
    assert done["success"] and "1 uploaded" in done["output"]["data"][0], done
    assert stored(data) == ["pairing.md"]


@pytest.mark.parametrize("how", ["server path", "dot-dot", "symlink", "/dev/zero"])
def test_file_data_naming_anything_but_an_upload_is_refused(mentor_http, how: str) -> None:
    http, data, secret, uploads, log = mentor_http
    before = stored(data)
    if how == "server path":
        path, name = str(secret), "server-notes.md"
    elif how == "dot-dot":
        path, name = f"{uploads}/../{secret.name}", "server-notes.md"
    elif how == "symlink":
        planted = uploads / "planted"
        planted.mkdir(exist_ok=True)
        link = planted / "notes.md"
        if not link.is_symlink():
            os.symlink(secret, link)
        path, name = str(link), "notes.md"
    else:
        path, name = "/dev/zero", "zero.md"
    done = upload_as(http, path, name)
    assert stored(data) == before
    if done["success"]:  # Gradio let it through: our handler refused it
        assert "not a file uploaded here" in done["output"]["data"][0], done
    else:  # Gradio's own check, now that the mounted app counts as launched
        assert "was not uploaded by a user" in done["output"]["error"], done
    search = http.post("/gradio_api/call/ask", json={"data": ["What is the vault code?"]}).json()
    assert "TOPSECRET" not in http.get(f"/gradio_api/call/ask/{search['event_id']}").text


@pytest.mark.parametrize("how", ["server path", "dot-dot", "symlink", "/dev/zero", "missing"])
def test_the_handler_refuses_what_gradio_might_let_through(tmp_path: Path, monkeypatch, how: str) -> None:
    """The second layer: the upload handler's own check, whatever Gradio decided."""
    from ui.mentor import _paths

    uploads, secret = tmp_path / "gradio-uploads", tmp_path / "server-notes.md"
    (uploads / "abc").mkdir(parents=True)
    secret.write_text("# Notes\n")
    (uploads / "abc" / "good.md").write_text("# Good\n")
    os.symlink(secret, uploads / "abc" / "link.md")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    path = {"server path": str(secret), "dot-dot": f"{uploads}/abc/../../{secret.name}",
            "symlink": str(uploads / "abc" / "link.md"), "/dev/zero": "/dev/zero",
            "missing": str(uploads / "abc" / "gone.md")}[how]
    chosen, refused = _paths([str(uploads / "abc" / "good.md"), path])
    assert [name for name, _ in chosen] == ["good.md"]
    assert len(refused) == 1 and refused[0].endswith("not a file uploaded here")
