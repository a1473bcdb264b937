"""The one JSON-lines reader: blank lines skipped, a bad line named by file and line."""

from __future__ import annotations

import pytest

from rag.core.errors import InvalidInput
from rag.core.jsonl import read_jsonl, rows


def test_reads_objects_and_skips_blank_lines(tmp_path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n', encoding="utf-8")
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert [number for number, _ in rows(path)] == [1, 4]


def test_a_bad_line_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{oops\n[1]\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.jsonl:2: invalid JSON \(.+\)$"):
        read_jsonl(path)
    kept = list(rows(path, keep_going=True))
    assert [n for n, _ in kept] == [1, 2, 3] and isinstance(kept[1][1], InvalidInput) and kept[2][1] == [1]
    path.write_text('{"a": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.jsonl:2: not a JSON object"):
        read_jsonl(path)
