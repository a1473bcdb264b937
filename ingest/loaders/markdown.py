"""Markdown with optional YAML front matter (title, mentor, tags, date)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ingest.document import LoadedDocument
from ingest.loaders.common import (
    as_str,
    as_tags,
    first_heading,
    markdown_sections,
    read_text,
    title_from_path,
)
from rag.core.errors import LoaderError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def split_front_matter(text: str, source: str) -> tuple[dict, str]:
    """(front matter as a dict, body). Malformed YAML is an error, not silently body."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        raise LoaderError(source, f"invalid YAML front matter{line}") from e
    if not isinstance(meta, dict):
        raise LoaderError(source, "front matter must be a YAML mapping")
    return meta, text[match.end():]


def from_markdown(path: Path, source: str, text: str, fmt: str, meta: dict) -> LoadedDocument:
    """Build a document from Markdown text and already-known metadata."""
    sections = markdown_sections(text)
    return LoadedDocument(
        source=source,
        title=as_str(meta.get("title")) or first_heading(sections) or title_from_path(path),
        sections=tuple(sections),
        format=fmt,
        mentor=as_str(meta.get("mentor") or meta.get("author")),
        tags=as_tags(meta.get("tags")),
        date=as_str(meta.get("date")),
    )


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)


def load(path: Path, source: str) -> LoadedDocument:
    meta, body = split_front_matter(read_text(path, source), source)
    # A reader never sees an HTML comment, so neither does the index (hidden
    # instructions are a classic injection vector).
    body = _COMMENT.sub("", body)
    return from_markdown(path, source, body, "markdown", meta)
