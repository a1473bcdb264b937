"""JSON-lines files: one JSON value a line, blank lines skipped, errors naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.core.errors import InvalidInput


def rows(path: Path, *, keep_going: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of `path`, in order.

    A malformed line raises InvalidInput "FILE:LINE: invalid JSON (reason)". With
    `keep_going`, that InvalidInput is yielded in the value's place instead, so a batch
    can report the line and go on.
    """
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                value = InvalidInput(f"{path}:{number}: invalid JSON ({e.msg})")
                if not keep_going:
                    raise value from None
            yield number, value


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of `path` as an object, in order; a malformed line, or one that is not
    a JSON object, raises InvalidInput naming the file and line."""
    items = []
    for number, item in rows(path):
        if not isinstance(item, dict):
            raise InvalidInput(f"{path}:{number}: not a JSON object")
        items.append(item)
    return items


def history(value: Any) -> list[tuple[str, str]]:
    """A record's conversation, a list of {"role": "user" | "assistant", "content": str}
    oldest first, as (role, text) turns.

    Raises:
        ValueError: why it can't be read, to follow the field's name in an error line.
    """
    if not isinstance(value, list):
        raise ValueError('must be a list of {"role", "content"} objects')
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant") \
                or not isinstance(turn.get("content"), str):
            raise ValueError(f"item {i}: needs a 'role' of \"user\" or \"assistant\" and a string 'content'")
        turns.append((turn["role"], turn["content"]))
    return turns
