"""Rendering is pure: our Markdown becomes HTML, and everything from documents and
users is escaped once, as text: no tag, link, emphasis or heading of its own."""

from __future__ import annotations

import html
import re

from rag.core.types import Answer, Chunk, Citation
from ui.render import answer_html, markdown, text, transcript_html

TYPED = "It's \"#1\" & <script>window.__pwned=1</script> # no heading *no em* [x](http://evil) \\# 😀 Привет 你好 مرحبا"


def shown(fragment: str) -> str:
    """What a browser shows for an HTML fragment: tags dropped, entities decoded once."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def poisoned_answer() -> Answer:
    chunk = Chunk("c1", "x", source="evil.html", title="<img src=x onerror=alert(1)>",
                  section="[link](javascript:alert(2))", mentor="<script>alert(3)</script>", page=2)
    return Answer("q", "answer", "Be kind <script>alert(4)</script>. [1]",
                  (Citation(1, chunk, "<b>bold</b> and [x](http://evil) # not a heading", 0.9),))


def test_document_html_and_links_are_escaped() -> None:
    out = answer_html(poisoned_answer())
    for raw in ("<script>", "<img", "<b>", "<a ", "href", "<h1"):
        assert raw not in out
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in out
    assert "[link](javascript:alert(2))" in out and "[x](http://evil)" in out  # as text
    assert "<strong>[1]</strong>" in out  # our own citation marker stays live
    assert "<strong>Sources</strong>" in out and "<ol>" in out
    # The list sits in its own box (scrolled when long, ui.look.CSS), after the answer.
    assert out.index("<strong>[1]</strong>") < out.index('<div class="mkb-sources" tabindex="0" role="region" aria-label="Sources"><p><strong>Sources')
    assert out.endswith("</ol>\n</div>")
    assert "p. 2" in out and "evil.html" in out


def test_user_text_is_escaped_exactly_once() -> None:
    out = text(TYPED)
    assert shown(out) == TYPED  # decoded once, the browser shows what was typed
    assert "&#x27;" not in out and "&amp;amp;" not in out and "<script>" not in out
    for markup in ("<em>", "<a ", "<h1"):
        assert markup not in out
    assert text("two\nlines") == "two<br>\nlines"


def test_our_markdown_renders_and_its_fields_stay_text() -> None:
    out = markdown("Signed in as **{}** · [Sign out](/logout) · `{}`", TYPED, "it's.md")
    assert out.startswith("<p>Signed in as <strong>") and '<a href="/logout">Sign out</a>' in out
    assert "<code>it's.md</code>" in out and TYPED in shown(out)
    assert "<script>" not in out and "<em>" not in out and 'href="http://evil"' not in out
    assert markdown("no fields {} kept") == "<p>no fields {} kept</p>\n"  # settings may hold braces
    assert markdown("<b>ours</b>") == "<p>&lt;b&gt;ours&lt;/b&gt;</p>\n"  # raw HTML is off for us too


def test_crisis_resources_stay_bold_and_the_transcript_emphasises_but_never_links() -> None:
    crisis = Answer("q", "handoff", "**Call 988** now. It's free.", ())
    assert answer_html(crisis).startswith("<p><strong>Call 988</strong> now. It's free.</p>")
    out = transcript_html([("user", "# I can't cope <b> [x](http://evil.example) ![i](x.png)"),
                           ("assistant", "**Call 988**. Your reference is **MKB-7QK2PX**. [y](http://e.x)")])
    assert "<strong>Mentee:</strong>" in out  # the mentee's words as typed
    assert "# I can't cope &lt;b&gt; [x](http://evil.example) ![i](x.png)" in out
    assert "<strong>Call 988</strong>" in out and "<strong>MKB-7QK2PX</strong>" in out and "**" not in out
    assert "[y](http://e.x)" in out  # a quoted document's link stays text
    assert "<a " not in out and "<img" not in out and "<h1" not in out


def test_a_mentee_sees_the_state_and_replies_of_a_request_as_typed() -> None:
    from datetime import UTC, datetime

    from rag.people.handoffs import MenteeView, Reply
    from ui.render import request_html

    stamp = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    waiting = request_html(MenteeView("MKB-7QK2PX", "open", stamp, ()))
    assert "<strong>MKB-7QK2PX</strong>: waiting for a mentor" in waiting and "No reply yet" in waiting
    replied = request_html(MenteeView("MKB-7QK2PX", "claimed", stamp, (Reply("ana <b>", "Call me *now* <i>", stamp),)))
    assert "Reply from ana &lt;b&gt;" in replied and "Call me *now* &lt;i&gt;" in replied


def test_source_panel_escapes_everything_and_marks_the_cited_sentences() -> None:
    from ui.render import citation_label, source_html

    chunk = Chunk("c1", "Intro line.\nBe kind <img src=x onerror=alert(1)>. Then\nlisten well. Unrelated end.",
                  source="evil.html", title="<script>alert(2)</script>", section="S<b>", mentor="<i>M</i>", page=3)
    citation = Citation(2, chunk, "Be kind <img src=x onerror=alert(1)>. Then listen well.", 0.8)
    out = source_html(citation)
    for raw in ("<script>", "<img", "<b>", "<i>"):
        assert raw not in out
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in out and "&lt;i&gt;M&lt;/i&gt;" in out
    assert "<dt>Page</dt><dd>3</dd>" in out
    assert out.count("<mark>") == 2 and "<mark>Then<br>\nlisten well.</mark>" in out
    assert "Unrelated end." in out and "<mark>Unrelated" not in out
    assert citation_label(citation) == "[2] <script>alert(2)</script> › S<b>"  # shown as text by the Radio
