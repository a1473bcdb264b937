"""Assistant.ask: the one facade the CLI and the web app share.

Every message is triaged first; a sensitive one never reaches retrieval or the
answerer. Then a follow-up is made standalone, the hybrid retriever finds the
evidence, and the answerer composes a cited answer or abstains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from rag.answer import ABSTAIN_TEXT, GenerativeAnswerer, make_answerer
from rag.backends import make_embedder
from rag.errors import AnswererError, StoreError
from rag.index import LiveIndex
from rag.protocols import Embedder
from rag.retrieve import HybridRetriever, SearchIndex
from rag.settings import Settings
from rag.triage import Triager
from rag.types import Answer, ScoredChunk

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


class Assistant:
    """Triage, retrieve, answer. Backends are built from settings unless given.

    Args:
        settings: the configuration.
        embedder: the embedding backend; built from settings when None.
        store: the index to search; by default the live index generation, which
            follows reindexing without a restart.
        answerer: extractive or generative; chosen by `settings.answerer` when None.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store: SearchIndex | None = None,
        answerer=None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.store = store or LiveIndex(settings, self.embedder)
        self.retriever = HybridRetriever(self.embedder, self.store, settings.top_k)
        self.answerer = answerer or make_answerer(settings, self.embedder)
        self.triager = Triager(settings, self.embedder)

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        """Answer one question, given the conversation so far as (role, text) turns."""
        answer = None
        for answer in self.ask_stream(question, history):
            pass
        return answer

    def ask_stream(self, question: str, history: Sequence[Turn] = ()) -> Iterator[Answer]:
        """Like `ask`, yielding drafts while a generative backend streams; the last is final."""
        start = time.perf_counter()
        question = " ".join(question.split())[: self.settings.max_question_chars]
        found = self.triager.classify(question)
        if found:
            yield self._answer(question, "handoff", self.triager.handoff_text(found.category), start, start,
                               category=found.category)
            return
        retrieved: list[ScoredChunk] = []
        try:
            query = self.answerer.rewrite(question, history) if history else question
            retrieved = self.retriever.search(query) if query else []
            retrieved_at = time.perf_counter()
            if isinstance(self.answerer, GenerativeAnswerer) and self.settings.stream:
                draft = ""
                for delta in self.answerer.stream(query, retrieved, history):
                    draft += delta
                    yield self._answer(question, "answer", draft, start, retrieved_at, retrieved=retrieved,
                                       final=False)
                text, citations = self.answerer.check(draft, retrieved)
            else:
                text, citations = self.answerer.answer(query, retrieved, history)
        except (StoreError, AnswererError) as e:
            log.warning("answering failed: %s", e)
            kind = "store" if isinstance(e, StoreError) else "answerer"
            yield self._answer(question, "abstain", UNAVAILABLE_TEXT[kind], start, time.perf_counter(),
                               retrieved=retrieved, category="unavailable")
            return
        if not text:
            yield self._answer(question, "abstain", ABSTAIN_TEXT, start, retrieved_at, retrieved=retrieved)
            return
        yield self._answer(question, "answer", text, start, retrieved_at, retrieved=retrieved,
                           citations=citations)

    def _answer(self, question, route, text, start, retrieved_at, *, retrieved=(), citations=(),
                category=None, final=True) -> Answer:
        now = time.perf_counter()
        timings = {
            "retrieve": round((retrieved_at - start) * 1000, 2),
            "answer": round((now - retrieved_at) * 1000, 2),
            "total": round((now - start) * 1000, 2),
        }
        return Answer(question, route, text, tuple(citations), tuple(retrieved), self.settings.disclaimer,
                      category=category, timings_ms=timings, final=final)
