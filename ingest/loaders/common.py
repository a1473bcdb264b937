"""Helpers shared by the loaders: decoding, front matter, Markdown sections."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from langchain_text_splitters import MarkdownHeaderTextSplitter

from ingest.document import Section, normalize_text
from rag.core.errors import LoaderError

log = logging.getLogger(__name__)

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]


def read_text(path: Path, source: str) -> str:
    """The file's text: UTF-8, else the encoding charset-normalizer detects.

    A file that is not text at all (NUL bytes) is a LoaderError. Undecodable
    bytes in a detected encoding become U+FFFD rather than a crash.
    """
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise LoaderError(source, "looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding if best is not None else "utf-8"
    log.info("%s: not UTF-8, decoding as %s", source, encoding)
    return data.decode(encoding, errors="replace")


_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: keep the alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep the words
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # italics
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # inline code
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),  # block quotes
]


def plain_inline(text: str) -> str:
    """Markdown inline markup removed: chunks hold plain text for embedding and display."""
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def markdown_sections(markdown: str) -> list[Section]:
    """Split Markdown on headings; each section keeps its heading path."""
    splitter = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
    sections = []
    for piece in splitter.split_text(markdown):
        text = normalize_text(plain_inline(piece.page_content))
        if not text:
            continue
        headings = tuple(
            normalize_text(plain_inline(piece.metadata[key])) for _, key in _HEADERS if key in piece.metadata
        )
        sections.append(Section(text=text, headings=headings))
    return sections


def first_heading(sections: list[Section]) -> str:
    for section in sections:
        if section.headings:
            return section.headings[0]
    return ""


def as_str(value: Any) -> str:
    """A front-matter or property value as display text."""
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return normalize_text(str(value))


def as_tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = re.split(r"[,;]", value)
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = [str(value)]
    return tuple(t for t in (normalize_text(i) for i in items) if t)


def title_from_path(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
