"""HTML: the main text only. Navigation, headers, footers, scripts and styles are dropped."""

from __future__ import annotations

import warnings
from pathlib import Path

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from ingest.document import LoadedDocument
from ingest.loaders.common import read_text
from ingest.loaders.markdown import from_markdown

_DROP = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe"]
_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd"]


def html_to_markdown(html: str) -> tuple[dict, str]:
    """(metadata, Markdown of the main content) for an HTML page."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    meta: dict = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for name, key in (("author", "mentor"), ("keywords", "tags"), ("date", "date")):
        tag = soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            meta[key] = str(tag["content"])
    for tag in soup(_DROP):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines = []
    for block in root.find_all(_BLOCKS):
        # A block inside another block (a <p> inside an <li>) is read with its parent.
        if block.find_parent(_BLOCKS) is not None:
            continue
        text = " ".join(block.get_text(" ", strip=True).split())
        if not text:
            continue
        if block.name[0] == "h":
            lines.append(f"\n{'#' * int(block.name[1])} {text}\n")
        elif block.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(f"\n{text}\n")
    if not lines:  # no block markup at all: keep the bare text
        lines.append(root.get_text("\n", strip=True))
    return meta, "\n".join(lines)


def load(path: Path, source: str) -> LoadedDocument:
    meta, markdown = html_to_markdown(read_text(path, source))
    return from_markdown(path, source, markdown, "html", meta)
