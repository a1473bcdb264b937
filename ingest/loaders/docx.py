"""DOCX via python-docx: headings, paragraphs, lists and tables; core properties as metadata."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.document import LoadedDocument
from ingest.loaders.markdown import from_markdown
from rag.core.errors import LoaderError


def _heading_level(style_name: str) -> int | None:
    if style_name == "Title":
        return 1
    if style_name.startswith("Heading"):
        digits = style_name.removeprefix("Heading").strip()
        return min(int(digits), 6) if digits.isdigit() else 1
    return None


def load(path: Path, source: str) -> LoadedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise LoaderError(source, f"not a readable DOCX file ({type(e).__name__})") from e
    lines = []
    for para in document.paragraphs:
        text = " ".join(para.text.split())
        if not text:
            continue
        style = para.style.name if para.style is not None else ""
        level = _heading_level(style)
        if level:
            lines.append(f"\n{'#' * level} {text}\n")
        elif "List" in style:
            lines.append(f"- {text}")
        else:
            lines.append(f"\n{text}\n")
    for table in document.tables:
        for row in table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            if any(cells):
                lines.append("\n" + " | ".join(cells) + "\n")
    props = document.core_properties
    meta = {
        "title": props.title,
        "mentor": props.author,
        "tags": props.keywords,
        "date": props.created.date() if props.created else None,
    }
    return from_markdown(path, source, "\n".join(lines), "docx", meta)
