"""Where each indexed document comes from: its origin, the file it was read from.

The manifest records each document's origin (`DocumentRecord.path`). A source id
belongs to one file: reading another file into it would silently replace a
document, so the indexer refuses that unless told to replace (`--replace`). An
upload's origin is its file in this data dir's uploads folder, wherever the data
dir was when it was indexed (a restored backup or a moved data dir keeps its
uploads).
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest import uploads
from ingest.discovery import Found
from rag.store.manifest import Manifest


def file_of(source: str, origin: str, data_dir: Path) -> Path:
    """The file to read `source` from: its origin, or for an upload its file in `data_dir`."""
    return data_dir / source if uploads.owner_of(source) else Path(origin)


def known(manifest: Manifest, data_dir: Path) -> list[Found]:
    """The documents a generation holds, as files to read again."""
    return [Found(file_of(r.source, r.path, data_dir), r.source) for r in manifest.all()]


def same_file(a: Path | str, b: Path | str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def conflict(source: str, origin: str, path: Path, data_dir: Path) -> str | None:
    """Why the file at `path` may not be read into `source`, indexed from `origin`;
    None when it is the same file. An origin not recorded ("") is adopted."""
    if not origin:
        return None
    recorded = file_of(source, origin, data_dir)
    if same_file(recorded, path):
        return None
    return (f"already indexed from {os.path.realpath(recorded)}, not from {os.path.realpath(path)}; "
            "`mentorkb ingest --replace` replaces it")
