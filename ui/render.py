"""Answer -> safe Markdown. Pure functions: everything from documents is escaped,
so HTML or script inside a mentor's file is shown as text, never run."""

from __future__ import annotations

import html
import re

from datetime import datetime

from rag.text import sentences
from rag.types import Answer, Citation

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
_CITE = re.compile(r"\\\[(\d+)\\\]")


def escape_html(text: str) -> str:
    """Text safe inside HTML: tags and quotes become entities."""
    return html.escape(text or "", quote=True)


def escape(text: str) -> str:
    """Text safe to drop into Markdown: no HTML, no links, no emphasis."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def answer_markdown(answer: Answer) -> str:
    """The chat message: the answer with bold [n] markers, then its numbered sources."""
    body = _CITE.sub(r"**[\1]**", escape(answer.text))
    if answer.route == "handoff":
        # Our own fixed text (the crisis resources use bold): not from any document.
        body = answer.text
    if answer.citations:
        body += "\n\n" + sources_markdown(answer)
    if answer.notice:  # our own fixed text, like a handoff's: help resources come first
        body = f"{answer.notice}\n\n---\n\n{body}"
    return body


def sources_markdown(answer: Answer) -> str:
    lines = ["**Sources**"]
    for c in answer.citations:
        chunk = c.chunk
        where = escape(chunk.title)
        if chunk.section:
            where += f" › {escape(chunk.section)}"
        details = [escape(chunk.source)]
        if chunk.mentor:
            details.insert(0, f"by {escape(chunk.mentor)}")
        if chunk.page:
            details.append(f"p. {chunk.page}")
        snippet = escape(c.snippet if len(c.snippet) <= 300 else c.snippet[:297] + "…")
        lines.append(f"{c.n}. **{where}** ({', '.join(details)})  \n   “{snippet}”")
    return "\n".join(lines)


def citation_label(c: Citation) -> str:
    """The clickable line under an answer: '[n] Title › Section'. Shown as plain text."""
    where = c.chunk.title + (f" › {c.chunk.section}" if c.chunk.section else "")
    return f"[{c.n}] {where}"


def source_html(c: Citation) -> str:
    """The source panel: title, mentor, section, page and the passage, the cited
    sentences marked. Every document-derived string is escaped."""
    chunk = c.chunk
    facts = [("Mentor", chunk.mentor), ("Section", chunk.section), ("Page", chunk.page), ("Document", chunk.source)]
    rows = "".join(
        f"<dt>{name}</dt><dd>{escape_html(str(value))}</dd>" for name, value in facts if value not in (None, "")
    )
    return (
        f'<div class="mkb-source" data-n="{c.n}"><h3>[{c.n}] {escape_html(chunk.title)}</h3>'
        f'<dl class="mkb-facts">{rows}</dl>'
        f'<blockquote class="mkb-passage">{highlight(chunk.text, c.snippet)}</blockquote></div>'
    )


def highlight(text: str, snippet: str) -> str:
    """`text` escaped for HTML, each sentence of `snippet` it contains wrapped in <mark>.

    Matching ignores differences in whitespace (chunks keep line breaks, snippets don't).
    """
    out = escape_html(text).replace("\n", "<br>")
    for sentence in sorted(set(sentences(snippet)), key=len, reverse=True):
        words = escape_html(sentence).split()
        if not words:
            continue
        pattern = re.compile(r"(?:\s|<br>)+".join(re.escape(w) for w in words))
        out = pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", out, count=1)
    return out


def when(value: datetime | float | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM' (local time), or '-'."""
    if value is None:
        return "-"
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value)
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def transcript_markdown(transcript) -> str:
    """A handoff's conversation, escaped, one turn per paragraph."""
    names = {"user": "Mentee", "assistant": "MentorKB"}
    return "\n\n".join(f"**{names.get(role, escape(role))}:** {escape(text)}" for role, text in transcript) or "_(empty)_"
