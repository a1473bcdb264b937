"""Mentor uploads are untrusted: names, types, sizes and zip bombs are checked before anything is replaced."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ingest.indexer import Indexer
from ingest.uploads import check_owner, owner_of, safe_name, stage
from rag.core.errors import AccessDenied, InvalidInput
from rag.core.settings import load_settings

GOOD = "# Pairing Sessions\n\nPair for ninety minutes at most, then switch who drives the keyboard.\n"


def upload(tmp_path: Path, name: str, content: bytes | str) -> tuple[str, Path]:
    """What a web server hands over: the client's file name and a temp file."""
    temp = tmp_path / f"tmp-{abs(hash(name))}"
    temp.write_bytes(content.encode() if isinstance(content, str) else content)
    return name, temp


@pytest.mark.parametrize(
    ("name", "safe"),
    [("pairing.md", "pairing.md"), ("../../etc/pairing.md", "pairing.md"),
     ("C:\\Users\\sam\\Desktop\\pairing.md", "pairing.md"), ("/abs/path/pairing.md", "pairing.md")],
)
def test_client_paths_are_reduced_to_a_base_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


@pytest.mark.parametrize(
    ("name", "reason"),
    [("evil\x00.md", "NUL byte"), ("a" * 200 + ".md", "over the limit"), ("..", "not a usable"),
     (".bashrc", "not a usable"), ("dir/", "not a usable")],
)
def test_unsafe_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        safe_name(name)


def test_hostile_batch_each_bad_file_fails_alone(tmp_path: Path, settings) -> None:
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "0" * (30 * 2**20))  # 30 MB of zeros packs to ~30 KB
    files = [
        upload(tmp_path, "../../escape.md", GOOD),
        upload(tmp_path, "fake.pdf", "just text pretending to be a PDF"),
        upload(tmp_path, "fake.docx", "not a zip at all"),
        ("bomb.docx", bomb),
        upload(tmp_path, "tool.exe", b"MZ\x90\x00"),
        upload(tmp_path, "binary.md", b"\x00\x01\x02\x03"),
        upload(tmp_path, "nul\x00name.md", GOOD),
    ]
    report = stage(files, "alice", settings)
    assert [s.source for s in report.staged] == ["uploads/alice/escape.md"]
    assert report.staged[0].path == settings.data_dir / "uploads" / "alice" / "escape.md"
    assert not (settings.data_dir.parent / "escape.md").exists()
    errors = "\n".join(report.errors)
    assert len(report.errors) == 6, errors
    for expected in ("fake.pdf: not a PDF file", "fake.docx: not a DOCX file", "bomb.docx: refused: would inflate",
                     "tool.exe: unsupported file type '.exe'", "binary.md: looks like a binary file",
                     "nulname.md: file name contains a NUL byte"):
        assert expected in errors
    assert all("\n" not in e for e in report.errors)


def test_size_and_count_limits(tmp_path: Path) -> None:
    small = load_settings(data_dir=tmp_path / "data", max_file_mb=0.001, max_upload_files=2)
    too_big = stage([upload(tmp_path, "big.md", "# Big\n\n" + "word " * 1000)], "alice", small)
    assert too_big.errors == ["big.md: file is 0.0 MB, over the 0.001 MB limit"] and not too_big.staged
    many = stage([upload(tmp_path, f"d{i}.md", GOOD) for i in range(3)], "alice", small)
    assert not many.staged and "3 files at once: the limit is 2" in many.errors[0]


def test_a_bad_new_version_never_replaces_the_good_one(tmp_path: Path, settings) -> None:
    first = stage([upload(tmp_path, "pairing.md", GOOD)], "alice", settings)
    kept = first.staged[0].path
    broken = stage([upload(tmp_path, "pairing.md", b"\x00\xff binary garbage")], "alice", settings)
    assert broken.errors and not broken.staged
    assert kept.read_text() == GOOD
    assert sorted(p.name for p in kept.parent.iterdir()) == ["pairing.md"]  # no partial files left


def test_staged_upload_is_indexed_under_its_owner(tmp_path: Path, settings, embedder) -> None:
    staged = stage([upload(tmp_path, "pairing.md", GOOD)], "alice", settings).staged
    report = Indexer(settings, embedder).add([(s.path, s.source) for s in staged], overrides={"mentor": "alice"})
    assert report.added == ["uploads/alice/pairing.md"] and not report.failed
    assert owner_of("uploads/alice/pairing.md") == "alice" and owner_of("guides/remote.html") is None
    check_owner("uploads/alice/pairing.md", "alice", is_admin=False)
    check_owner("uploads/alice/pairing.md", "root", is_admin=True)
    with pytest.raises(AccessDenied, match="only change documents you uploaded"):
        check_owner("uploads/alice/pairing.md", "bob", is_admin=False)
