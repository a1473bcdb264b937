"""`mentorkb backup DEST`: a consistent copy of a data dir that is itself a data dir.

What is copied: the live index generation and `CURRENT` (taken under the index's
writer lock, so no ingest or upload changes them mid-copy), uploaded files, the
session-signing key, and the application database (handoffs, accounts, feedback,
question log) through SQLite's online backup, which gives a consistent snapshot
while `serve` keeps writing. What is not: the model export, caches and temporary
files, which are rebuilt on demand, and older index generations.

Restoring is pointing MENTORKB_DATA_DIR (or `--data-dir`) at the copy, or copying it
back in place while the server is stopped.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from ingest.uploads import UPLOADS
from rag.core.errors import InvalidInput
from rag.core.settings import Settings
from rag.people.db import database_url
from rag.store.index import CURRENT, GENERATIONS, current_generation
from rag.store.lock import writer_lock


@dataclass
class BackupReport:
    dest: Path
    copied: list[str] = field(default_factory=list)  # what was copied, relative to the data dir
    notes: list[str] = field(default_factory=list)  # what the copy does not hold, and why


def backup(settings: Settings, dest: Path) -> BackupReport:
    """Copy the state of `settings.data_dir` into `dest`, which must be new or empty."""
    data = settings.data_dir
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInput(f"{dest}: not empty; back up into a new or empty folder")
    if dest == data.resolve() or data.resolve() in dest.parents:
        raise InvalidInput(f"{dest}: inside the data dir it would copy; choose a folder outside {data}")
    dest.mkdir(parents=True, exist_ok=True)
    report = BackupReport(dest)
    with writer_lock(settings.lock_path):
        live = current_generation(data)
        if live is None:
            report.notes.append("no index yet: nothing ingested")
        else:
            shutil.copytree(live, dest / GENERATIONS / live.name)
            shutil.copy2(data / CURRENT, dest / CURRENT)
            report.copied += [CURRENT, f"{GENERATIONS}/{live.name}"]
            if settings.chroma_url:
                report.notes.append(f"vectors live on the Chroma server {settings.chroma_url}: back it up there")
        if (data / UPLOADS).is_dir():
            shutil.copytree(data / UPLOADS, dest / UPLOADS)
            report.copied.append(UPLOADS)
    key = settings.secret_key_path
    if key.is_file():
        shutil.copy2(key, dest / key.name)
        report.copied.append(key.name)
    _copy_database(settings, dest, report)
    return report


def _copy_database(settings: Settings, dest: Path, report: BackupReport) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(database_url(settings))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        report.notes.append("the application database is not a SQLite file: back it up with its own tools "
                            "(for PostgreSQL, pg_dump)")
        return
    source = Path(url.database)
    if not source.is_file():
        report.notes.append("no application database yet")
        return
    target = dest / source.name
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, closing(sqlite3.connect(target)) as out:
        src.backup(out)
    report.copied.append(source.name)
    if source.parent.resolve() != settings.data_dir.resolve():
        report.notes.append(f"the database {source} lies outside the data dir; its copy is {target}")
