"""What a loader returns: a document's metadata and its sections of text."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, on one page where pages exist."""

    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class LoadedDocument:
    """A parsed document, before chunking."""

    source: str
    title: str
    sections: tuple[Section, ...]
    format: str
    mentor: str = ""
    tags: tuple[str, ...] = ()
    date: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @cached_property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the normalized text and title: the document's identity in the index."""
        return content_hash(self.title + "\n" + self.text)


_SPACE = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
# Without these, a text is printable exactly when it holds no control (C*) or separator
# (Z*) characters other than the space: then there is nothing to drop.
_LINE_BREAKS = str.maketrans("", "", "\n\t")


def normalize_text(text: str) -> str:
    """NFC, unified newlines, collapsed runs of spaces and blank lines, no control chars."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    if not text.translate(_LINE_BREAKS).isprintable():  # the common case has nothing to drop
        text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    text = "\n".join(_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
