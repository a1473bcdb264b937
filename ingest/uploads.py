"""Mentor uploads: untrusted files become documents under `DATA_DIR/uploads/<mentor>/`.

Every upload is checked before it can replace anything: a safe file name (the
client's path, `../`, NUL bytes and over-long names are refused or reduced to a
plain base name), a supported extension, the size limit, content that matches the
extension (see `ingest.loaders.check_content`, which also refuses zip bombs), and a
trial load. Only then is the file moved into place, atomically, so a bad new
version never replaces a good old one.

Source ids are `uploads/<mentor>/<name>`: ownership is in the id, so a mentor's
documents are exactly those under their prefix.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ingest import loaders, sandbox
from rag.core.errors import AccessDenied, InvalidInput, LoaderError
from rag.core.settings import Settings

MAX_NAME_CHARS = 120
UPLOADS = "uploads"


@dataclass
class Staged:
    """An accepted upload, in place under the data dir, ready to index."""

    path: Path
    source: str


@dataclass
class UploadReport:
    staged: list[Staged] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line each: "NAME: reason"


def uploads_dir(settings: Settings, owner: str) -> Path:
    return settings.data_dir / UPLOADS / owner


def source_id(owner: str, name: str) -> str:
    return f"{UPLOADS}/{owner}/{name}"


def owner_of(source: str) -> str | None:
    """The mentor who uploaded `source`, or None for documents ingested from the CLI."""
    parts = source.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == UPLOADS else None


def check_owner(source: str, user: str, is_admin: bool) -> None:
    """A mentor may change only their own uploads; an admin may change any document."""
    if not is_admin and owner_of(source) != user:
        raise AccessDenied(f"{source}: you can only change documents you uploaded")


def safe_name(name: str) -> str:
    """The base name of a client-supplied file name; raises ValueError if none is safe."""
    if "\x00" in name:
        raise InvalidInput("file name contains a NUL byte")
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if not base or base in (".", "..") or base.startswith("."):
        raise InvalidInput("not a usable file name")
    if len(base) > MAX_NAME_CHARS:
        raise InvalidInput(f"file name is {len(base)} characters, over the limit of {MAX_NAME_CHARS}")
    return base


def stage(files: Sequence[tuple[str, Path]], owner: str, settings: Settings) -> UploadReport:
    """Check each (client name, temp path) and move the good ones into the owner's folder.

    A bad file is reported on one line and skipped; the others go on. More than
    `settings.max_upload_files` at once refuses the whole batch.
    """
    checked, errors = check(files, owner, settings)
    report = place(checked, owner, settings)
    report.errors[:0] = errors
    return report


def check(files: Sequence[tuple[str, Path]], owner: str, settings: Settings,
          slot: Callable[[], AbstractContextManager] = nullcontext) -> tuple[list[tuple[str, Path]], list[str]]:
    """The first half of `stage`, which needs no index lock: name, size, the owner's
    quota and a trial parse in the sandbox, each file's inside `slot()` (the caller's
    share of the parsing workers). Returns ((name, temp path) to place, error lines)."""
    errors: list[str] = []
    if len(files) > settings.max_upload_files:
        return [], [f"{len(files)} files at once: the limit is {settings.max_upload_files} (MENTORKB_MAX_UPLOAD_FILES)"]
    target_dir = uploads_dir(settings, owner)
    kept = ({p.name: p.stat().st_size for p in target_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
            if target_dir.is_dir() else {})
    checked: list[tuple[str, Path]] = []
    for client_name, temp_path in files:
        shown = "".join(ch for ch in str(client_name) if ch.isprintable())[:MAX_NAME_CHARS] or "(no name)"
        try:
            name = safe_name(str(client_name))
            if name in (n for n, _ in checked):
                raise InvalidInput("the same name twice in one upload")
            size = Path(temp_path).stat().st_size
            if sum(kept.values()) - kept.get(name, 0) + size > settings.mentor_quota_mb * 2**20:
                raise InvalidInput(f"over your upload quota of {settings.mentor_quota_mb:g} MB "
                                 "(delete documents you no longer need, or ask an admin: MENTORKB_MENTOR_QUOTA_MB)")
            with slot():
                _check(Path(temp_path), name, settings)
            kept[name] = size
            checked.append((name, Path(temp_path)))
        except (InvalidInput, LoaderError, OSError) as e:
            reason = e.reason if isinstance(e, LoaderError) else (getattr(e, "strerror", None) or str(e))
            errors.append(f"{shown}: {reason}")
    return checked, errors


def place(checked: Sequence[tuple[str, Path]], owner: str, settings: Settings) -> UploadReport:
    """The second half of `stage`, under the index lock: copy each checked file into the
    owner's folder (atomically replacing an older version)."""
    report = UploadReport()
    target_dir = uploads_dir(settings, owner)
    target_dir.mkdir(parents=True, exist_ok=True)
    for name, temp_path in checked:
        try:
            report.staged.append(Staged(_place(temp_path, target_dir, name), source_id(owner, name)))
        except OSError as e:
            report.errors.append(f"{name}: {e.strerror or e}")
    return report


def _check(temp_path: Path, name: str, settings: Settings) -> None:
    if not loaders.is_supported(Path(name)):
        known = ", ".join(sorted(loaders.LOADERS))
        raise InvalidInput(f"unsupported file type {Path(name).suffix or '(none)'!r} (known: {known})")
    size = temp_path.stat().st_size
    if size > settings.max_file_mb * 2**20:
        raise InvalidInput(f"file is {size / 2**20:.1f} MB, over the {settings.max_file_mb:g} MB limit")
    # Load a copy under the real name, so the loader is picked by the name's extension.
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / name
        shutil.copyfile(temp_path, trial)
        sandbox.load(trial, name, settings.loader_timeout_s)


def _place(temp_path: Path, target_dir: Path, name: str) -> Path:
    """Copy into the target folder under a temporary name, then rename over any old version."""
    final = target_dir / name
    fd, partial = tempfile.mkstemp(dir=target_dir, prefix=".upload-")
    os.close(fd)
    try:
        shutil.copyfile(temp_path, partial)
        os.replace(partial, final)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return final
