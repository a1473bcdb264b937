"""One loader per format, picked by file extension.

Each loader module has `load(path, source) -> LoadedDocument` and raises
`LoaderError` (naming the source) for anything it cannot read.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ingest.document import LoadedDocument
from rag.errors import LoaderError

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
    try:
        doc: LoadedDocument = module.load(path, source)
    except LoaderError:
        raise
    except OSError as e:
        raise LoaderError(source, f"cannot read file ({e.strerror or e})") from e
    if not doc.text.strip():
        raise LoaderError(source, "no text found in document")
    return doc
