"""PDF via pypdf: the text layer, one section per page, so every chunk knows its page."""

from __future__ import annotations

import logging
from pathlib import Path

from ingest.document import LoadedDocument, Section, normalize_text
from ingest.loaders.common import as_str, title_from_path
from rag.core.errors import LoaderError


def load(path: Path, source: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs every recoverable oddity of a damaged file at WARNING; our error says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoaderError(source, "PDF is encrypted")
        pages = [reader.pages[i].extract_text() or "" for i in range(len(reader.pages))]
        info = reader.metadata or {}
        title, author = info.get("/Title"), info.get("/Author")
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise LoaderError(source, f"not a readable PDF ({type(e).__name__}: {e})") from e
    sections = [
        Section(text=text, page=number)
        for number, text in ((i + 1, normalize_text(p)) for i, p in enumerate(pages))
        if text
    ]
    if pages and not sections:
        raise LoaderError(source, "no extractable text; OCR is not supported")
    return LoadedDocument(
        source=source,
        title=as_str(title) or title_from_path(path),
        sections=tuple(sections),
        format="pdf",
        mentor=as_str(author),
    )
