"""What an ingest, reindex or rebuild did, document by document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rag.core.text import counted

# (documents done, documents in all, source, status, chunks written so far)
Progress = Callable[[int, int, str, str, int], None]


@dataclass
class IngestReport:
    """What one run did; `failed` holds one `(source, reason)` per bad file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_written: int = 0
    # (source, sentence) for each sentence held back as an instruction to the reader or
    # the assistant (rag.safety.injection): dropped from the stored text, never quoted.
    flagged: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed; "
            f"{counted(self.chunks_written, 'chunk')} written"
        )
        if self.removed:
            text += f"; {len(self.removed)} removed"
        if self.flagged:
            n = len(self.flagged)
            what = "sentence held back as an instruction" if n == 1 else "sentences held back as instructions"
            text += f"; {n} {what}"
        return text

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "failed": [{"source": s, "reason": r} for s, r in self.failed],
            "chunks_written": self.chunks_written,
            "flagged": [{"source": s, "sentence": t} for s, t in self.flagged],
        }
