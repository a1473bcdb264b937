"""Plain, frozen values passed between the pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Route = Literal["answer", "abstain", "handoff", "refuse"]

# Safety triage categories, in priority order: a crisis always wins.
TRIAGE_CATEGORIES = ("crisis", "abuse_harassment", "medical", "legal", "hr_confidential")


@dataclass(frozen=True)
class Chunk:
    """One embedded piece of a document, as stored in the index.

    `chunk_id` is the text's content hash (its first 32 characters), "-" and the
    chunk's number: the chunks of one text share everything before the last "-".
    """

    chunk_id: str
    text: str
    source: str
    title: str
    section: str = ""
    page: int | None = None
    mentor: str = ""
    content_hash: str = ""


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk: `score` ranks (higher is better), `similarity` is its cosine
    similarity to the question, the evidence the answerer's thresholds use."""

    chunk: Chunk
    score: float
    similarity: float = 0.0


@dataclass(frozen=True)
class Citation:
    """The `[n]` a sentence of an answer points at."""

    n: int
    chunk: Chunk
    snippet: str
    score: float


@dataclass(frozen=True)
class Answer:
    """What the assistant says, and everything needed to show why."""

    question: str
    route: Route
    text: str
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[ScoredChunk, ...] = ()
    disclaimer: str = ""
    category: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    final: bool = True  # False for a streamed draft whose citations are not yet checked
    handoff_ref: str | None = None  # the reference code when a human mentor was asked in
    notice: str = ""  # our own fixed Markdown shown before the answer: a check-in's offer and resources
    # The question's embedding as typed, when answering computed one (the gap view reuses it).
    vector: tuple[float, ...] | None = field(default=None, repr=False, compare=False)
    # The question as searched and answered, when the conversation changed it (a follow-up).
    resolved: str | None = None

    @property
    def check_in(self) -> bool:
        """Triage saw a possible sensitive signal: a person is offered beside the answer."""
        return bool(self.notice)

    def as_dict(self) -> dict[str, Any]:
        """The `mentorkb ask --json` shape."""
        return {
            "question": self.question,
            "resolved": self.resolved,
            "route": self.route,
            "answer": self.text,
            "category": self.category,
            "handoff_ref": self.handoff_ref,
            "check_in": self.check_in,
            "notice": self.notice,
            "citations": [
                {
                    "n": c.n,
                    "source": c.chunk.source,
                    "title": c.chunk.title,
                    "section": c.chunk.section,
                    "page": c.chunk.page,
                    "snippet": c.snippet,
                    "score": round(c.score, 4),
                }
                for c in self.citations
            ],
            "retrieved": [
                {
                    "source": r.chunk.source,
                    "chunk_id": r.chunk.chunk_id,
                    "score": round(r.score, 4),
                    "similarity": round(r.similarity, 4),
                }
                for r in self.retrieved
            ],
            "disclaimer": self.disclaimer,
            "timings_ms": self.timings_ms,
        }


@dataclass(frozen=True)
class UploadResult:
    """What a web upload did: the source ids now searchable, one line per refused file, and
    one per sentence held back because it reads as an instruction (rag.safety.injection)."""

    indexed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # "NAME: reason"
    held_back: tuple[str, ...] = ()  # "NAME: sentence"


@dataclass(frozen=True)
class SharedDocument:
    """An indexed document as the mentor workspace lists it."""

    source: str
    title: str
    mentor: str
    tags: tuple[str, ...]
    notes: str
    chunks: int
    ingested_at: float


@dataclass(frozen=True)
class IndexStats:
    """The live index at a glance, for the admin page. Times are Unix seconds."""

    documents: int
    chunks: int
    built_at: float | None  # when the live generation was built: the last full reindex
    updated_at: float | None  # the latest document change


@dataclass(frozen=True)
class User:
    """A mentor or admin account (mentees do not sign in)."""

    id: int
    name: str
    role: str
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
