"""Rendering is pure and escapes everything that comes from documents."""

from __future__ import annotations

from rag.types import Answer, Chunk, Citation
from ui.render import answer_markdown


def poisoned_answer() -> Answer:
    chunk = Chunk("c1", "x", source="evil.html", title="<img src=x onerror=alert(1)>",
                  section="[link](javascript:alert(2))", mentor="<script>alert(3)</script>", page=2)
    return Answer("q", "answer", "Be kind <script>alert(4)</script>. [1]",
                  (Citation(1, chunk, "<b>bold</b> and [x](http://evil)", 0.9),))


def test_document_html_and_links_are_escaped() -> None:
    out = answer_markdown(poisoned_answer())
    for raw in ("<script>", "<img", "<b>", "](javascript:", "](http://evil)"):
        assert raw not in out
    assert "&lt;script&gt;" in out
    assert "**[1]**" in out  # our own citation marker stays live
    assert "p. 2" in out and "evil.html" in out


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
    assert out.count("<mark>") == 2 and "<mark>Then<br>listen well.</mark>" in out
    assert "Unrelated end." in out and "<mark>Unrelated" not in out
    assert citation_label(citation) == "[2] <script>alert(2)</script> › S<b>"  # shown as text by the Radio
