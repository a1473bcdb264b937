"""The extractive answerer: quotes the sentences of the leading documents that best
answer the question, each with its citation, or abstains. It needs no generative
model, and it also picks the passages a generative answerer's prompt shows first.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.answering import sentences
from rag.core.text import words
from rag.core.types import Citation, ScoredChunk
from rag.retrieval import followup
from rag.safety.guard import is_instruction

if TYPE_CHECKING:
    from rag.core.protocols import Embedder, VectorIndex

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
    list item its lead-in. docs/evaluation.md has how each choice was made and what it
    measures.

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
        """The text to search for a follow-up: with the earlier user questions (see
        rag.retrieval.followup)."""
        return followup.resolve(question, history)

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
