"""Human handoff: a record a mentor can claim and resolve (the webhook that tells
mentors is rag.people.notify).

A handoff is stored before anyone is notified, so a failing webhook never loses it.
Lifecycle: open → claimed (by one mentor) → resolved (with a note). Nothing is
ever closed automatically; retention (`mentorkb purge`) removes only resolved ones.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from rag.core.errors import ConflictError, InvalidInput, NotFoundError
from rag.people.db import handoffs, now, translated

if TYPE_CHECKING:
    from rag.people.notify import WebhookNotifier

log = logging.getLogger(__name__)

Turn = tuple[str, str]  # (role, text): role "user" or "assistant"

STATUSES = ("open", "claimed", "resolved")
_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L

CATEGORY_LABELS = {
    "crisis": "Crisis: possible risk to the mentee's safety",
    "abuse_harassment": "Abuse or harassment",
    "medical": "Health or medical",
    "legal": "Legal",
    "hr_confidential": "Confidential HR matter",
    "requested": "Mentee asked for a human mentor",
    "abstain": "Not covered by the documents",
}


def _merge(old: Sequence[Turn], new: Sequence[Turn]) -> list[Turn]:
    """The fuller conversation: `new` if it continues `old`, else `old` plus new turns."""
    old, new = [tuple(t) for t in old], [tuple(t) for t in new]
    if new[: len(old)] == old:
        return new
    return old + [t for t in new if t not in old]


def _urgency(category: str) -> int:
    """Higher is more urgent: the order of CATEGORY_LABELS, crisis first."""
    order = list(CATEGORY_LABELS)
    return len(order) - order.index(category) if category in order else 0


@dataclass(frozen=True)
class Handoff:
    id: int
    ref: str
    category: str
    requested_by: str
    status: str
    summary: str
    transcript: tuple[Turn, ...]
    contact: str | None
    created_at: datetime
    session: str | None = None
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None
    notified: str | None = None

    @property
    def label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)


def summarize(category: str, transcript: Sequence[Turn]) -> str:
    """One line: what kind of handoff, and the mentee's last words (cut to 100 chars)."""
    last = next((text for role, text in reversed(transcript) if role == "user"), "")
    last = " ".join(last.split())
    if len(last) > 100:
        last = last[:99].rstrip() + "…"
    label = CATEGORY_LABELS.get(category, category)
    return f"{label}: “{last}”" if last else label


class HandoffStore:
    """Handoff records in the application database (SQLite or Postgres).

    Args:
        engine: from `rag.people.db.open_database`.
        notifier: told about each new handoff after it is stored; optional.
    """

    def __init__(self, engine: Engine, notifier: WebhookNotifier | None = None) -> None:
        self.engine = engine
        self.notifier = notifier

    @translated
    def create(
        self,
        category: str,
        transcript: Sequence[Turn],
        *,
        requested_by: str = "triage",
        contact: str | None = None,
        session: str | None = None,
    ) -> Handoff:
        """Store a new open handoff and notify; returns it with its reference code."""
        row = {
            "category": category,
            "requested_by": requested_by,
            "status": "open",
            "summary": summarize(category, transcript),
            "transcript": [{"role": r, "text": t} for r, t in transcript],
            "contact": (contact or "").strip()[:200] or None,
            "session": session,
            "created_at": now(),
            "notified": "pending" if self.notifier else None,
        }
        for _ in range(5):  # a clash of 30^6 random codes is rare; retry rather than fail
            row["ref"] = "MKB-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(handoffs).values(**row))
                break
            except IntegrityError:
                continue
        handoff = self.get(row["ref"])
        if self.notifier:
            self.notifier.notify(handoff, self._mark_notified)
        return handoff

    @translated
    def get(self, ref: str) -> Handoff:
        """By reference code (case-insensitive) or numeric id."""
        key = ref.strip().upper()
        where = handoffs.c.id == int(key) if key.isdigit() else handoffs.c.ref == key
        with self.engine.connect() as conn:
            row = conn.execute(select(handoffs).where(where)).mappings().first()
        if row is None:
            raise NotFoundError(f"handoff {ref}: no such handoff")
        return _handoff(row)

    @translated
    def list(self, status: str | None = None, limit: int | None = None, offset: int = 0) -> list[Handoff]:
        """Handoffs in queue order, every one unless `limit` pages them.

        Not yet resolved first: crisis ones, then the rest, each oldest first (the
        longest wait on top); then resolved ones, newest first. A flood of new handoffs
        can push others down a page but never ahead of an open crisis.

        Args:
            status: open, claimed, resolved, or None for all.
            limit: at most this many (None: all), starting at `offset` in that order.
        """
        if status and status not in STATUSES:
            raise InvalidInput(f"status: must be one of {', '.join(STATUSES)} (got {status!r})")
        with self.engine.connect() as conn:
            return _in_queue_order(conn, handoffs.c.status == status if status else None, limit, offset)

    @translated
    def waiting(self, limit: int | None = None, offset: int = 0) -> tuple[list[Handoff], int, int]:
        """(a page of the open and claimed handoffs in queue order, how many there are, how many are crisis)."""
        unresolved = handoffs.c.status != "resolved"
        counts = select(func.count(), func.count().filter(handoffs.c.category == "crisis")).where(unresolved)
        with self.engine.connect() as conn:
            total, crisis = conn.execute(counts).one()
            return _in_queue_order(conn, unresolved, limit, offset), total, crisis

    @translated
    def open_for(self, session: str) -> Handoff | None:
        """The newest handoff of this chat session that nobody has resolved yet."""
        query = (
            select(handoffs)
            .where(handoffs.c.session == session, handoffs.c.status != "resolved")
            .order_by(handoffs.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _handoff(row) if row else None

    @translated
    def update(
        self, ref: str, *, contact: str | None = None, transcript: Sequence[Turn] = (), category: str | None = None
    ) -> Handoff:
        """Add the mentee's contact, a longer transcript, or a more urgent category to a
        handoff not yet resolved (a "requested" handoff becomes "crisis", never the reverse)."""
        handoff = self.get(ref)
        if handoff.status == "resolved":
            raise ConflictError(f"handoff {handoff.ref}: already resolved")
        values: dict[str, Any] = {}
        if category and _urgency(category) > _urgency(handoff.category):
            values["category"] = category
        if contact and contact.strip():
            values["contact"] = contact.strip()[:200]
        merged = _merge(handoff.transcript, transcript)
        if merged != list(handoff.transcript) or "category" in values:
            values["transcript"] = [{"role": r, "text": t} for r, t in merged]
            values["summary"] = summarize(values.get("category", handoff.category), merged)
        if values:
            with self.engine.begin() as conn:
                conn.execute(update(handoffs).where(handoffs.c.id == handoff.id).values(**values))
        return self.get(ref)

    @translated
    def claim(self, ref: str, mentor: str) -> Handoff:
        """An open handoff becomes this mentor's; claiming one's own claim again is a no-op."""
        handoff = self.get(ref)
        if handoff.status == "claimed" and handoff.claimed_by == mentor:
            return handoff
        with self.engine.begin() as conn:
            done = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff.id, handoffs.c.status == "open")
                .values(status="claimed", claimed_by=mentor, claimed_at=now())
            ).rowcount
        if not done:
            current = self.get(ref)
            who = f" by {current.claimed_by}" if current.claimed_by else ""
            raise ConflictError(f"handoff {handoff.ref}: already {current.status}{who}")
        return self.get(ref)

    @translated
    def resolve(self, ref: str, mentor: str, note: str) -> Handoff:
        """Close a handoff with a note. An open one is claimed by `mentor` on the way."""
        note = note.strip()
        if not note:
            raise InvalidInput("note: say how the handoff was resolved")
        handoff = self.get(ref)
        if handoff.status == "resolved":
            raise ConflictError(f"handoff {handoff.ref}: already resolved by {handoff.claimed_by}")
        if handoff.status == "claimed" and handoff.claimed_by != mentor:
            raise ConflictError(f"handoff {handoff.ref}: claimed by {handoff.claimed_by}, not {mentor}")
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff.id, handoffs.c.status != "resolved")
                .values(
                    status="resolved",
                    claimed_by=mentor,
                    claimed_at=handoff.claimed_at or stamp,
                    resolved_at=stamp,
                    resolution_note=note,
                )
            )
        return self.get(ref)

    @translated
    def purge_resolved(self, before: datetime) -> int:
        """Delete handoffs resolved before `before`. Open and claimed ones are never touched."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(handoffs).where(handoffs.c.status == "resolved", handoffs.c.resolved_at < before)
            ).rowcount

    def _mark_notified(self, handoff: Handoff, outcome: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(update(handoffs).where(handoffs.c.id == handoff.id).values(notified=outcome))
        except Exception:  # noqa: BLE001 - bookkeeping only; the handoff itself is stored
            log.exception("could not record webhook outcome for %s", handoff.ref)


def _in_queue_order(conn: Any, where: Any, limit: int | None, offset: int) -> list[Handoff]:
    """Handoffs matching `where` (None: all) in queue order, as `HandoffStore.list` describes."""
    resolved = handoffs.c.status == "resolved"
    query = select(handoffs).order_by(
        case((resolved, 1), else_=0),
        case((handoffs.c.category == "crisis", 0), else_=1),
        case((resolved, -handoffs.c.id), else_=handoffs.c.id),
    ).offset(offset)
    if where is not None:
        query = query.where(where)
    if limit is not None:
        query = query.limit(limit)
    return [_handoff(row) for row in conn.execute(query).mappings()]


def _handoff(row: Any) -> Handoff:
    fields = {name: row[name] for name in Handoff.__dataclass_fields__ if name != "transcript"}
    return Handoff(**fields, transcript=tuple((t["role"], t["text"]) for t in row["transcript"]))
