"""Answerers: compose a cited answer from retrieved chunks, or abstain.

The extractive answerer needs no generative model: it picks the sentences of the
top chunks that best answer the question and cites each one.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from rag.text import sentences, terms, words
from rag.types import Citation, ScoredChunk

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

    Args:
        min_relevance: best-chunk similarity below which it abstains.
        max_words: soft cap on the answer's length.
        max_chunks: how many of the top chunks sentences may come from.
        relevance_window: chunks scoring within this of the best are candidates.
    """

    name = "extractive"

    def __init__(
        self,
        min_relevance: float,
        max_words: int = 120,
        max_chunks: int = 4,
        relevance_window: float = 0.12,
    ) -> None:
        self.min_relevance = min_relevance
        self.max_words = max_words
        self.max_chunks = max_chunks
        self.relevance_window = relevance_window

    def answer(self, question: str, retrieved: list[ScoredChunk]) -> tuple[str, list[Citation]]:
        """(text, citations); empty text means abstain."""
        if not retrieved or retrieved[0].score < self.min_relevance:
            return "", []
        floor = max(self.min_relevance, retrieved[0].score - self.relevance_window)
        pool = [sc for sc in retrieved[: self.max_chunks] if sc.score >= floor]
        chosen = self._select(question, pool)
        if not chosen:
            return "", []
        return self._compose(chosen, pool)

    def _select(self, question: str, pool: list[ScoredChunk]) -> list[_Candidate]:
        query = Counter(terms(question))
        candidates = [
            (rank, pos, text)
            for rank, sc in enumerate(pool)
            for pos, text in enumerate(sentences(sc.chunk.text))
            if 4 <= len(text.split()) <= 80
        ]
        # Weigh query terms by how rare they are among the candidate sentences.
        doc_freq = Counter(t for _, _, text in candidates for t in set(terms(text)))
        n = max(len(candidates), 1)
        weight = {t: math.log(1 + n / (1 + doc_freq[t])) for t in query}
        total = sum(weight.values()) or 1.0
        best = pool[0].score
        scored = []
        for rank, pos, text in candidates:
            found = set(terms(text))
            overlap = sum(w for t, w in weight.items() if t in found) / total
            closeness = pool[rank].score / best  # 1.0 for the best chunk
            lead = 0.05 if pos == 0 else 0.0  # a chunk's first sentence often states its point
            if overlap == 0 and rank > 0:
                continue  # shares no word with the question and is not from the best chunk
            scored.append(_Candidate(rank, pos, text, 0.7 * overlap + 0.3 * closeness + lead))
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
            citations.append(Citation(n=n, chunk=sc.chunk, snippet=snippet, score=sc.score))
        return " ".join(parts), citations

