"""Sentences of a chunk, split by its Markdown blocks.

A soft-wrapped paragraph is one block, a list item another; headings, rules, tables
and code are not sentences. Each sentence keeps its context: the sentence before it,
or for a list item its lead-in. Ingest stores a vector for each `quotable` sentence
and the extractive answerer quotes them, so both split text the same way here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_END = re.compile(r"(?<=[.!?])[\"')\]*_]*\s+(?=[\"'(\[*_]?(?:[A-Z0-9]|[^\x00-\x7f]))")
_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_OTHER = re.compile(r"^\s*(?:#{1,6}\s|={3,}|-{3,}\s*$|\[[^\]]+\]:\s*\S+|\|)")  # heading, rule, link, table
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_STOPS = ".!?:;,)\"'"  # a line ending otherwise runs on into the next
# Words that lean on the sentence before: "This means…", "However, …".
_LEANS = re.compile(r"^(?:this|that|these|those|it|they|them|such|he|she|its|their|there|also|"
                    r"however|but|so|then|otherwise|instead)\b", re.I)


@dataclass(frozen=True)
class Unit:
    """A sentence of a chunk, with its context."""

    text: str
    kind: str  # "para" or "item"
    prev: str  # the sentence before it in its block, or a list item's lead-in; "" if none


def _blocks(text: str) -> list[tuple[str, str]]:
    """(kind, text) blocks: "para", "item" or "other", soft-wrapped lines joined."""
    out: list[tuple[str, str]] = []
    lines: list[str] = []
    kind = ""
    fenced = False

    def flush() -> None:
        nonlocal lines, kind
        if lines:
            out.append((kind, " ".join(lines)))
        lines, kind = [], ""

    for line in text.splitlines():
        if _FENCE.match(line):
            flush()
            fenced = not fenced
        elif fenced or not line.strip():
            flush()
        elif _OTHER.match(line):
            flush()
            out.append(("other", line.strip()))
        elif _ITEM.match(line):
            flush()
            kind, lines = "item", [_ITEM.sub("", line).strip()]
        else:
            if lines and lines[-1][-1] not in _STOPS and line.strip()[0].isupper():
                flush()  # a line without an end mark before a capital: a byline or label
            kind = kind or "para"
            lines.append(line.strip())
    flush()
    return out


@lru_cache(maxsize=4096)
def units(text: str) -> tuple[Unit, ...]:
    """The sentences of a chunk's text, in order, each with its context (cached: the
    same passages come back question after question)."""
    out: list[Unit] = []
    lead_in = ""  # a paragraph's last sentence introduces the list after it
    for kind, body in _blocks(text):
        if kind == "other":
            lead_in = ""
            continue
        parts = [p.strip() for p in _END.split(body) if p.strip()]
        for i, part in enumerate(parts):
            out.append(Unit(part, kind, parts[i - 1] if i else (lead_in if kind == "item" else "")))
        if kind == "para" and parts:
            lead_in = parts[-1]
    return tuple(out)



def is_quotable(unit: Unit) -> bool:
    return 3 <= len(unit.text.split()) <= 80


def quotable(text: str) -> list[str]:
    """The sentences of a chunk's text an answer may quote (3 to 80 words), each once:
    those whose vectors ingest stores."""
    return list(dict.fromkeys(u.text for u in units(text) if is_quotable(u)))


def leans(text: str) -> bool:
    """Whether a sentence leans on the one before it ("This means…", "However…")."""
    return bool(_LEANS.match(text))
