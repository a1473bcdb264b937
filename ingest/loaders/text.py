"""Plain text: the first line is the title; short stand-alone lines are headings.

An optional `Mentor: Name` (or `Author:`) line near the top names the mentor.
"""

from __future__ import annotations

import re
from pathlib import Path

from ingest.document import LoadedDocument
from ingest.loaders.common import read_text
from ingest.loaders.markdown import from_markdown

_META_LINE = re.compile(r"^(mentor|author|tags|date)\s*:\s*(.+)$", re.I)


def _is_heading(lines: list[str], i: int) -> bool:
    """A short line, set apart by a blank line above and text below, not ending a sentence."""
    line = lines[i].strip()
    before = lines[i - 1].strip() if i > 0 else ""
    after = lines[i + 1].strip() if i + 1 < len(lines) else ""
    return (
        0 < len(line) <= 70
        and not before
        and bool(after)
        and line[-1] not in ".,;:!?\"'"
        and not line.startswith(("-", "*", "•"))
        and not re.match(r"^\d+[.)]\s", line)
    )


def text_to_markdown(text: str) -> tuple[dict, str]:
    """(metadata, Markdown) for a plain-text document."""
    lines = text.replace("\r\n", "\n").split("\n")
    meta: dict = {}
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines:
        meta["title"] = lines.pop(0).strip()
    out = []
    for i, line in enumerate(lines):
        found = _META_LINE.match(line.strip())
        if found and i < 6:
            meta[found.group(1).lower()] = found.group(2).strip()
            continue
        out.append(f"## {line.strip()}" if _is_heading(lines, i) else line)
    return meta, "\n".join(out)


def load(path: Path, source: str) -> LoadedDocument:
    meta, markdown = text_to_markdown(read_text(path, source))
    return from_markdown(path, source, markdown, "text", meta)
