"""Real faults: a full disk and a read-only data dir, on a small tmpfs mounted for the test.

Each must give a clear one-line error, lose nothing committed, and recover by
itself once the fault is gone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mentorkb.app import build
from mentorkb.cli import cli
from rag.core.settings import load_settings
from tests.conftest import CORPUS

FIRST = ["good-mentor.md", "skill-building.html"]
LATER = ["promotion-readiness.pdf", "giving-feedback.md"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 40 MB tmpfs: real ENOSPC and EROFS from the kernel."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def docs(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "-".join(n.split(".")[0] for n in names)
    if folder.exists():
        return folder
    folder.mkdir()
    for name in names:
        shutil.copy(CORPUS / name, folder / name)
    return folder


def mentorkb(data: Path, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(data), *args])


def listed(data: Path) -> list[str]:
    return sorted(line.split("\t")[0] for line in mentorkb(data, "list").output.splitlines() if "\t" in line)


def test_full_disk_fails_cleanly_keeps_everything_and_recovers(small_disk: Path, tmp_path: Path, embedder) -> None:
    data = small_disk / "data"
    assert mentorkb(data, "ingest", str(docs(tmp_path, FIRST))).exit_code == 0
    filler = small_disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=100"], capture_output=True)

    full = mentorkb(data, "ingest", str(docs(tmp_path, LATER)))
    assert full.exit_code == 1
    message = full.output.strip().splitlines()
    assert len(message) == 1 and ("disk is full" in message[0] or "No space left" in message[0]), full.output
    assistant = build(load_settings(data_dir=data), embedder=embedder).assistant
    crisis = assistant.ask("I want to end my life")
    assert crisis.route == "handoff" and "988" in crisis.text and "with the human mentors" not in crisis.text
    answer = assistant.ask("What makes a good mentor?")
    assert answer.route in ("answer", "abstain")  # unavailable is an abstention that offers a human

    filler.unlink()
    assert mentorkb(data, "ingest", str(docs(tmp_path, LATER))).exit_code == 0
    assert listed(data) == sorted(FIRST + LATER)
    recovered = build(load_settings(data_dir=data), embedder=embedder).assistant.ask("What makes a good mentor?")
    assert recovered.route == "answer" and recovered.citations[0].chunk.source == "good-mentor.md"
    assert recovered.handoff_ref is None and assistant.ask("I want to end my life").handoff_ref  # the same object recovers


def test_read_only_data_dir_fails_cleanly_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    data = small_disk / "data"
    assert mentorkb(data, "ingest", str(docs(tmp_path, FIRST))).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        refused = mentorkb(data, "ingest", str(docs(tmp_path, LATER)))
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert len(refused.output.strip().splitlines()) == 1
        assert "Read-only file system" in refused.output or "readonly database" in refused.output
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert mentorkb(data, "ingest", str(docs(tmp_path, LATER))).exit_code == 0
    assert listed(data) == sorted(FIRST + LATER)
