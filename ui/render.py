"""Answer -> safe HTML, by markdown-it-py. Pure functions, one path for every page:

- our own text (citation markers, the Sources list, crisis resources, statuses) is
  Markdown, rendered with raw HTML off;
- user and document text goes into it as text: escaped once, by markdown-it's text
  renderer, after our Markdown is parsed, so it shows as typed and can never make a
  tag, a link, emphasis or a heading.

The components that show this HTML add nothing of their own: the chat's Chatbot has
Markdown and LaTeX off (it still sanitizes), and the other panels are `gr.HTML`.
"""

from __future__ import annotations

import re
from datetime import datetime

from markdown_it import MarkdownIt

from rag.core.text import sentences
from rag.core.types import Answer, Citation

# Our Markdown: CommonMark with raw HTML off, so even our own text cannot smuggle in a tag.
_OURS = MarkdownIt("commonmark", {"html": False})
# User and document text: markdown-it's "zero" preset knows no syntax at all (no links,
# emphasis, headings, entities or backslash escapes); it only escapes and keeps line breaks.
_TEXT = MarkdownIt("zero", {"breaks": True}).enable("newline")
# Where a value goes while our Markdown is parsed: private-use characters, which no
# Markdown rule touches.
_FIELD = re.compile("\ue000(\\d+)\ue001")
_CITE = re.compile(r"\[(\d+)\]")
# A handoff transcript's turns: emphasis and lists, nothing that links, embeds or shouts.
_TURN = MarkdownIt("commonmark", {"html": False}).disable(["link", "image", "autolink", "reference", "heading",
                                                           "lheading"])
# A handoff's state, as the mentee who asked reads it.
_STATE = {"open": "waiting for a mentor to pick it up.", "claimed": "a mentor is looking after it.",
          "resolved": "closed by a mentor."}
SNIPPET_CHARS = 300


def text(value: object) -> str:
    """User or document text as HTML: shown as typed, line breaks kept, nothing live."""
    return _TEXT.renderInline("" if value is None else str(value))


def markdown(template: str, *values: object) -> str:
    """Our own Markdown as HTML, each `{}` in it filled with a value shown as `text`.

    The template is parsed before the values go in, so nothing in a value is read as
    Markdown. Without values the template is used as it is, braces and all (operators'
    settings, such as the crisis resources, are Markdown of our own too).
    """
    if not values:
        return _OURS.render(template)
    parsed = _OURS.render(template.format(*(f"\ue000{i}\ue001" for i in range(len(values)))))
    return _FIELD.sub(lambda m: text(values[int(m[1])]), parsed)


def answer_html(answer: Answer, listed: bool = True) -> str:
    """The chat message: any notice first, the question as a follow-up was read ("Answering: …"),
    the answer with bold [n] markers, then its sources (unless not `listed`)."""
    if answer.route == "handoff":
        body = markdown(answer.text)  # our own fixed text (the crisis resources use bold)
    else:  # the answer quotes documents: text, with our markers made bold after escaping
        body = _CITE.sub(r"<strong>[\1]</strong>", markdown("{}", answer.text))
    if answer.citations and listed:
        body += sources_html(answer)
    if answer.resolved and answer.route != "handoff":  # how a follow-up was read, so a wrong guess shows
        body = f'<p class="mkb-resolved">Answering: {text(answer.resolved)}</p>' + body
    if answer.notice:  # our own fixed text, like a handoff's: help resources come first
        body = markdown(f"{answer.notice}\n\n---") + body
    return body


def announcement(answer: Answer) -> str:
    """What a screen reader hears once an answer is complete: the message without its
    sources list, then how many sources it has and where to open them."""
    count = len(answer.citations)
    where = f"<p>{count} source{'s' if count != 1 else ''}: pick one under Sources to read it.</p>" if count else ""
    return answer_html(answer, listed=False) + where


def sources_html(answer: Answer) -> str:
    """The numbered Sources list: title › section (mentor, document, page) and the cited words.

    It sits in a box of its own (`.mkb-sources`, `ui.look.CSS`) that scrolls past a few
    sources, so the chat, scrolled to its end, still shows the answer above it.
    """
    lines, values = ["**Sources**", ""], []

    def field(value: object) -> str:  # a `{}` the value fills, in the order they are written
        values.append(value)
        return "{}"

    for c in answer.citations:
        chunk = c.chunk
        where = field(chunk.title) + (f" › {field(chunk.section)}" if chunk.section else "")
        details = [f"by {field(chunk.mentor)}"] if chunk.mentor else []
        details.append(field(chunk.source))
        if chunk.page:
            details.append(f"p. {field(chunk.page)}")
        snippet = c.snippet if len(c.snippet) <= SNIPPET_CHARS else c.snippet[:SNIPPET_CHARS - 3] + "…"
        lines.append(f"{c.n}. **{where}** ({', '.join(details)})  \n   “{field(snippet)}”")
    listed = markdown("\n".join(lines), *values)
    # A box that scrolls must take focus, so a keyboard can scroll it (WCAG 2.1.1).
    return f'<div class="mkb-sources" tabindex="0" role="region" aria-label="Sources">{listed}</div>'


def citation_label(c: Citation) -> str:
    """The clickable line under an answer: '[n] Title › Section'. The Radio shows it as text."""
    where = c.chunk.title + (f" › {c.chunk.section}" if c.chunk.section else "")
    return f"[{c.n}] {where}"


def source_html(c: Citation) -> str:
    """The source panel: title, mentor, section, page and the passage, the cited
    sentences marked. Every document-derived string is `text`."""
    chunk = c.chunk
    facts = [("Mentor", chunk.mentor), ("Section", chunk.section), ("Page", chunk.page), ("Document", chunk.source)]
    rows = "".join(f"<dt>{name}</dt><dd>{text(value)}</dd>" for name, value in facts if value not in (None, ""))
    return (
        f'<div class="mkb-source" data-n="{c.n}"><h2>[{c.n}] {text(chunk.title)}</h2>'
        f'<dl class="mkb-facts">{rows}</dl>'
        f'<blockquote class="mkb-passage" tabindex="0">{highlight(chunk.text, c.snippet)}</blockquote></div>'
    )


def highlight(passage: str, snippet: str) -> str:
    """`passage` as `text`, each sentence of `snippet` it contains wrapped in <mark>.

    Matching ignores differences in whitespace (chunks keep line breaks, snippets don't).
    """
    out = text(passage)
    for sentence in sorted(set(sentences(snippet)), key=len, reverse=True):
        words = [text(word) for word in sentence.split()]
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


def transcript_html(transcript) -> str:
    """A handoff's conversation, one turn per block. The mentee's words are text, shown
    exactly as typed; the assistant's are Markdown that can only emphasise and list (our
    replies bold the help line and the reference code; no HTML, links, images or
    headings, since a reply may quote a document)."""
    if not transcript:
        return markdown("_(empty)_")
    names = {"user": "Mentee", "assistant": "MentorKB"}
    turns = []
    for role, said in transcript:
        body = f"<p>{text(said)}</p>" if role == "user" else _TURN.render(said)
        turns.append(f'<div class="mkb-turn">{markdown("**{}:**", names.get(role, role))}{body}</div>')
    return "".join(turns)


def request_html(view) -> str:
    """What a mentee sees under "Check my request": where their handoff stands and the
    mentors' replies, each shown as typed."""
    lines = ["**{}**: {}", ""]
    values: list[object] = [view.ref, _STATE.get(view.status, view.status)]
    if not view.replies:
        lines.append("No reply yet. If you left a contact, a mentor may reach you there instead.")
    for reply in view.replies:
        lines += ["---", "**Reply from {}** ({})", "", "{}", ""]
        values += [reply.author, when(reply.created_at), reply.text]
    return markdown("\n".join(lines), *values)
