"""Each loader on real files: metadata, headings, pages, and clean failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import loaders
from rag.core.errors import LoaderError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_front_matter_and_headings(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", "---\ntitle: Giving feedback\nmentor: Ana Ruiz\n"
                 "tags: [feedback, growth]\ndate: 2025-01-02\n---\n# Giving feedback\n\nIntro.\n\n"
                 "## Timing\n\nGive it soon after the event.\n")
    doc = loaders.load(path, "a.md")
    assert (doc.title, doc.mentor, doc.tags, doc.date) == (
        "Giving feedback", "Ana Ruiz", ("feedback", "growth"), "2025-01-02")
    assert doc.sections[-1].headings == ("Giving feedback", "Timing")
    assert doc.sections[-1].text == "Give it soon after the event."


def test_markdown_title_falls_back_to_heading_then_file_name(tmp_path: Path) -> None:
    assert loaders.load(write(tmp_path / "x.md", "# Heading title\n\nBody."), "x.md").title == "Heading title"
    assert loaders.load(write(tmp_path / "my-notes.md", "Just body."), "my-notes.md").title == "My notes"


def test_bad_front_matter_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.md", "---\ntitle: [unclosed\n---\nBody\n")
    with pytest.raises(LoaderError, match=r"^bad\.md: invalid YAML front matter"):
        loaders.load(path, "bad.md")


def test_html_keeps_main_text_and_drops_chrome(tmp_path: Path) -> None:
    path = write(tmp_path / "p.html", """<html><head><title>Remote mentoring</title>
        <meta name="author" content="Kai Lee"><script>var secret = "tracker";</script></head>
        <body><nav><a href="/">Home menu</a></nav><main><h1>Remote mentoring</h1>
        <h2>Cameras</h2><p>Turn the camera on for the first call.</p><ul><li>Share an agenda.</li></ul>
        </main><footer>Copyright boilerplate</footer></body></html>""")
    doc = loaders.load(path, "p.html")
    assert (doc.title, doc.mentor) == ("Remote mentoring", "Kai Lee")
    text = doc.text
    assert "Turn the camera on" in text and "Share an agenda." in text
    for chrome in ("Home menu", "Copyright boilerplate", "tracker"):
        assert chrome not in text
    assert doc.sections[0].headings == ("Remote mentoring", "Cameras")


def test_text_title_mentor_and_headings(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", "Meeting rhythm\nMentor: Sam Ode\n\nWhy cadence matters\n"
                 "Meet every two weeks.\n\nAgendas\nShare one the day before.\n")
    doc = loaders.load(path, "t.txt")
    assert (doc.title, doc.mentor) == ("Meeting rhythm", "Sam Ode")
    assert [s.headings for s in doc.sections] == [("Why cadence matters",), ("Agendas",)]


def test_docx_headings_and_properties(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "Career ladders"
    d.core_properties.author = "Mo Chen"
    d.add_heading("Career ladders", level=1)
    d.add_heading("Skills", level=2)
    d.add_paragraph("Pick one skill a quarter.")
    d.add_paragraph("Ask for stretch work.", style="List Bullet")
    d.save(tmp_path / "c.docx")
    doc = loaders.load(tmp_path / "c.docx", "c.docx")
    assert (doc.title, doc.mentor) == ("Career ladders", "Mo Chen")
    assert doc.sections[-1].headings == ("Career ladders", "Skills")
    assert "Ask for stretch work." in doc.sections[-1].text


def test_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Ending well")
    pdf.set_author("Lee Park")
    pdf.set_font("Helvetica", size=12)
    for text in ("Plan the last meeting together.", "Write a thank-you note."):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(tmp_path / "e.pdf"))
    doc = loaders.load(tmp_path / "e.pdf", "e.pdf")
    assert (doc.title, doc.mentor) == ("Ending well", "Lee Park")
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "Plan the last meeting together."), (2, "Write a thank-you note.")]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", "not a readable DOCX"),
        ("binary.md", b"\x00\x01\x02binary", "binary file"),
        ("empty.md", b"   \n\n", "no text found"),
        ("sheet.xlsx", b"whatever", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_fail_with_their_name_and_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoaderError) as info:
        loaders.load(path, name)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and reason in message
    assert "\n" not in message


def test_non_utf8_text_is_decoded_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café notes\n\nA résumé review with my mentor, über useful.".encode("cp1252"))
    doc = loaders.load(path, "latin1.txt")
    assert doc.title == "Café notes" and "résumé" in doc.text


def test_pdf_without_text_layer_says_ocr_is_unsupported(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing, no text
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(LoaderError, match=r"^scan\.pdf: no extractable text; OCR is not supported$"):
        loaders.load(tmp_path / "scan.pdf", "scan.pdf")


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    with (tmp_path / "locked.pdf").open("wb") as f:
        writer.write(f)
    with pytest.raises(LoaderError, match=r"^locked\.pdf: PDF is encrypted$"):
        loaders.load(tmp_path / "locked.pdf", "locked.pdf")
