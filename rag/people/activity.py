"""The question log and answer feedback that admins see in stats.

Question text is stored only when `log_questions` is on; route, category and
latency always are. A sensitive message (one handed to a mentor, or answered with a
check-in because it may be) is never stored here verbatim: admins see
"[sensitive: crisis] → MKB-…", and only the handoff holds the words, for the
mentors working the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine

from rag.core.errors import InvalidInput
from rag.core.types import Answer
from rag.people.db import feedback, handoffs, now, questions, relaxed_commit, translated


@dataclass(frozen=True)
class LoggedQuestion:
    created_at: datetime
    question: str | None
    route: str
    category: str | None
    latency_ms: float


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
    def record_answer(self, answer: Answer, session: str | None = None) -> None:
        """Log one answered question, linked to the handoff it filed, if any."""
        handoff_id = (select(handoffs.c.id).where(handoffs.c.ref == answer.handoff_ref).scalar_subquery()
                      if answer.handoff_ref else None)
        with relaxed_commit(self.engine) as conn:  # one row a question: not worth an fsync
            conn.execute(
                insert(questions).values(
                    created_at=now(),
                    session=session,
                    question=logged_question(answer) if self.log_questions else None,
                    route=answer.route,
                    category=answer.category,
                    latency_ms=float(answer.timings_ms.get("total", 0.0)),
                    handoff_id=handoff_id,
                )
            )

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
        """Delete logged questions and feedback created before `before`; returns the counts."""
        with self.engine.begin() as conn:
            asked = conn.execute(delete(questions).where(questions.c.created_at < before)).rowcount
            rated = conn.execute(delete(feedback).where(feedback.c.created_at < before)).rowcount
        return {"questions": asked, "feedback": rated}
