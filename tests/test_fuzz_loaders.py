"""Hostile bytes: every loader, fed random and mutated files, fails cleanly or loads.

Files are parsed in the sandbox worker (ingest/sandbox.py), as ingest does, so a
hang would be cut by the time limit and a crash would fail one file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import sandbox
from ingest.document import LoadedDocument
from rag.core.errors import LoaderError
from tests.conftest import CORPUS

SEEDS = {
    ".pdf": (CORPUS / "promotion-readiness.pdf").read_bytes(),
    ".docx": (CORPUS / "midpoint-review.docx").read_bytes(),
    ".html": (CORPUS / "skill-building.html").read_bytes(),
    ".md": (CORPUS / "good-mentor.md").read_bytes(),
    ".txt": "Plain notes.\n\nA second paragraph with ünïcödé.\n".encode(),
}
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """The seed file with bytes flipped, a slice cut out or duplicated, or truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "dup", "truncate", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at: at + draw(st.integers(1, 4096))]
        elif kind == "dup":
            data[at:at] = data[at: at + draw(st.integers(1, 4096))]
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def check(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        doc = sandbox.load(path, path.name, timeout_s=20)
    except LoaderError as e:
        assert str(e).startswith(f"{path.name}: ") and "\n" not in str(e), str(e)
    else:
        assert isinstance(doc, LoadedDocument) and doc.text.strip()


@pytest.mark.parametrize("suffix", sorted(SEEDS))
def test_mutated_files_fail_cleanly(tmp_path: Path, suffix: str) -> None:
    @FUZZ
    @given(content=mutated(SEEDS[suffix]))
    def run(content: bytes) -> None:
        check(tmp_path, suffix, content)

    run()


@pytest.mark.parametrize("suffix", sorted(SEEDS))
def test_random_bytes_fail_cleanly(tmp_path: Path, suffix: str) -> None:
    @FUZZ
    @given(content=st.binary(max_size=4096))
    def run(content: bytes) -> None:
        check(tmp_path, suffix, content)

    run()


def test_a_file_over_the_time_limit_is_skipped_and_the_worker_recovers(tmp_path: Path) -> None:
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(SEEDS[".pdf"])
    with pytest.raises(LoaderError, match=r"^slow\.pdf: took longer than 1e-06 s to read; skipped$"):
        sandbox.load(slow, "slow.pdf", timeout_s=1e-6)
    assert sandbox.load(slow, "slow.pdf", timeout_s=30).title  # a fresh worker takes over


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
       | st.text(alphabet=" \t\n\r\u00a0\u200b\u2028\x07\x00ab.", max_size=30))
def test_normalizing_drops_exactly_the_control_characters(text: str) -> None:
    """The printable fast path of normalize_text gives what the per-character filter gives."""
    import unicodedata

    from ingest.document import normalize_text

    nfc = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(c for c in nfc if c in "\n\t" or unicodedata.category(c)[0] != "C")
    assert normalize_text(text) == normalize_text(kept)
    assert not any(unicodedata.category(c)[0] == "C" for c in normalize_text(text) if c not in "\n\t")
