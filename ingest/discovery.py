"""The files to ingest under the paths given, each with its source id."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Found:
    """A file to ingest, or a problem found while walking (`error` set)."""

    path: Path
    source: str
    error: str = ""


def discover(paths: list[Path]) -> Iterator[Found]:
    """Files under `paths`. A folder's files are named relative to it, a file by its name.

    Hidden entries are skipped. Symlinked folders are followed once; a link back
    into a folder already walked is reported as a loop instead of recursed into.
    """
    for root in paths:
        if not root.is_dir():
            yield Found(root, root.name)
            continue
        seen = {os.path.realpath(root)}
        for folder, dirs, files in os.walk(root, followlinks=True):
            rel_folder = Path(folder).relative_to(root)
            for name in sorted(dirs):
                real = os.path.realpath(os.path.join(folder, name))
                if name.startswith(".") or real in seen:
                    dirs.remove(name)
                    if not name.startswith("."):
                        yield Found(Path(folder, name), (rel_folder / name).as_posix(), "symlink loop; not followed")
                else:
                    seen.add(real)
            dirs.sort()
            for name in sorted(files):
                if not name.startswith("."):
                    yield Found(Path(folder, name), (rel_folder / name).as_posix())
