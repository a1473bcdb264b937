"""`mentorkb backup`: the copy is a working data dir holding the index, uploads and database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mentorkb.app import build
from rag.core.settings import load_settings
from rag.store.lock import writer_lock
from tests.conftest import CORPUS
from tests.test_cli import run

DOCS = ("first-meeting.md", "giving-feedback.md", "goals-and-milestones.md")


def _small_data_dir(tmp_path: Path) -> tuple[Path, str]:
    """Three documents via the CLI, one via a mentor's upload, an account and a handoff."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in DOCS:
        shutil.copy(CORPUS / name, folder / name)
    data = tmp_path / "data"
    assert run("--data-dir", str(data), "ingest", str(folder))[0] == 0
    assert run("--data-dir", str(data), "users", "add", "ana", "--role", "mentor", "--password", "x" * 12)[0] == 0
    app = build(load_settings(data_dir=data))
    ana = app.users().get("ana")
    upload = tmp_path / "check-ins.md"
    upload.write_text("# Check-ins\n\nA weekly check-in of fifteen minutes keeps a mentorship alive.\n")
    result = app.workspace.upload([("check-ins.md", upload)], ana)
    assert not result.errors, result.errors
    handoff = app.handoffs().create("legal", [("user", "I need advice about a visa.")])
    return data, handoff.ref


def _listing(data: Path) -> list[tuple[str, int]]:
    code, out, err = run("--data-dir", str(data), "list", "--json")
    assert code == 0, err
    return sorted((d["source"], d["chunks"]) for d in json.loads(out))


def test_backup_is_a_data_dir_that_answers_like_the_original(tmp_path: Path) -> None:
    data, ref = _small_data_dir(tmp_path)
    dest = tmp_path / "backup"
    code, out, err = run("--data-dir", str(data), "backup", str(dest))
    assert code == 0, err
    assert "copied uploads" in out and "copied mentorkb.sqlite3" in out and "copied CURRENT" in out

    # The original is gone: the copy alone must serve.
    shutil.rmtree(data)
    listing = _listing(dest)
    assert len(listing) == 4 and any("check-ins.md" in source for source, _ in listing)
    code, out, _ = run("--data-dir", str(dest), "ask", "How long should a weekly check-in take?", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["route"] == "answer"
    assert any("check-ins.md" in c["source"] for c in answer["citations"])
    assert run("--data-dir", str(dest), "users", "list")[1].split()[0] == "ana"
    code, out, _ = run("--data-dir", str(dest), "handoffs", "show", ref)
    assert code == 0 and "visa" in out
    # The upload's file came along, so a full rebuild of the copy keeps it.
    code, out, err = run("--data-dir", str(dest), "reindex", "--full")
    assert code == 0, err
    assert sorted(source for source, _ in _listing(dest)) == sorted(source for source, _ in listing)


def test_backup_refuses_a_used_folder_and_a_busy_index(tmp_path: Path) -> None:
    data, _ = _small_data_dir(tmp_path)
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    code, _, err = run("--data-dir", str(data), "backup", str(used))
    assert code != 0 and "used: not empty" in err and len(err.strip().splitlines()) == 1
    assert (used / "keep.txt").read_text() == "mine"  # nothing overwritten

    with writer_lock(load_settings(data_dir=data).lock_path):
        code, _, err = run("--data-dir", str(data), "backup", str(tmp_path / "busy"))
    assert code != 0 and "another process is writing the index" in err
    assert _listing(data)  # the original is untouched
