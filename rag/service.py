"""Assistant.ask: the one facade the CLI and the web app share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rag import triage as safety
from rag.answer import ABSTAIN_TEXT, ExtractiveAnswerer
from rag.backends import make_embedder
from rag.index import LiveIndex
from rag.protocols import Embedder
from rag.retrieve import SearchIndex
from rag.retrieve import HybridRetriever
from rag.settings import Settings
from rag.types import Answer


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


class Assistant:
    """Triage, retrieve, answer. Backends are built from settings unless given.

    Args:
        settings: the configuration.
        embedder: the embedding backend; built from settings when None.
        store: the index to search; by default the live index generation, which
            follows reindexing without a restart.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store: SearchIndex | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.store = store or LiveIndex(settings, self.embedder)
        self.retriever = HybridRetriever(self.embedder, self.store, settings.top_k)
        self.answerer = ExtractiveAnswerer(settings.min_relevance, settings.max_answer_words)

    def ask(self, question: str, history: Sequence[Any] = ()) -> Answer:
        """Answer one question. `history` is the conversation so far (unused by this version)."""
        start = time.perf_counter()
        question = " ".join(question.split())[: self.settings.max_question_chars]
        disclaimer = self.settings.disclaimer
        found = safety.triage(question)
        if found:
            return Answer(
                question, "handoff", safety.handoff_text(found.category),
                disclaimer=disclaimer, category=found.category,
                timings_ms={"retrieve": 0.0, "answer": 0.0, "total": _ms(start)},
            )
        retrieved = self.retriever.search(question) if question else []
        retrieved_at = time.perf_counter()
        text, citations = self.answerer.answer(question, retrieved)
        answered_at = time.perf_counter()
        timings = {
            "retrieve": round((retrieved_at - start) * 1000, 2),
            "answer": round((answered_at - retrieved_at) * 1000, 2),
            "total": _ms(start),
        }
        if not text:
            return Answer(
                question, "abstain", ABSTAIN_TEXT, (), tuple(retrieved), disclaimer,
                timings_ms=timings,
            )
        return Answer(
            question, "answer", text, tuple(citations), tuple(retrieved), disclaimer,
            timings_ms=timings,
        )
