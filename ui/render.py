"""Answer -> safe Markdown. Pure functions: everything from documents is escaped,
so HTML or script inside a mentor's file is shown as text, never run."""

from __future__ import annotations

import html
import re

from rag.types import Answer

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
_CITE = re.compile(r"\\\[(\d+)\\\]")


def escape(text: str) -> str:
    """Text safe to drop into Markdown: no HTML, no links, no emphasis."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def answer_markdown(answer: Answer) -> str:
    """The chat message: the answer with bold [n] markers, then its numbered sources."""
    body = _CITE.sub(r"**[\1]**", escape(answer.text))
    if answer.route == "handoff":
        # Our own fixed text (the crisis resources use bold): not from any document.
        body = answer.text
    if not answer.citations:
        return body
    return body + "\n\n" + sources_markdown(answer)


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
