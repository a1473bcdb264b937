"""The question log and answer feedback that admins see in stats.

Question text is stored only when `log_questions` is on; route, category and
latency always are. A sensitive message (one handed to a mentor, or answered with a
check-in because it may be) is never stored here verbatim: admins see
"[sensitive: crisis] → MKB-…", and only the handoff holds the words, for the
mentors working the queue.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, not_, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from rag.core.errors import InvalidInput
from rag.core.types import Answer
from rag.people.db import (
    feedback,
    gap_covered,
    handoffs,
    now,
    question_vectors,
    questions,
    relaxed_commit,
    translated,
)

# How `logged_question` marks a message it keeps only as a category: never a gap.
SENSITIVE_MARKS = ("[sensitive:", "[possibly sensitive:")
# How the question log's (route, category) read on the admin's plots: a check-in is an
# answer given beside an offer of a person, so it carries a triage category.
ROUTE_NAMES = {"answer": "answered", "abstain": "abstained", "handoff": "handed off", "refuse": "refused"}
NOT_HELPFUL = "not helpful"  # a rating's name on the plots and as a gap's reason


@dataclass(frozen=True)
class LoggedQuestion:
    created_at: datetime
    question: str | None
    route: str
    category: str | None
    latency_ms: float


@dataclass(frozen=True)
class GapItem:
    """A question the documents did not serve: abstained on (kind "q", a question log
    row) or rated not helpful (kind "f", a feedback row)."""

    kind: str
    id: int
    text: str
    created_at: datetime
    session: str | None
    covered_at: datetime | None = None
    covered_by: str | None = None

    @property
    def reason(self) -> str:
        return ROUTE_NAMES["abstain"] if self.kind == "q" else NOT_HELPFUL


def logged_question(answer: Answer) -> str:
    """The question as the logs may keep it: a sensitive one only as its category and
    handoff reference."""
    if answer.route != "handoff" and not answer.notice:
        return answer.question
    kind = "sensitive" if answer.route == "handoff" else "possibly sensitive"
    where = f" → {answer.handoff_ref}" if answer.handoff_ref else ""
    return f"[{kind}: {answer.category or 'unspecified'}]{where}"


class ActivityLog:
    def __init__(self, engine: Engine, *, log_questions: bool = True) -> None:
        self.engine = engine
        self.log_questions = log_questions

    @translated
    def record_answer(self, answer: Answer, session: str | None = None, *, model: str | None = None) -> None:
        """Log one answered question, linked to the handoff it filed, if any. An abstained
        question's embedding (`answer.vector`, by embedding model `model`), which answering
        computed anyway, is kept for the gap view."""
        logged = logged_question(answer) if self.log_questions else None
        handoff_id = (select(handoffs.c.id).where(handoffs.c.ref == answer.handoff_ref).scalar_subquery()
                      if answer.handoff_ref else None)
        with relaxed_commit(self.engine) as conn:  # one row a question: not worth an fsync
            conn.execute(
                insert(questions).values(
                    created_at=now(),
                    session=session,
                    question=logged,
                    route=answer.route,
                    category=answer.category,
                    latency_ms=float(answer.timings_ms.get("total", 0.0)),
                    handoff_id=handoff_id,
                )
            )
        if answer.route == "abstain" and answer.vector and model and logged == answer.question:
            self.store_vectors(model, {logged: array("f", answer.vector).tobytes()})

    @translated
    def record_feedback(self, answer: Answer, rating: int, comment: str = "", session: str | None = None) -> int:
        """Store a rating (+1/-1) with the question, answer and citations; returns its id."""
        if rating not in (1, -1):
            raise InvalidInput(f"rating: must be 1 or -1 (got {rating!r})")
        cited = [
            {"n": c.n, "source": c.chunk.source, "title": c.chunk.title, "section": c.chunk.section,
             "page": c.chunk.page}
            for c in answer.citations
        ]
        with self.engine.begin() as conn:
            done = conn.execute(
                insert(feedback).values(
                    created_at=now(), session=session, rating=rating, comment=(comment or "").strip()[:2000] or None,
                    question=logged_question(answer), answer=answer.text, citations=cited,
                )
            )
        return done.inserted_primary_key[0]

    @translated
    def comment_feedback(self, feedback_id: int, comment: str, session: str | None = None) -> None:
        """Attach a comment to a rating given earlier in the same session."""
        with self.engine.begin() as conn:
            conn.execute(
                update(feedback)
                .where(feedback.c.id == feedback_id, feedback.c.session == session)
                .values(comment=(comment or "").strip()[:2000] or None)
            )

    @translated
    def recent(self, limit: int = 50) -> list[LoggedQuestion]:
        query = select(questions).order_by(questions.c.created_at.desc(), questions.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                LoggedQuestion(r["created_at"], r["question"], r["route"], r["category"], r["latency_ms"])
                for r in conn.execute(query).mappings()
            ]

    @translated
    def stats(self) -> dict[str, Any]:
        """Counts by route, latency p50, and the feedback summary with recent comments."""
        with self.engine.connect() as conn:
            routes = dict(conn.execute(select(questions.c.route, func.count()).group_by(questions.c.route)).all())
            latencies = sorted(v for (v,) in conn.execute(select(questions.c.latency_ms)))
            ratings = dict(conn.execute(select(feedback.c.rating, func.count()).group_by(feedback.c.rating)).all())
            comments = conn.execute(
                select(feedback.c.created_at, feedback.c.rating, feedback.c.comment, feedback.c.question)
                .where(feedback.c.comment.is_not(None))
                .order_by(feedback.c.created_at.desc())
                .limit(20)
            ).mappings().all()
        return {
            "questions": sum(routes.values()),
            "by_route": routes,
            "latency_p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "feedback_up": ratings.get(1, 0),
            "feedback_down": ratings.get(-1, 0),
            "feedback_comments": [dict(c) for c in comments],
        }

    @translated
    def purge(self, before: datetime) -> dict[str, int]:
        """Delete logged questions and feedback created before `before`, with their gap marks
        and cached embeddings; returns the counts."""
        with self.engine.begin() as conn:
            texts = {t for (t,) in conn.execute(select(questions.c.question).where(
                questions.c.created_at < before, questions.c.question.is_not(None)))}
            texts |= {t for (t,) in conn.execute(select(feedback.c.question).where(feedback.c.created_at < before))}
            for batch in _batches(sorted({_text_hash(t) for t in texts})):
                conn.execute(delete(question_vectors).where(question_vectors.c.text_hash.in_(batch)))
            asked = conn.execute(delete(questions).where(questions.c.created_at < before)).rowcount
            rated = conn.execute(delete(feedback).where(feedback.c.created_at < before)).rowcount
            # Their embeddings (above) and gap marks go with them.
            for kind, table in (("q", questions), ("f", feedback)):
                conn.execute(delete(gap_covered).where(gap_covered.c.kind == kind,
                                                       gap_covered.c.item_id.not_in(select(table.c.id))))
        return {"questions": asked, "feedback": rated}

    @translated
    def gap_items(self, since: datetime, limit: int = 20_000) -> list[GapItem]:
        """Abstained questions and not-helpful ratings since `since`, newest first, with
        their "covered" marks. Never a sensitive message (handed off, checked in on: only
        its category is logged) nor an abstention because the store was down."""
        def query(kind: str, table, *only):
            """The table's items since `since` that match `only`, each with its mark."""
            marked = and_(gap_covered.c.kind == kind, gap_covered.c.item_id == table.c.id)
            text = table.c.question
            return (
                select(table.c.id, text, table.c.created_at, table.c.session, gap_covered.c.covered_at,
                       gap_covered.c.covered_by)
                .select_from(table.outerjoin(gap_covered, marked))
                .where(table.c.created_at >= since, text.is_not(None),
                       *[not_(text.startswith(m, autoescape=True)) for m in SENSITIVE_MARKS], *only)
                .order_by(table.c.created_at.desc()).limit(limit)
            )

        asked = query("q", questions, questions.c.route == "abstain", questions.c.handoff_id.is_(None),
                      or_(questions.c.category.is_(None), questions.c.category != "unavailable"))
        rated = query("f", feedback, feedback.c.rating == -1)
        with self.engine.connect() as conn:
            items = [GapItem(kind, *row) for kind, query in (("q", asked), ("f", rated)) for row in conn.execute(query)]
        return sorted(items, key=lambda i: i.created_at, reverse=True)[:limit]

    @translated
    def cover(self, items: list[tuple[str, int]], by: str) -> None:
        """Mark gap items ((kind, id) pairs) covered by a document, by mentor `by`."""
        at = now()
        with self.engine.begin() as conn:
            for kind, item_id in items:
                conn.execute(delete(gap_covered).where(gap_covered.c.kind == kind, gap_covered.c.item_id == item_id))
            if items:
                conn.execute(insert(gap_covered), [{"kind": k, "item_id": i, "covered_at": at, "covered_by": by}
                                                   for k, i in items])

    @translated
    def vectors(self, model: str, texts: list[str]) -> dict[str, bytes]:
        """Stored embeddings (float32 bytes) of `texts` by model `model`, by text."""
        keys = {_vector_key(model, t): t for t in texts}
        found: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for batch in _batches(list(keys)):
                query = select(question_vectors.c.key, question_vectors.c.vector).where(
                    question_vectors.c.key.in_(batch))
                found.update((keys[k], v) for k, v in conn.execute(query))
        return found

    @translated
    def store_vectors(self, model: str, vectors: dict[str, bytes]) -> None:
        """Keep embeddings of question texts for the next gap view. A cache: if another
        worker stored one of them first, this batch is dropped and embedded again next time."""
        rows = {_vector_key(model, t): {"text_hash": _text_hash(t), "vector": v} for t, v in vectors.items()}
        try:
            with relaxed_commit(self.engine) as conn:  # losing it costs an encode
                for batch in _batches(list(rows)):
                    have = {k for (k,) in conn.execute(select(question_vectors.c.key)
                                                       .where(question_vectors.c.key.in_(batch)))}
                    new = [{"key": k, **rows[k]} for k in batch if k not in have]
                    if new:
                        conn.execute(insert(question_vectors), new)
        except IntegrityError:
            pass

    @translated
    def daily(self, since: datetime) -> list[dict[str, Any]]:
        """Per day (UTC) since `since`: questions by route name (see ROUTE_NAMES, plus
        "check-in") and not-helpful ratings (route NOT_HELPFUL)."""
        route = case((and_(questions.c.route == "answer", questions.c.category.is_not(None)), "check-in"),
                     else_=questions.c.route)
        day = func.date(questions.c.created_at)
        rated_day = func.date(feedback.c.created_at)
        with self.engine.connect() as conn:
            asked = conn.execute(select(day, route, func.count()).where(questions.c.created_at >= since)
                                 .group_by(day, route)).all()
            down = conn.execute(select(rated_day, func.count()).where(feedback.c.created_at >= since,
                                                                       feedback.c.rating == -1)
                                .group_by(rated_day)).all()
        rows = [{"day": str(d), "route": ROUTE_NAMES.get(r, r), "count": n} for d, r, n in asked]
        return rows + [{"day": str(d), "route": NOT_HELPFUL, "count": n} for d, n in down]


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _vector_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def _batches(values: list, size: int = 500) -> list[list]:
    """Pieces under every database's bound-parameter limit."""
    return [values[i:i + size] for i in range(0, len(values), size)]
