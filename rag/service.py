"""Assistant.ask: the one facade the CLI and the web app share.

Every message is triaged first; a sensitive one never reaches retrieval or the
answerer, and becomes a handoff record a human mentor picks up. Requests about the
assistant itself (jailbreaks, "are you human?") get a fixed honest reply. Then a
follow-up is made standalone, the hybrid retriever finds the evidence, and the
answerer composes a cited answer or abstains. Every final answer is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from rag.answering import answerable
from rag.answering.extractive import ABSTAIN_TEXT, NOT_COVERED_TEXT
from rag.answering.generative import GenerativeAnswerer
from rag.core.errors import AnswererError, DatabaseError, InvalidInput, RateLimitedError, StoreError
from rag.core.protocols import Embedder
from rag.core.settings import Settings
from rag.core.types import Answer, ScoredChunk
from rag.people.activity import ActivityLog
from rag.people.handoffs import Handoff, HandoffStore, MenteeView
from rag.people.limits import Caller, budgets
from rag.retrieval.retrieve import SearchIndex, retriever_for
from rag.safety import guard
from rag.safety.triage import Triage, Triager
from rag.safety.triage_model import Encoded, whole

log = logging.getLogger(__name__)

Turn = tuple[str, str]  # (role, text): role "user" or "assistant"

UNAVAILABLE_TEXT = {
    "store": (
        "The knowledge base is temporarily unavailable, so I can't look this up right now. "
        "Please try again in a few minutes, or ask a human mentor."
    ),
    "answerer": (
        "The assistant's language model is unavailable right now, so I won't guess. "
        "Please try again shortly, or ask a human mentor."
    ),
}


RATE_LIMITED_TEXT = (
    "You're asking faster than I can keep up with. Please wait about {seconds} seconds and "
    "ask again. If something is urgent, use “Talk to a human mentor”."
)
# After a handoff's reply (Markdown of our own). It promises no contact it cannot make:
# nobody can reach a mentee who left no way to, so it says how to leave one and how to
# read a mentor's reply by the reference code.
HANDED_OFF_TEXT = (
    "\n\nYour message is with the human mentors under the reference **{ref}**. Keep it: to read "
    "a mentor's reply, enter it under “Check my request”. No one can contact you unless you leave "
    "a way to reach you: press “Talk to a human mentor” to add one."
)
NOT_RECORDED_TEXT = "\n\nThis question was not recorded, so no mentor has been asked to follow it up."
MAX_HISTORY_TURNS = 12
MAX_TURN_CHARS = 4000


class Assistant:
    """Triage, retrieve, answer. `mentorkb.app.build` wires it.

    Args:
        settings: the configuration.
        embedder: the embedding backend.
        store: the index to search (the live index generation follows reindexing
            without a restart).
        answerer: extractive or generative.
        handoffs: opens the handoff store; called on each use, so a database that
            was down is tried again.
        activity: opens the question log, the same way.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: SearchIndex,
        answerer,
        *,
        handoffs: Callable[[], HandoffStore],
        activity: Callable[[], ActivityLog],
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.retriever = retriever_for(settings, self.embedder, self.store)
        self.answerer = answerer
        self.triager = Triager(settings, self.embedder, cache_dir=settings.data_dir / "cache")
        # The application database is opened on first use, and retried until it opens:
        # answering never depends on it (a full disk still gets answers and help text).
        self._open_handoffs = handoffs
        self._open_activity = activity
        # Every rate limit, by name; the web server counts its own on the same budgets.
        self.budgets = budgets(settings)

    def warm_up_model(self) -> None:
        """Do now what the first question would otherwise wait for: load the embedding
        model (one encode) and the triage classifier. A question that
        comes first waits for the same load rather than repeating it."""
        self.embedder.embed(["warm up"])
        self.triager.warm_up()

    def warm_up_index(self) -> None:
        """Open the live index generation (importing Chroma) before the first question."""
        self.store.count()

    @property
    def handoffs(self) -> HandoffStore:
        """Raises DatabaseError while the database cannot be opened."""
        return self._open_handoffs()

    @property
    def activity(self) -> ActivityLog:
        return self._open_activity()

    def ask(self, question: str, history: Sequence[Turn] = (), *, session: str | None = None,
            record: bool = True, caller: Caller | None = None) -> Answer:
        """Answer one question, given the conversation so far as (role, text) turns.

        `caller` is counted against the question budget (None: not limited, as in the
        CLI); `session` groups a chat's questions and handoffs. With `record` off (the
        CLI's default) nothing is written: no handoff is filed (the reply says so) and
        the question is not logged.
        """
        answer = None
        for answer in self.ask_stream(question, history, session=session, record=record, caller=caller):
            pass
        return answer

    def ask_stream(
        self, question: str, history: Sequence[Turn] = (), *, session: str | None = None, record: bool = True,
        caller: Caller | None = None,
    ) -> Iterator[Answer]:
        """Like `ask`, yielding drafts while a generative backend streams; the last is final."""
        answer = None
        question = clean(question, self.settings.max_question_chars)
        for answer in self._respond(question, history, session, record, caller):
            yield answer
        if answer is not None and record:
            try:
                self.activity.record_answer(answer, session, model=self.embedder.name)
            except DatabaseError as e:
                log.warning("question log: %s", e)

    def request_human(
        self, history: Sequence[Turn], *, contact: str | None = None, session: str | None = None,
        caller: Caller | None = None,
    ) -> Handoff:
        """The mentee asked for a person: a handoff with the conversation so far.

        Within one session, a handoff not yet resolved is reused (and gets the contact)
        rather than duplicated. New ones are limited per `caller` (a server-issued
        identity; the client's session id is its own choice) and per client address,
        so a flood cannot bury the queue.

        Raises:
            ValueError: nothing to pass on (no message from the mentee and no contact).
            RateLimitedError: over a limit; nothing is stored.
            DatabaseError: it cannot be stored.
        """
        history = bounded(history)
        contact = (contact or "").strip() or None
        if not contact and not any(role == "user" and text.strip() for role, text in history):
            raise InvalidInput("nothing to pass on: write a message or leave a contact so a mentor can reach you")
        existing = self.handoffs.open_for(session) if session else None
        if existing:
            return self.handoffs.update(existing.ref, contact=contact, transcript=history)
        self._count("handoff_requests", caller, "requests for a mentor")
        return self.handoffs.create("requested", history, requested_by="mentee", contact=contact,
                                    session=session)

    def check_request(self, ref: str, *, caller: Caller | None = None) -> MenteeView:
        """A mentee's own handoff by its reference code: its state and the mentors' replies.

        Limited per caller and per address, so codes cannot be guessed by trying.

        Raises:
            InvalidInput: not a reference code.
            NotFoundError: no handoff has it.
            RateLimitedError: too many lookups from here.
        """
        self._count("lookups", caller, "checks")
        return self.handoffs.for_mentee(ref)

    def _count(self, budget: str, caller: Caller | None, what: str) -> None:
        """Count one of `what` for `caller` (an unknown caller counts as one anonymous
        address); raises RateLimitedError when over the budget."""
        wait = self.budgets[budget].take(caller or Caller.of(None, None, None))
        if wait:
            raise RateLimitedError(f"too many {what} from here; try again in {max(1, round(wait / 60))} minute(s)",
                                   wait)

    def _respond(self, question: str, history: Sequence[Turn], session: str | None,
                 record: bool = True, caller: Caller | None = None) -> Iterator[Answer]:
        start = time.perf_counter()
        history = bounded(history)
        # One encode serves triage (the message and its parts) and retrieval (the whole).
        encoded = self.triager.encode(question) if question else None
        vector = encoded.vectors[0].tolist() if encoded else None
        # The extractive resolution of a follow-up joins the earlier questions to this one
        # (rag.retrieval.followup): a search text, not a question (an LLM's rewrite is one).
        # Made when first needed: not for a message refused before the search.
        generative = isinstance(self.answerer, GenerativeAnswerer)
        extractive = bool(history and vector) and not generative
        joined = None
        found = self.triager.classify(question, encoded)
        if found and found.handoff and extractive:
            joined = self._joined(question, history)
            found = self._in_context(found, *joined) if joined else found
        if found and found.handoff:  # before the rate limit: help resources are never withheld
            yield self._handoff(question, history, found.category, session, start, record)
            return
        # What every reply to this message carries: for a possible signal, the offer of a
        # person (with help resources for a possible crisis); later, the question as resolved.
        carried = {"notice": self.triager.check_in_text(found.category), "category": found.category} if found else {}
        wait = self.budgets["questions"].take(caller) if caller else 0
        if wait:
            yield self._answer(question, "refuse", RATE_LIMITED_TEXT.format(seconds=round(wait)), start, start,
                               **{**carried, "category": "rate_limited"})
            return
        meta = guard.meta_request(question)
        if meta:
            yield self._answer(question, "refuse", guard.meta_reply(meta), start, start,
                               **{**carried, "category": meta})
            return
        retrieved: list[ScoredChunk] = []
        try:
            # A follow-up is searched and answered as the conversation makes it read
            # (rag.retrieval.followup; an LLM's rewrite with a generative backend).
            joined = joined or (self._joined(question, history) if extractive else None)
            query, query_vector = (joined[0] if joined else question), vector
            if history and generative:
                query = self.answerer.rewrite(question, history)
            if query != question:
                # Triage reads the question as answered too: "is that legal?" after a
                # message about a manager's behaviour is a legal question.
                encoded = joined[1] if joined else self.triager.encode(query)
                query_vector = encoded.vectors[0].tolist()
                seen = self.triager.classify(query, encoded)
                if seen and seen.handoff and joined:
                    seen = self._of_the_conversation(history, seen)
                if seen and seen.handoff:
                    yield self._handoff(question, history, seen.category, session, start, record)
                    return
                if seen and "notice" not in carried:
                    carried = {"notice": self.triager.check_in_text(seen.category), "category": seen.category}
                carried["resolved"] = query
            retrieved = self.retriever.search(query, query_vector) if query else []
            retrieved_at = time.perf_counter()
            absent = answerable.missing(query, retrieved) if retrieved else []
            if absent:  # the documents never mention what it asks about: a person, not a guess
                yield self._answer(question, "abstain", NOT_COVERED_TEXT.format(what=_either(absent)),
                                   start, retrieved_at, retrieved=retrieved, vector=vector, **carried)
                return
            if generative and self.settings.stream:
                draft = ""
                for delta in self.answerer.stream(query, retrieved, history):
                    draft += delta
                    yield self._answer(question, "answer", draft, start, retrieved_at, retrieved=retrieved,
                                       final=False, **carried)
                text, citations = self.answerer.check(draft, retrieved, query)
            elif joined:
                # The passages were found with the joined text; the sentences quoted are
                # chosen for what was asked now (docs/evaluation.md, "Follow-up questions").
                text, citations = self.answerer.answer(question, retrieved, history, vector=vector)
            else:
                text, citations = self.answerer.answer(query, retrieved, history, vector=query_vector)
        except (StoreError, AnswererError) as e:
            log.warning("answering failed: %s", e)
            kind = "store" if isinstance(e, StoreError) else "answerer"
            yield self._answer(question, "abstain", UNAVAILABLE_TEXT[kind], start, time.perf_counter(),
                               retrieved=retrieved, **{**carried, "category": "unavailable"})
            return
        if not text:
            yield self._answer(question, "abstain", ABSTAIN_TEXT, start, retrieved_at, retrieved=retrieved,
                               vector=vector, **carried)
            return
        yield self._answer(question, "answer", text, start, retrieved_at, retrieved=retrieved,
                           citations=citations, **carried)

    def _joined(self, question: str, history: Sequence[Turn]) -> tuple[str, Encoded] | None:
        """A follow-up's joined reading (rag.retrieval.followup): its search text and that
        text's embedding as a single part, or None for a question read alone.

        Its parts (the earlier questions, this one's sentences) were triaged when each was
        asked, so only the whole is new; scoring the parts again cost time and told nothing.
        A vector mixed from the questions' own instead of this encode was tried: it loses
        what the words mean together ("and when I'm the one getting it?" after a question
        on giving feedback is about receiving it; docs/evaluation.md).
        """
        text = self.answerer.rewrite(question, history)
        return None if text == question else (text, whole(text, self.embedder.embed([text])[0]))

    def _in_context(self, found: Triage, text: str, encoded: Encoded) -> Triage:
        """A follow-up's handoff, read again with the conversation (`_joined`).

        Alone, "and if it really can't be broken up?" or "what if that person's away?"
        reads as trouble; after "how do I split a large change?" it does not. When the
        handoff came from the classifier or the rules (not a lexicon phrase) and the
        follow-up read with the earlier questions is no handoff, the message is
        answered with a check-in (a person offered beside the answer) instead.
        A possible crisis is never downgraded.
        """
        if _firm(found):
            return found
        again = self.triager.classify(text, encoded)
        return found if again and again.handoff else replace(found, handoff=False)

    def _of_the_conversation(self, history: Sequence[Turn], seen: Triage) -> Triage:
        """A handoff seen only in the joined reading of a follow-up (the earlier user
        questions and this one, rag.retrieval.followup), not in the message as typed.

        It holds when one of the earlier user messages alone is a handoff ("my manager
        keeps touching me", then "should I put it on our agenda?"), for a possible
        crisis, and for a lexicon phrase. Otherwise the joining made it ("what's a code
        of conduct for?" then "written by who?" reads as legal): the answer comes with
        a check-in, a person offered beside it.
        """
        if _firm(seen):
            return seen
        earlier = (self.triager.classify(text) for role, text in history if role == "user" and text.strip())
        return seen if any(t and t.handoff for t in earlier) else replace(seen, handoff=False)

    def _handoff(self, question: str, history: Sequence[Turn], category: str, session: str | None,
                 start: float, record: bool = True) -> Answer:
        """Store the handoff, then say how to follow it up; if it can't be stored (or
        `record` is off), never claim it was."""
        text = self.triager.handoff_text(category)
        if not record:
            return self._answer(question, "handoff", text + NOT_RECORDED_TEXT, start, start, category=category)
        transcript = [*history, ("user", question)]
        try:
            existing = self.handoffs.open_for(session) if session else None
            handoff = (self.handoffs.update(existing.ref, transcript=transcript, category=category) if existing
                       else self.handoffs.create(category, transcript, session=session))
        except DatabaseError as e:
            log.error("could not store a %s handoff: %s", category, e)
            text += ("\n\nI couldn't pass this on to a mentor automatically just now, so please "
                     "contact a human mentor or your programme lead directly.")
            return self._answer(question, "handoff", text, start, start, category=category)
        text += HANDED_OFF_TEXT.format(ref=handoff.ref)
        return self._answer(question, "handoff", text, start, start, category=category, handoff_ref=handoff.ref)

    def _answer(self, question, route, text, start, retrieved_at, *, retrieved=(), citations=(),
                category=None, final=True, handoff_ref=None, notice="", vector=None, resolved=None) -> Answer:
        now = time.perf_counter()
        timings = {
            "retrieve": round((retrieved_at - start) * 1000, 2),
            "answer": round((now - retrieved_at) * 1000, 2),
            "total": round((now - start) * 1000, 2),
        }
        return Answer(question, route, text, tuple(citations), tuple(retrieved), self.settings.disclaimer,
                      category=category, timings_ms=timings, final=final, handoff_ref=handoff_ref,
                      notice=notice, vector=tuple(vector) if vector else None, resolved=resolved)


def _firm(found: Triage) -> bool:
    """A handoff no context moves: a possible crisis, or a lexicon phrase (score 1.0)."""
    return found.category == "crisis" or found.score >= 1.0


def _either(names: Sequence[str]) -> str:
    """"A", "A or B", "A, B or C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def bounded(history: Sequence[Turn]) -> list[Turn]:
    """The last turns, each cut to a fixed length: bounded work, whatever the client sends."""
    return [(role, text[:MAX_TURN_CHARS]) for role, text in list(history)[-MAX_HISTORY_TURNS:]]


def clean(question: str, max_chars: int) -> str:
    """One line of printable text, cut to `max_chars`."""
    printable = "".join(ch if ch.isprintable() else " " for ch in question)
    return " ".join(printable.split())[:max_chars]
