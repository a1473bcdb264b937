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
