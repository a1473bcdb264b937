"""Candidate answer sentences and what each looks like to the sentence scorer.

The extractive answerer quotes sentences, not chunks: the best sentences of several
passages cover far more of a question's key phrases than the best single chunk
(docs/evaluation.md). `candidates` gathers the sentences
(`rag.core.sentences.units`) of the leading documents' passages; `features` describes
each with figures that mean the same on any corpus, and `SentenceScorer` (a LightGBM
model, rebuilt by `make sentence-model`) scores them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.core.sentences import Unit, is_quotable, leans, units
from rag.core.text import terms
from rag.core.types import ScoredChunk
from rag.retrieval.ranker import LearnedRanker
from rag.safety.guard import is_instruction

MODEL = Path(__file__).parent / "data" / "sentences.json"

# Specifics a direct answer tends to hold: numbers, code, quotes, names, acronyms.
_DIGIT = re.compile(r"\d")
_SPECIFIC = re.compile(r"\d|`|\"|(?<=\w )[A-Z][a-z]+|[A-Z]{2,}")

FEATURES = (
    "sim", "sim_rel",            # MiniLM similarity to the question; minus the best candidate's
    "cover", "cover_rel",        # rarity-weighted share of the question's terms it holds; over the best
    "head",                      # that share in its chunk's title and heading path
    "chunk_sim",                 # its chunk's similarity to the question
    "doc_rank", "chunk_rank",    # its document's rank among the leading ones; its chunk's within it
    "pos", "n_words",            # its place in its chunk; its length
    "digit", "item", "colon", "pronoun", "question",  # has a digit; a list item; ends ":"; leans; asks
    "sim_rank", "cover_rank",    # its rank among the candidates by sim and by cover
    "complete",                  # starts with a capital and ends with punctuation
    "prev_cover", "lead_colon",  # its context's cover; whether that context ends ":"
    "nb_sim",                    # the best similarity of its neighbours in its chunk
    "specifics",                 # how many specifics it holds (_SPECIFIC)
    "doc_gap",                   # its chunk's ranker score minus the best
    "sim_doc_rel",               # its sim minus the best of its document's
)



_instruction = lru_cache(maxsize=1 << 15)(is_instruction)



@dataclass(frozen=True)
class Candidate:
    """A sentence the answer may quote."""

    unit: Unit
    source: ScoredChunk  # the retrieved chunk it is quoted from
    doc: int  # its document's rank among the leading documents
    chunk_rank: int  # its chunk's rank within its document
    position: int  # its place among its chunk's units
    n_words: int


def candidates(retrieved: Sequence[ScoredChunk], max_docs: int = 5) -> list[Candidate]:
    """The sentences of the retrieved passages of the first `max_docs` documents, each
    once: 3 to 80 words, and not instruction-like (text that reads as an order to the
    assistant is never quoted)."""
    docs = list(dict.fromkeys(sc.chunk.source for sc in retrieved))[:max_docs]
    out: list[Candidate] = []
    seen: set[str] = set()
    chunks_of: Counter[int] = Counter()
    for sc in retrieved:
        if sc.chunk.source not in docs:
            continue
        doc = docs.index(sc.chunk.source)
        chunk_rank = chunks_of[doc]
        chunks_of[doc] += 1
        for position, unit in enumerate(units(sc.chunk.text)):
            if not is_quotable(unit) or unit.text in seen or _instruction(unit.text):
                continue
            seen.add(unit.text)
            out.append(Candidate(unit, sc, doc, chunk_rank, position, len(unit.text.split())))
    return out


def _complete(text: str) -> bool:
    text = text.strip("*_ ")
    return bool(text) and not text[0].islower() and text[-1] in ".!?:)\"'"


def features(question: str, question_vector: Sequence[float], cands: Sequence[Candidate],
             vectors: np.ndarray) -> np.ndarray:
    """Each candidate's row of FEATURES.

    Args:
        question: the (standalone) question.
        question_vector: its unit-length embedding.
        cands: the candidates, as `candidates` returns them.
        vectors: their unit-length embeddings, one row each.
    """
    if not cands:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(question_vector, dtype=np.float32)
    query = Counter(terms(question))
    found = [set(terms(c.unit.text)) for c in cands]
    doc_freq = Counter(t for f in found for t in f)
    weight = {t: math.log(1 + len(cands) / (1 + doc_freq[t])) for t in query}
    total = sum(weight.values()) or 1.0

    def cover(have: set[str]) -> float:
        return sum(w for t, w in weight.items() if t in have) / total

    covers = np.array([cover(f) for f in found])
    sim_rank = np.argsort(np.argsort(-sims))
    cover_rank = np.argsort(np.argsort(-covers))
    top_score = max(c.source.score for c in cands)
    doc_best: dict[int, float] = {}
    neighbour = np.zeros(len(cands))
    for i, c in enumerate(cands):
        doc_best[c.doc] = max(doc_best.get(c.doc, -1.0), float(sims[i]))
        for j in (i - 1, i + 1):
            if 0 <= j < len(cands) and cands[j].source is c.source:
                neighbour[i] = max(neighbour[i], sims[j])
    best_cover = covers.max() or 1.0
    top_sim = sims.max()
    # A chunk's heading cover is the same for each of its sentences, and a context
    # sentence is often a candidate itself: each is worked out once.
    head_cover: dict[str, float] = {}
    prev_cover: dict[str, float] = {}
    rows = []
    for i, c in enumerate(cands):
        text, chunk, prev = c.unit.text, c.source.chunk, c.unit.prev
        if chunk.chunk_id not in head_cover:
            head_cover[chunk.chunk_id] = cover(set(terms(f"{chunk.section} {chunk.title}")))
        if prev not in prev_cover:
            prev_cover[prev] = cover(set(terms(prev)))
        rows.append([
            sims[i], sims[i] - top_sim, covers[i], covers[i] / best_cover,
            head_cover[chunk.chunk_id], c.source.similarity,
            c.doc, c.chunk_rank, c.position, c.n_words,
            float(bool(_DIGIT.search(text))), float(c.unit.kind == "item"),
            float(text.rstrip().endswith(":")), float(leans(text)),
            float(text.rstrip().endswith("?")),
            sim_rank[i], cover_rank[i], float(_complete(text)),
            prev_cover[prev], float(prev.endswith(":")),
            neighbour[i], len(_SPECIFIC.findall(text)), c.source.score - top_score,
            sims[i] - doc_best[c.doc],
        ])
    return np.asarray(rows, dtype=np.float32)



class SentenceScorer(LearnedRanker):
    """Scores candidates' FEATURES rows with the shipped model (higher is likelier to
    hold what the question asks); `make sentence-model` rebuilds it."""

    def __init__(self, path: Path = MODEL) -> None:
        super().__init__(path, features=FEATURES, rebuild="make sentence-model")
