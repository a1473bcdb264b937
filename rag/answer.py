"""Answerers: compose a cited answer from retrieved chunks, or abstain.

The extractive answerer needs no generative model: it picks the sentences of the
top chunks that best answer the question and cites each one. The generative
answerer asks a chat model (see rag.backends.llm) and keeps only the sentences
that rag.citations can back with a source.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag import citations, followup, prompts
from rag.backends.llm import client_errors, make_chat_model
from rag.errors import AnswererError
from rag.guard import is_instruction
from rag.text import sentences, terms, words
from rag.types import Citation, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from rag.protocols import Embedder
    from rag.settings import Settings

ABSTAIN_TEXT = (
    "I couldn't find anything in the mentors' documents that answers this, so I won't "
    "guess. A human mentor can help: use \"Talk to a human mentor\" or ask your "
    "mentoring programme contact."
)


@dataclass(frozen=True)
class _Candidate:
    rank: int  # rank of its chunk in the retrieval
    position: int  # position of the sentence in its chunk
    text: str
    score: float


def _near_duplicate(a: str, b: str, threshold: float = 0.6) -> bool:
    sa, sb = set(words(a)), set(words(b))
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= threshold


class ExtractiveAnswerer:
    """Builds an answer from the retrieved chunks' own sentences, each with its `[n]`.

    Sentences come from the passages of the leading documents (the retriever ranks
    documents, and returns further passages of the first few after its k results),
    closest to the question first: on the dev split, quoting up to four passages of
    the first three documents instead of the single best passage of each of the first
    four raised keyword coverage from 0.42 to 0.49.

    Args:
        min_relevance: best-chunk similarity below which it abstains.
        max_words: soft cap on the answer's length.
        max_chunks: how many chunks sentences may come from.
        relevance_window: chunks scoring within this of the best are candidates.
        max_docs: how many of the leading documents those chunks may come from.
    """

    name = "extractive"

    def __init__(
        self,
        min_relevance: float,
        max_words: int = 120,
        max_chunks: int = 4,
        relevance_window: float = 0.12,
        max_docs: int = 3,
    ) -> None:
        self.min_relevance = min_relevance
        self.max_words = max_words
        self.max_chunks = max_chunks
        self.relevance_window = relevance_window
        self.max_docs = max_docs

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """A follow-up made standalone by rule (see rag.followup)."""
        return followup.standalone(question, history)

    def answer(
        self,
        question: str,
        retrieved: Sequence[ScoredChunk],
        history: Sequence[tuple[str, str]] = (),
    ) -> tuple[str, list[Citation]]:
        """(text, citations); empty text means abstain. Every sentence is quoted
        verbatim from the chunk it cites, so its citation holds by construction."""
        best = max((sc.similarity for sc in retrieved), default=0.0)
        if best < self.min_relevance:
            return "", []
        pool = self._pool(retrieved)
        chosen = self._select(question, pool)
        if not chosen:
            return "", []
        return self._compose(chosen, pool)

    def _pool(self, retrieved: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        """The chunks to quote, closest to the question first: those of the leading
        documents within `relevance_window` of the best of them; if none of those is
        relevant enough, the retrieved chunks at large."""
        leading = set(list(dict.fromkeys(sc.chunk.source for sc in retrieved))[: self.max_docs])
        for group in ([sc for sc in retrieved if sc.chunk.source in leading], list(retrieved)):
            best = max((sc.similarity for sc in group), default=0.0)
            floor = max(self.min_relevance, best - self.relevance_window)
            pool = sorted((sc for sc in group if sc.similarity >= floor), key=lambda sc: -sc.similarity)
            if pool:
                return pool[: self.max_chunks]
        return []

    def _select(self, question: str, pool: list[ScoredChunk]) -> list[_Candidate]:
        query = Counter(terms(question))
        candidates = [
            (rank, pos, text, set(terms(text)))
            for rank, sc in enumerate(pool)
            for pos, text in enumerate(sentences(sc.chunk.text))
            if 4 <= len(text.split()) <= 80 and not is_instruction(text)
        ]
        # Weigh query terms by how rare they are among the candidate sentences.
        doc_freq = Counter(t for *_, found in candidates for t in found)
        n = max(len(candidates), 1)
        weight = {t: math.log(1 + n / (1 + doc_freq[t])) for t in query}
        total = sum(weight.values()) or 1.0
        scored = []
        for rank, pos, text, found in candidates:
            overlap = sum(w for t, w in weight.items() if t in found) / total
            # The retriever's rank already weighs meaning and words together.
            prior = 1.0 / (1 + 0.7 * rank)
            lead = 0.05 if pos == 0 else 0.0  # a chunk's first sentence often states its point
            if overlap == 0 and rank > 0:
                continue  # shares no word with the question and is not from the best chunk
            scored.append(_Candidate(rank, pos, text, 0.6 * overlap + 0.4 * prior + lead))
        scored.sort(key=lambda c: c.score, reverse=True)
        chosen: list[_Candidate] = []
        used = 0
        for cand in scored:
            length = len(cand.text.split())
            if chosen and used + length > self.max_words:
                continue
            if any(_near_duplicate(cand.text, c.text) for c in chosen):
                continue
            chosen.append(cand)
            used += length
            if used >= self.max_words * 0.8:
                break
        return chosen

    def _compose(self, chosen: list[_Candidate], pool: list[ScoredChunk]) -> tuple[str, list[Citation]]:
        # Readable order: by source chunk (in the order first chosen), then as written.
        first_pick = {}
        for i, cand in enumerate(chosen):
            first_pick.setdefault(cand.rank, i)
        ordered = sorted(chosen, key=lambda c: (first_pick[c.rank], c.position))
        numbers: dict[int, int] = {}
        parts = []
        for cand in ordered:
            n = numbers.setdefault(cand.rank, len(numbers) + 1)
            text = cand.text if cand.text[-1] in ".!?" else cand.text + "."
            parts.append(f"{text} [{n}]")
        citations = []
        for rank, n in numbers.items():
            sc = pool[rank]
            snippet = " ".join(c.text for c in ordered if c.rank == rank)
            citations.append(Citation(n=n, chunk=sc.chunk, snippet=snippet, score=sc.similarity))
        return " ".join(parts), citations



class GenerativeAnswerer:
    """Asks a chat model to answer from the top chunks, then validates its citations.

    Args:
        chat_model: any LangChain chat model (see rag.backends.llm.make_chat_model).
        embedder: embeds sentences and sources for the citation check.
        min_support: least similarity between a sentence and the source it cites.
        min_relevance: least similarity to the question of a chunk the prompt shows;
            with none that close it abstains without asking the model.
        max_sources: how many of the top-ranked chunks the prompt shows.
        max_words: the answer length the prompt asks for.
        errors: exceptions from the model's client that mean the backend failed;
            by default those of every installed client.
    """

    name = "generative"

    def __init__(
        self,
        chat_model: BaseChatModel,
        embedder: Embedder,
        min_support: float,
        min_relevance: float,
        max_sources: int = 5,
        max_words: int = 120,
        errors: tuple[type[Exception], ...] | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.embedder = embedder
        self.min_support = min_support
        self.min_relevance = min_relevance
        self.max_sources = max_sources
        self.max_words = max_words
        self.errors = errors if errors is not None else client_errors()

    def _sources(self, retrieved: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        """The chunks the prompt shows, numbered 1.. in this order; [] means abstain.

        The best-ranked chunks whose similarity to the question reaches
        `min_relevance`: one below it is not evidence, and none means abstain.
        """
        relevant = [sc for sc in retrieved if sc.similarity >= self.min_relevance]
        return relevant[: self.max_sources]

    def _messages(
        self, question: str, sources: Sequence[ScoredChunk], history: Sequence[tuple[str, str]]
    ) -> list[BaseMessage]:
        chunks = [sc.chunk for sc in sources]
        return prompts.build_messages(question, chunks, history, max_words=self.max_words)

    def _unavailable(self, e: Exception) -> AnswererError:
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        return AnswererError(f"the LLM backend is unavailable ({reason})")

    def answer(
        self,
        question: str,
        retrieved: Sequence[ScoredChunk],
        history: Sequence[tuple[str, str]] = (),
    ) -> tuple[str, list[Citation]]:
        """(text, citations) with every sentence validated; empty text means abstain.

        Args:
            question: the (standalone) question.
            retrieved: chunks, best first.
            history: earlier turns as (role, text), role "user" or "assistant".

        Raises:
            AnswererError: the model's server failed or could not be reached.
        """
        sources = self._sources(retrieved)
        if not sources:
            return "", []
        try:
            reply = self.chat_model.invoke(self._messages(question, sources, history))
        except self.errors as e:
            raise self._unavailable(e) from e
        return self.check(reply.text, retrieved)

    def stream(
        self,
        question: str,
        retrieved: Sequence[ScoredChunk],
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str]:
        """Yield the model's reply as it arrives, unvalidated; nothing when abstaining.

        The deltas are the raw reply, so they may hold sentences the citation check
        will drop. Show them as a draft and replace it with
        `check("".join(deltas), retrieved)` when the stream ends: validation
        applies to the final text only. Arguments and errors are those of `answer`.
        """
        sources = self._sources(retrieved)
        if not sources:
            return
        try:
            for chunk in self.chat_model.stream(self._messages(question, sources, history)):
                if chunk.text:
                    yield chunk.text
        except self.errors as e:
            raise self._unavailable(e) from e

    def check(self, text: str, retrieved: Sequence[ScoredChunk]) -> tuple[str, list[Citation]]:
        """Validate a complete reply against the sources its prompt showed.

        Args:
            text: the model's reply.
            retrieved: the same chunks the reply was asked for, best first.
        """
        sources = self._sources(retrieved)
        if not sources:
            return "", []
        return citations.validate(text, sources, self.embedder, self.min_support)

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """A follow-up question made standalone for retrieval; unchanged without history.

        Args:
            question: the user's latest question.
            history: earlier turns as (role, text), oldest first.

        Raises:
            AnswererError: the model's server failed or could not be reached.
        """
        if not history:
            return question
        try:
            reply = self.chat_model.invoke(prompts.build_rewrite_messages(question, history))
        except self.errors as e:
            raise self._unavailable(e) from e
        # The first line only: a chatty model may explain its rewrite below it.
        lines = [line.strip() for line in reply.text.splitlines() if line.strip()]
        return lines[0] if lines else question


def make_answerer(settings: Settings, embedder: Embedder) -> ExtractiveAnswerer | GenerativeAnswerer:
    """The answerer named by `settings.answerer`.

    Args:
        settings: supplies `answerer`, the relevance and length limits and the `llm_*` fields.
        embedder: the embedder the generative answerer checks citations with.

    Raises:
        ConfigError: a generative backend is missing its package or settings.
    """
    if settings.answerer == "extractive":
        return ExtractiveAnswerer(settings.min_relevance, settings.max_answer_words)
    return GenerativeAnswerer(
        make_chat_model(settings),
        embedder,
        min_support=settings.citation_min_support,
        min_relevance=settings.min_relevance,
        max_words=settings.max_answer_words,
        errors=client_errors(settings.answerer),
    )
