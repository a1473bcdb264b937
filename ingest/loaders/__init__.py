"""One loader per format, picked by file extension.

Each loader module has `load(path, source) -> LoadedDocument` and raises
`LoaderError` (naming the source) for anything it cannot read.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

from ingest.document import LoadedDocument
from rag.core.errors import LoaderError

LOADERS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load(path: Path, source: str) -> LoadedDocument:
    """Load one file with the loader for its extension."""
    name = LOADERS.get(path.suffix.lower())
    if name is None:
        known = ", ".join(sorted(LOADERS))
        raise LoaderError(source, f"unsupported file type {path.suffix or '(none)'!r} (known: {known})")
    module = importlib.import_module(f"ingest.loaders.{name}")
    check_content(path, source, name)
    try:
        doc: LoadedDocument = module.load(path, source)
    except LoaderError:
        raise
    except OSError as e:
        raise LoaderError(source, f"cannot read file ({e.strerror or e})") from e
    if not doc.text.strip():
        raise LoaderError(source, "no text found in document")
    return doc


# A DOCX is a zip: refuse one that would inflate past this, or by more than this ratio
# (a zip bomb), before python-docx reads it.
MAX_UNZIPPED_BYTES = 200 * 2**20
MAX_ZIP_RATIO = 200


def check_content(path: Path, source: str, loader: str) -> None:
    """The bytes must be what the extension claims; raises LoaderError otherwise."""
    with path.open("rb") as f:
        head = f.read(1024)
    if loader == "pdf":
        if b"%PDF-" not in head:
            raise LoaderError(source, "not a PDF file (no %PDF- header); the extension does not match the content")
    elif loader == "docx":
        if not head.startswith(b"PK"):
            raise LoaderError(source, "not a DOCX file (not a zip archive); the extension does not match the content")
        _check_zip(path, source)
    # Text formats: `common.read_text` refuses binary content.


def _check_zip(path: Path, source: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise LoaderError(source, f"not a readable DOCX file ({type(e).__name__})") from e
    if not any(m.filename == "word/document.xml" for m in members):
        raise LoaderError(source, "not a DOCX file (no word/document.xml in the archive)")
    unzipped = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if unzipped > MAX_UNZIPPED_BYTES or unzipped / packed > MAX_ZIP_RATIO:
        raise LoaderError(
            source, f"refused: would inflate to {unzipped / 2**20:.0f} MB from {packed / 2**20:.1f} MB (zip bomb?)"
        )
