"""The generative answerer, and `make_answerer`, which picks an answerer by settings.

The generative answerer asks a chat model (see rag.backends.llm) and keeps only
the sentences that rag.answering.citations can back with a source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rag.answering import citations, prompts
from rag.answering.extractive import ExtractiveAnswerer
from rag.backends.llm import client_errors, make_chat_model
from rag.core.errors import AnswererError
from rag.core.types import Citation, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from rag.core.protocols import Embedder, VectorIndex
    from rag.core.settings import Settings


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
        picker: chooses the passages the prompt shows first: the chunks of the
            sentences the extractive answerer would quote (`passages`), then the other
            relevant chunks by rank. By default one built on `embedder`.
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
        picker: ExtractiveAnswerer | None = None,
        errors: tuple[type[Exception], ...] | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.embedder = embedder
        self.min_support = min_support
        self.min_relevance = min_relevance
        self.max_sources = max_sources
        self.max_words = max_words
        self.picker = picker or ExtractiveAnswerer(min_relevance, embedder, max_words)
        self.errors = errors if errors is not None else client_errors()

    def _sources(self, question: str, retrieved: Sequence[ScoredChunk],
                 vector: Sequence[float] | None = None) -> list[ScoredChunk]:
        """The chunks the prompt shows, numbered 1.. in this order; [] means abstain.

        Those whose similarity to the question reaches `min_relevance` (one below it
        is not evidence, and none means abstain): first the chunks of the sentences
        the extractive answerer would quote, then the rest by rank.
        """
        relevant = [sc for sc in retrieved if sc.similarity >= self.min_relevance]
        if not relevant:
            return []
        first = self.picker.passages(question, relevant, vector)
        ids = {sc.chunk.chunk_id for sc in first}
        return [*first, *(sc for sc in relevant if sc.chunk.chunk_id not in ids)][: self.max_sources]

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
        vector: Sequence[float] | None = None,
    ) -> tuple[str, list[Citation]]:
        """(text, citations) with every sentence validated; empty text means abstain.

        Args:
            question: the (standalone) question.
            retrieved: chunks, best first.
            history: earlier turns as (role, text), role "user" or "assistant".
            vector: the question's embedding, if the caller has it (for choosing passages).

        Raises:
            AnswererError: the model's server failed or could not be reached.
        """
        sources = self._sources(question, retrieved, vector)
        if not sources:
            return "", []
        try:
            reply = self.chat_model.invoke(self._messages(question, sources, history))
        except self.errors as e:
            raise self._unavailable(e) from e
        return citations.validate(reply.text, sources, self.embedder, self.min_support)

    def stream(
        self,
        question: str,
        retrieved: Sequence[ScoredChunk],
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str]:
        """Yield the model's reply as it arrives, unvalidated; nothing when abstaining.

        The deltas are the raw reply, so they may hold sentences the citation check
        will drop. Show them as a draft and replace it with
        `check("".join(deltas), retrieved, question)` when the stream ends: validation
        applies to the final text only. Arguments and errors are those of `answer`.
        """
        sources = self._sources(question, retrieved)
        if not sources:
            return
        try:
            for chunk in self.chat_model.stream(self._messages(question, sources, history)):
                if chunk.text:
                    yield chunk.text
        except self.errors as e:
            raise self._unavailable(e) from e

    def check(self, text: str, retrieved: Sequence[ScoredChunk], question: str) -> tuple[str, list[Citation]]:
        """Validate a complete reply against the sources its prompt showed.

        Args:
            text: the model's reply.
            retrieved: the same chunks the reply was asked for, best first.
            question: the same question (the prompt's sources depend on it).
        """
        sources = self._sources(question, retrieved)
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


def make_answerer(settings: Settings, embedder: Embedder,
                  index: VectorIndex | None = None) -> ExtractiveAnswerer | GenerativeAnswerer:
    """The answerer named by `settings.answerer`.

    Args:
        settings: supplies `answerer`, the relevance and length limits and the `llm_*` fields.
        embedder: the embedder the generative answerer checks citations with.
        index: the sentences' stored vectors (see ExtractiveAnswerer).

    Raises:
        ConfigError: a generative backend is missing its package or settings.
    """
    if settings.answerer == "extractive":
        return ExtractiveAnswerer(settings.min_relevance, embedder, settings.max_answer_words, index=index)
    return GenerativeAnswerer(
        make_chat_model(settings),
        embedder,
        min_support=settings.citation_min_support,
        min_relevance=settings.min_relevance,
        max_words=settings.max_answer_words,
        picker=ExtractiveAnswerer(settings.min_relevance, embedder, settings.max_answer_words, index=index),
        errors=client_errors(settings.answerer),
    )
