"""Answerers: compose a cited answer from retrieved chunks, or abstain.

The extractive answerer needs no generative model: it picks the sentences of the
top chunks that best answer the question and cites each one. The generative
answerer asks a chat model (see rag.backends.llm) and keeps only the sentences
that rag.answering.citations can back with a source.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.answering import citations, prompts, sentences
from rag.retrieval import followup
from rag.backends.llm import client_errors, make_chat_model
from rag.core.errors import AnswererError
from rag.safety.guard import is_instruction
from rag.core.text import words
from rag.core.types import Citation, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from rag.core.protocols import Embedder, VectorIndex
    from rag.core.settings import Settings

ABSTAIN_TEXT = (
    "I couldn't find anything in the mentors' documents that answers this, so I won't "
    "guess. A human mentor can help: use \"Talk to a human mentor\" or ask your "
    "mentoring programme contact."
)
NOT_COVERED_TEXT = (
    "The mentors' documents don't mention {what}, so I can't answer this from them and "
    "won't guess. A human mentor can help: use \"Talk to a human mentor\" or ask your "
    "mentoring programme contact."
)


def _near_duplicate(a: str, b: str, threshold: float = 0.6) -> bool:
    sa, sb = set(words(a)), set(words(b))
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= threshold


@dataclass
class _Pick:
    """A chosen sentence: the context it needs first, and every chunk that says it."""

    cand: sentences.Candidate
    context: str  # "" or the sentence before it / its list's lead-in, from the same chunk
    sources: list[tuple[ScoredChunk, str]]  # (chunk, its own wording), the first chosen


class _VectorCache:
    """Sentence embeddings by text, the most recently used kept. They come from the
    index, which stores them at ingest (`stored`: chunk ids -> {text: vector}); a
    sentence it lacks (an index built before it stored them, or a chunk given
    directly) is embedded here, once."""

    def __init__(self, embedder: Embedder,
                 stored: Callable[[Sequence[str]], Mapping[str, Sequence[float]]] | None = None,
                 size: int = 20_000) -> None:
        self.embedder = embedder
        self.stored = stored
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._fetched: set[str] = set()  # chunks whose stored sentences were read

    def __call__(self, texts: Sequence[str], chunk_ids: Sequence[str] = ()) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        unread = [c for c in dict.fromkeys(chunk_ids) if c not in self._fetched]
        if missing and self.stored is not None and unread:
            for text, vector in self.stored(unread).items():
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
            if len(self._fetched) > self.size:
                self._fetched.clear()
            self._fetched.update(unread)
            missing = [t for t in missing if t not in self._vectors]
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing)):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        for text in texts:
            self._vectors.move_to_end(text)
        rows = np.vstack([self._vectors[t] for t in texts])
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
        return rows


_SIM, _COVER = sentences.FEATURES.index("sim"), sentences.FEATURES.index("cover")


class ExtractiveAnswerer:
    """Builds an answer from the retrieved passages' own sentences, each with its `[n]`.

    Candidates are the sentences of the retrieved passages of the first `max_docs`
    documents (rag.answering.sentences); a learned scorer ranks them by how likely each holds
    what the question asks, from its similarity to the question, the question's words
    it covers, its heading, its document's rank and its form. The best come first, up
    to `max_sentences` within `max_words`; a near-repeat of a chosen sentence is left
    out, and when another document says it in the same words, that one is cited too. A
    sentence that leans on the one before it ("This means…") brings that one, and a
    list item its lead-in. docs/evaluation.md (issue 26) has how each choice was made
    and what it measures.

    Args:
        min_relevance: best-chunk similarity below which it abstains.
        embedder: embeds the question and the candidate sentences.
        max_words: soft cap on the answer's length (the first sentence may pass it).
        max_sentences: most sentences chosen (context sentences come on top).
        max_docs: how many of the leading documents sentences may come from.
        scorer: the sentence scorer; the shipped model by default.
        min_share: a sentence less likely than this share of the best one's
            likelihood is left out.
        min_similarity: a sentence sharing no content word with the question needs
            this similarity to it to be quoted at all.
        index: where ingest stored the sentences' vectors; without it (or for a
            sentence it lacks) they are embedded when asked.
    """

    name = "extractive"

    def __init__(
        self,
        min_relevance: float,
        embedder: Embedder,
        max_words: int = 120,
        max_sentences: int = 5,
        max_docs: int = 5,
        scorer: sentences.SentenceScorer | None = None,
        min_share: float = 0.2,
        min_similarity: float = 0.25,
        index: VectorIndex | None = None,
    ) -> None:
        self.min_relevance = min_relevance
        self.embedder = embedder
        self.max_words = max_words
        self.max_sentences = max_sentences
        self.max_docs = max_docs
        self.min_share = min_share
        self.min_similarity = min_similarity
        self.scorer = scorer or sentences.SentenceScorer()
        self.vectors = _VectorCache(embedder, index.sentence_vectors if index is not None else None)

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """A follow-up made standalone by rule (see rag.retrieval.followup)."""
        return followup.standalone(question, history)

    def answer(
        self,
        question: str,
        retrieved: Sequence[ScoredChunk],
        history: Sequence[tuple[str, str]] = (),
        vector: Sequence[float] | None = None,
    ) -> tuple[str, list[Citation]]:
        """(text, citations); empty text means abstain. Every sentence is quoted
        verbatim from the chunk it cites, so its citation holds by construction.
        `vector` is the question's embedding, if the caller has it."""
        best = max((sc.similarity for sc in retrieved), default=0.0)
        if best < self.min_relevance:
            return "", []
        picks = self._picks(question, retrieved, vector)
        return self._compose(picks) if picks else ("", [])

    def passages(self, question: str, retrieved: Sequence[ScoredChunk],
                 vector: Sequence[float] | None = None) -> list[ScoredChunk]:
        """The retrieved chunks whose sentences this answerer would quote, the chunk of
        the most direct sentence first: what a generative answerer's prompt shows first."""
        picks = self._picks(question, retrieved, vector)
        return list({sc.chunk.chunk_id: sc for pick in picks for sc, _ in pick.sources}.values())

    def _picks(self, question: str, retrieved: Sequence[ScoredChunk],
               vector: Sequence[float] | None) -> list[_Pick]:
        cands = sentences.candidates(retrieved, self.max_docs)
        return self._select(cands, self.score(question, cands, vector)) if cands else []

    def score(self, question: str, cands: Sequence[sentences.Candidate],
              vector: Sequence[float] | None = None) -> np.ndarray:
        """The scorer's score of each candidate (higher first); `vector` is the
        question's embedding, if the caller has it."""
        [question_vector] = [vector] if vector is not None else self.embedder.embed([question])
        vectors = self.vectors([c.unit.text for c in cands], [c.source.chunk.chunk_id for c in cands])
        rows = sentences.features(question, question_vector, cands, vectors)
        # A sentence sharing no word with the question and not close to it in meaning
        # is never quoted, whatever its place in the documents.
        related = (rows[:, _COVER] > 0) | (rows[:, _SIM] >= self.min_similarity)
        return np.where(related, self.scorer.scores(rows), -np.inf)

    def _select(self, cands: Sequence[sentences.Candidate], scores: np.ndarray) -> list[_Pick]:
        chosen: list[_Pick] = []
        quoted: set[tuple[str, str]] = set()  # (chunk id, text) already in the answer
        used = 0
        # A candidate far less likely than the best to hold the answer is left out:
        # filling the word budget with it would only bury the answer.
        likely = 1 / (1 + np.exp(-scores))
        floor = self.min_share * likely.max()
        for i in np.argsort(-scores, kind="stable"):
            if not np.isfinite(scores[i]) or (likely[i] < floor and chosen):
                break
            cand = cands[int(i)]
            if any(p.context and _near_duplicate(cand.unit.text, p.context) for p in chosen):
                continue  # says what a chosen sentence's context says
            same = next((p for p in chosen if _near_duplicate(cand.unit.text, p.cand.unit.text)), None)
            if same is not None:
                # Another document says it in the same words: cite it too. (Only the same
                # words: each citation must hold as a quote of its own chunk.)
                if words(cand.unit.text) == words(same.cand.unit.text) and \
                        cand.source.chunk.source not in {sc.chunk.source for sc, _ in same.sources}:
                    same.sources.append((cand.source, cand.unit.text))
                continue
            if (cand.source.chunk.chunk_id, cand.unit.text) in quoted:
                continue  # already quoted as another sentence's context
            context = self._context(cand, quoted)
            length = cand.n_words + len(context.split())
            if chosen and used + length > self.max_words:
                continue
            chosen.append(_Pick(cand, context, [(cand.source, cand.unit.text)]))
            quoted |= {(cand.source.chunk.chunk_id, t) for t in (cand.unit.text, context) if t}
            used += length
            if len(chosen) >= self.max_sentences:
                break
        return chosen

    @staticmethod
    def _context(cand: sentences.Candidate, quoted: set[tuple[str, str]]) -> str:
        """The sentence a candidate needs before it, if it is not quoted already: the
        one before it when it leans on it, or a list item's lead-in."""
        prev = cand.unit.prev
        needs = sentences.leans(cand.unit.text) or (cand.unit.kind == "item" and prev.endswith(":"))
        if not prev or not needs or (cand.source.chunk.chunk_id, prev) in quoted or is_instruction(prev):
            return ""
        return prev

    @staticmethod
    def _compose(chosen: list[_Pick]) -> tuple[str, list[Citation]]:
        # The most direct sentence first, each after the context it needs; sources are
        # numbered in the order the answer first cites them.
        numbers: dict[str, int] = {}
        cited: dict[str, tuple[ScoredChunk, list[str]]] = {}
        parts = []
        for pick in chosen:
            marks = []
            for k, (sc, own) in enumerate(pick.sources):
                n = numbers.setdefault(sc.chunk.chunk_id, len(numbers) + 1)
                marks.append(f"[{n}]")
                said = [pick.context, own] if k == 0 else [own]
                cited.setdefault(sc.chunk.chunk_id, (sc, []))[1].extend(t for t in said if t)
            for k, text in enumerate(t for t in (pick.context, pick.cand.unit.text) if t):
                text = text if text[-1] in ".!?:" else text + "."
                last = k == (1 if pick.context else 0)
                parts.append(f"{text} {''.join(marks) if last else marks[0]}")
        citations = [Citation(n=numbers[cid], chunk=sc.chunk, snippet=" ".join(dict.fromkeys(said)),
                              score=sc.similarity) for cid, (sc, said) in cited.items()]
        return " ".join(parts), sorted(citations, key=lambda c: c.n)


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
