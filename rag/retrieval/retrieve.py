"""Hybrid retrieval: dense (Chroma) and lexical (BM25 over title, headings, text),
fused per document, one chunk per document by default. The documents are ordered by
a tuned weighted score (Fusion), or with MENTORKB_RANKER=learned by the learned ranker
(rag.retrieval.ranker) over features of both searches' evidence.

Also a LangChain `BaseRetriever`: `MentorKBRetriever` in rag.retrieval.langchain_retriever, apart
because LangChain's retriever base is slow to import and `serve` never uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple, Protocol

import numpy as np

from rag.core.protocols import Embedder, LexicalIndex, VectorIndex
from rag.core.text import FUNCTION_WORDS, words
from rag.core.types import Chunk, ScoredChunk
from rag.core.vectors import dot
from rag.retrieval.ranker import LearnedRanker, candidate_chunks, document_features


class SearchIndex(VectorIndex, LexicalIndex, Protocol):
    """What the hybrid retriever searches: rag.store.index.LiveIndex."""


@dataclass(frozen=True)
class Fusion:
    """Tuning of the hybrid retriever, chosen with `mentorkb eval` on the dev split only.

    A document scores its best chunk's cosine similarity, plus `second_chunk` times its
    second best, plus `lexical_weight` / (1 + r) ** `lexical_power`, where r is its rank
    (0 for the first) among documents ordered by their best chunk's BM25 score.

    Cosine similarity has the same scale for every question, so it is used as it is;
    BM25 scores do not (their size depends on how many and how rare the question's
    words are), so only their order is. BM25's query drops only function words
    (`query_words`), not a broad stoplist. Both choices, and weighted fusion over
    reciprocal-rank fusion, were made on the dev split (figures in docs/evaluation.md, "Before the learned ranker").

    Args:
        candidates: chunks taken from each of dense and lexical search.
        lexical_weight: weight of the first BM25 document.
        lexical_power: how fast the BM25 evidence decays down its ranking.
        second_chunk: weight of a document's second-best chunk (several relevant passages).
        per_doc: most chunks of one document among the first k results.
        passage_docs: the leading documents whose further chunks follow the k results,
            so an answer can quote more than one passage of them: the extractive
            answerer chooses sentences from the passages of the first five
            (rag.answering.sentences; docs/evaluation.md).
        passages_per_doc: most chunks of each of those documents in all.
        exact_lexical: for the learned ranker, how many chunks found by BM25 alone get
            their similarity computed (see HybridRetriever.evidence).
    """

    candidates: int = 100
    lexical_weight: float = 0.4
    lexical_power: float = 0.5
    second_chunk: float = 0.2
    per_doc: int = 1
    passage_docs: int = 5
    passages_per_doc: int = 8
    exact_lexical: int = 30


class Evidence(NamedTuple):
    """Both searches' results for one question (see HybridRetriever.evidence)."""

    dense: list[tuple[str, float]]
    lexical: list[tuple[Chunk, float]]
    chunks: dict[str, Chunk]
    similarity: dict[str, float]


def query_words(question: str) -> list[str]:
    """The question's words less function words, for the lexical index (which stems
    them itself, and whose BM25 discounts common words by their frequency)."""
    return list(dict.fromkeys(w for w in words(question) if w not in FUNCTION_WORDS and len(w) > 1))


def lexical_evidence(
    best_bm25: dict[str, float], weight: float, power: float, names: dict[str, str] | None = None
) -> dict[str, float]:
    """Per document, `weight / (1 + rank) ** power` by rank of its best BM25 score;
    ties go by `names` (its source), else by key."""
    names = names or {}
    order = sorted(best_bm25, key=lambda s: (-best_bm25[s], names.get(s, s)))
    return {source: weight / (1 + rank) ** power for rank, source in enumerate(order)}


def diversify(
    ranked: list[ScoredChunk], k: int, per_doc: int, passage_docs: int = 0, passages_per_doc: int = 1
) -> list[ScoredChunk]:
    """The first k of `ranked`, keeping at most `per_doc` per source while others remain;
    then the further chunks of the first `passage_docs` sources, up to `passages_per_doc`
    of each in all, in `ranked` order.

    Scores are capped to stay non-increasing down the list, so they read as a ranking.
    """
    taken: list[ScoredChunk] = []
    overflow: list[ScoredChunk] = []
    per_source: dict[str, int] = {}
    for sc in ranked:
        n = per_source.get(sc.chunk.source, 0)
        (taken if n < per_doc else overflow).append(sc)
        per_source[sc.chunk.source] = n + 1
    head = (taken + overflow)[:k]
    leading = list(dict.fromkeys(sc.chunk.source for sc in head))[:passage_docs]
    count = {source: sum(sc.chunk.source == source for sc in head) for source in leading}
    ids = {sc.chunk.chunk_id for sc in head}
    tail = []
    for sc in ranked:
        source = sc.chunk.source
        if source in count and count[source] < passages_per_doc and sc.chunk.chunk_id not in ids:
            tail.append(sc)
            count[source] += 1
    out: list[ScoredChunk] = []
    for sc in head + tail:
        if out and sc.score > out[-1].score:
            sc = ScoredChunk(sc.chunk, out[-1].score, sc.similarity)
        out.append(sc)
    return out


class HybridRetriever:
    """Dense plus BM25, fused per document (see Fusion).

    Args:
        embedder: embeds the question.
        index: dense and lexical search (the live index).
        k: results returned.
        fusion: tuning; see Fusion.
        ranker: orders the candidate documents (rag.retrieval.ranker); None for the weighted fusion.
        mode: 'hybrid', or 'dense' alone (the textbook baseline `mentorkb eval` compares to).
    """

    def __init__(
        self,
        embedder: Embedder,
        index: SearchIndex,
        k: int = 10,
        fusion: Fusion = Fusion(),
        mode: Literal["hybrid", "dense"] = "hybrid",
        ranker: LearnedRanker | None = None,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.k = k
        self.fusion = fusion
        self.mode = mode
        self.ranker = ranker

    def search(self, question: str, vector: Sequence[float] | None = None) -> list[ScoredChunk]:
        """The best chunks for `question`; pass its embedding if already computed."""
        if vector is None:
            [vector] = self.embedder.embed([question])
        f = self.fusion
        if self.mode == "dense":
            return self.index.query(vector, self.k)
        if self.ranker is not None:
            evidence = self.evidence(question, vector)
            docs, rows = document_features(question, *evidence, group=text_of, depth=f.candidates)
            scores = dict(zip(docs, self.ranker.scores(rows).tolist()))
            candidates = candidate_chunks(evidence.dense, evidence.lexical, text_of)
            similarity, known = evidence.similarity, evidence.chunks
            top_docs = sorted(scores, key=scores.__getitem__, reverse=True)[: self.k]
        else:
            scores, candidates, similarity, known, top_docs = self._weighted(question, vector)
        # Placeholders (the text's key as source) until the chosen chunks are read.
        ranked = [
            ScoredChunk(Chunk(chunk_id, "", doc, ""), scores[doc], similarity.get(chunk_id, 0.0))
            for doc in top_docs
            for chunk_id in sorted(candidates[doc], key=lambda c: similarity.get(c, 0.0), reverse=True)
        ]
        chosen = diversify(ranked, self.k, f.per_doc, f.passage_docs, f.passages_per_doc)
        known.update(self.index.chunks([sc.chunk.chunk_id for sc in chosen if sc.chunk.chunk_id not in known]))
        # A chunk gone since the search (a rebuild went live in between) is left out.
        return [replace(sc, chunk=known[sc.chunk.chunk_id]) for sc in chosen if sc.chunk.chunk_id in known]

    def evidence(self, question: str, vector: Sequence[float]) -> Evidence:
        """What the learned ranker sees: both searches' chunks, their texts and their
        cosine similarities to the question.

        A chunk BM25 found but dense search did not is at most as similar as dense
        search's last result; the first `exact_lexical` such chunks get their own
        similarity from their stored vectors, the rest that bound (reading every one's
        vector from Chroma costs much search time for no gain in cross-validation).
        """
        f = self.fusion
        dense = self.index.nearest(vector, f.candidates)
        lexical = self.index.lexical(query_words(question), f.candidates)
        similarity = dict(dense)
        floor = dense[-1][1] if dense else 0.0
        known = {chunk.chunk_id: chunk for chunk, _ in lexical}
        unseen = [c for c in known if c not in similarity]
        stored = self.index.vectors(unseen[: f.exact_lexical])
        if stored:
            ids = list(stored)
            dots = np.asarray([stored[c] for c in ids], dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
            similarity.update(zip(ids, dots.tolist()))
        similarity.update((c, floor) for c in unseen if c not in similarity)
        known.update(self.index.chunks([c for c, _ in dense if c not in known]))
        return Evidence(dense, lexical, known, similarity)

    def _weighted(self, question: str, vector: Sequence[float]):
        """The tuned weighted fusion (see Fusion): scores by document, candidate chunks
        by document, similarities, chunks read so far, and the first k documents."""
        f = self.fusion
        # Dense candidates come as ids and similarities only; texts and metadata are
        # read for the chunks returned. Chunks group into texts by their id (see Chunk).
        dense = self.index.nearest(vector, f.candidates)
        lexical_hits = self.index.lexical(query_words(question), f.candidates)
        similarity = dict(dense)
        candidates: dict[str, list[str]] = {}
        sims: dict[str, list[float]] = {}
        for chunk_id, sim in dense:
            candidates.setdefault(text_of(chunk_id), []).append(chunk_id)
            sims.setdefault(text_of(chunk_id), []).append(sim)
        known: dict[str, Chunk] = {}
        bm25: dict[str, float] = {}
        names: dict[str, str] = {}
        for chunk, score in lexical_hits:
            text = text_of(chunk.chunk_id)
            if chunk.chunk_id not in similarity and chunk.chunk_id not in known:
                candidates.setdefault(text, []).append(chunk.chunk_id)
            known[chunk.chunk_id] = chunk
            bm25[text] = max(bm25.get(text, 0.0), score)
            names[text] = chunk.source
        lexical_score = lexical_evidence(bm25, f.lexical_weight, f.lexical_power, names)

        def doc_score(text: str) -> float:
            best = sorted(sims.get(text, [0.0]), reverse=True) + [0.0]
            return best[0] + f.second_chunk * best[1] + lexical_score.get(text, 0.0)

        scores = {text: doc_score(text) for text in candidates}
        top_docs = sorted(scores, key=scores.__getitem__, reverse=True)[: self.k]
        # Within a document, the chunk closest in meaning answers best; a chunk found
        # only by BM25 gets its similarity from its stored vector.
        missing = [cid for doc in top_docs for cid in candidates[doc] if cid not in similarity]
        for chunk_id, stored in self.index.vectors(missing).items():
            similarity[chunk_id] = dot(vector, [float(x) for x in stored])  # in float64, as tuned
        return scores, candidates, similarity, known, top_docs


def retriever_for(settings, embedder: Embedder, index: SearchIndex, k: int | None = None) -> HybridRetriever:
    """The hybrid retriever the settings choose (`ranker`), returning `k` documents
    (default `top_k`)."""
    ranker = LearnedRanker() if settings.ranker == "learned" else None
    return HybridRetriever(embedder, index, settings.top_k if k is None else k, ranker=ranker)


def text_of(chunk_id: str) -> str:
    """The text a chunk belongs to: its id up to the last "-" (see Chunk)."""
    return chunk_id.rpartition("-")[0] or chunk_id

