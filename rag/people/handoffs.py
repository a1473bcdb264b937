"""Human handoff: a record a mentor can claim and resolve (the webhook that tells
mentors is rag.people.notify).

A handoff is stored before anyone is notified, so a failing webhook never loses it.
Lifecycle: open → claimed (by one mentor) → resolved (with a note). Nothing is
ever closed automatically; retention (`mentorkb purge`) removes only resolved ones,
with their replies.

A mentor answers with replies, stored with the handoff. The mentee reads them by the
reference code alone (`for_mentee`): no account, and nothing of the transcript or
the mentors' notes is shown that way.
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
from rag.people.db import handoff_replies, handoffs, now, translated

if TYPE_CHECKING:
    from rag.people.notify import WebhookNotifier

log = logging.getLogger(__name__)

Turn = tuple[str, str]  # (role, text): role "user" or "assistant"

STATUSES = ("open", "claimed", "resolved")
# What the mentors' queue lists: waiting (open and claimed), mine (claimed by me, not
# resolved), all (resolved ones too).
VIEWS = ("waiting", "mine", "all")
MAX_REPLY_CHARS = 4000
_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
_MAX_ID = 2**31 - 1  # an Integer column on Postgres; a larger number is no row's id

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
class Reply:
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class MenteeView:
    """What a mentee sees of a handoff by its reference code: its state and the replies."""

    ref: str
    status: str
    created_at: datetime
    replies: tuple[Reply, ...]


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
    replies: tuple[Reply, ...] = ()

    @property
    def label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    @property
    def urgent(self) -> bool:
        """A crisis not yet resolved: listed first in the queue, and marked."""
        return self.category == "crisis" and self.status != "resolved"

    @property
    def trigger(self) -> str:
        """The message that raised the handoff: the mentee's latest (a triage handoff is
        raised by the message it was filed or upgraded with, always the last one)."""
        return next((text for role, text in reversed(self.transcript) if role == "user"), "")


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
        # A number past the column's range is no handoff (Postgres would refuse to compare it).
        where = handoffs.c.id == int(key) if key.isdigit() and int(key) <= _MAX_ID else handoffs.c.ref == key
        with self.engine.connect() as conn:
            row = conn.execute(select(handoffs).where(where)).mappings().first()
            if row is None:
                raise NotFoundError(f"handoff {ref}: no such handoff")
            replies = conn.execute(
                select(handoff_replies).where(handoff_replies.c.handoff_id == row["id"])
                .order_by(handoff_replies.c.id)
            ).mappings()
            return _handoff(row, tuple(Reply(r["author"], r["text"], r["created_at"]) for r in replies))

    @translated
    def for_mentee(self, ref: str) -> MenteeView:
        """What the holder of a reference code may see: status and replies, nothing else.

        Only a well-formed code is looked up (never a numeric id, which is guessable)."""
        key = (ref or "").strip().upper()
        if not _is_ref(key):
            raise InvalidInput("reference: a code like MKB-7QK2PX, from the message that gave it to you")
        handoff = self.get(key)
        return MenteeView(handoff.ref, handoff.status, handoff.created_at, handoff.replies)

    @translated
    def reply(self, ref: str, mentor: str, text: str) -> Handoff:
        """Add a mentor's reply, which the mentee reads by the reference code. An open
        handoff is claimed by `mentor` on the way; one claimed by someone else is theirs."""
        text = (text or "").strip()
        if not text:
            raise InvalidInput("reply: write what the mentee should read")
        if len(text) > MAX_REPLY_CHARS:
            raise InvalidInput(f"reply: at most {MAX_REPLY_CHARS} characters (got {len(text)})")
        handoff = self.get(ref)
        if handoff.status == "resolved":
            raise ConflictError(f"handoff {handoff.ref}: already resolved")
        if handoff.status == "open":
            handoff = self.claim(handoff.ref, mentor)
        if handoff.claimed_by != mentor:
            raise ConflictError(f"handoff {handoff.ref}: claimed by {handoff.claimed_by}, not {mentor}")
        with self.engine.begin() as conn:
            conn.execute(insert(handoff_replies).values(handoff_id=handoff.id, created_at=now(), author=mentor,
                                                        text=text))
        return self.get(handoff.ref)

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
    def queue(self, view: str = "waiting", mentor: str | None = None, limit: int | None = None,
              offset: int = 0) -> tuple[list[Handoff], int, int]:
        """(a page of the view's handoffs in queue order, how many the view holds, how many
        of those are crises not yet resolved).

        Args:
            view: "waiting" (open and claimed), "mine" (claimed by `mentor`, not resolved)
                or "all" (resolved ones too, after the rest).
        """
        if view not in VIEWS:
            raise InvalidInput(f"view: must be one of {', '.join(VIEWS)} (got {view!r})")
        unresolved = handoffs.c.status != "resolved"
        where = {"waiting": unresolved, "mine": unresolved & (handoffs.c.claimed_by == mentor), "all": None}[view]
        urgent = (handoffs.c.category == "crisis") & unresolved
        counts = select(func.count(), func.count().filter(urgent))
        if where is not None:
            counts = counts.where(where)
        with self.engine.connect() as conn:
            total, crisis = conn.execute(counts).one()
            return _in_queue_order(conn, where, limit, offset), total, crisis

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
            with self.engine.begin() as conn:  # unless a mentor resolved it meanwhile
                done = conn.execute(update(handoffs).where(handoffs.c.id == handoff.id,
                                                           handoffs.c.status != "resolved").values(**values)).rowcount
            if not done:
                raise ConflictError(f"handoff {handoff.ref}: already resolved")
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
        # The checks above again, in the UPDATE itself: of mentors resolving (or claiming) at
        # once, one changes the row; the others change nothing and are told who did.
        mine = (handoffs.c.status == "open") | ((handoffs.c.status == "claimed") & (handoffs.c.claimed_by == mentor))
        with self.engine.begin() as conn:
            done = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff.id, mine)
                .values(
                    status="resolved",
                    claimed_by=mentor,
                    claimed_at=func.coalesce(handoffs.c.claimed_at, stamp),
                    resolved_at=stamp,
                    resolution_note=note,
                )
            ).rowcount
        if not done:
            current = self.get(ref)
            raise ConflictError(f"handoff {current.ref}: already {current.status} by {current.claimed_by}")
        return self.get(ref)

    @translated
    def purge_resolved(self, before: datetime) -> int:
        """Delete handoffs resolved before `before`, with their replies. Open and claimed
        ones are never touched."""
        old = (handoffs.c.status == "resolved") & (handoffs.c.resolved_at < before)
        with self.engine.begin() as conn:  # replies first: not every database cascades
            conn.execute(delete(handoff_replies).where(handoff_replies.c.handoff_id.in_(select(handoffs.c.id)
                                                                                       .where(old))))
            return conn.execute(delete(handoffs).where(old)).rowcount

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


def _is_ref(key: str) -> bool:
    code = key.removeprefix("MKB-")
    return key.startswith("MKB-") and len(code) == 6 and all(c in _REF_ALPHABET for c in code)


def _handoff(row: Any, replies: tuple[Reply, ...] = ()) -> Handoff:
    """A Handoff from its row; the lists show none of the replies, which only `get` reads."""
    fields = {name: row[name] for name in Handoff.__dataclass_fields__ if name not in ("transcript", "replies")}
    return Handoff(**fields, transcript=tuple((t["role"], t["text"]) for t in row["transcript"]), replies=replies)
