"""The textbook retrievers `mentorkb eval` measures MentorKB against, built in the same
run from the same document texts, so a difference between them is the design's, not
the data's or the machine's:

- dense: MiniLM (the product's own embedder) and cosine similarity, exhaustively;
- bm25s: BM25 (Lucene variant, k1 1.5, b 0.75) with English stopwords and Snowball
  stemming, the settings the bm25s project reports BEIR figures with;
- RRF: reciprocal-rank fusion of the two, score sum 1 / (60 + rank) (Cormack et al., 2009).

Guides are cut into LangChain's `RecursiveCharacterTextSplitter` chunks of 1,000
characters (200 overlapping), the splitter's usual setting; BEIR documents are kept
whole (title, a space, text), as the published figures have them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mentorkb.tools.evaluate import timed
from rag.core.protocols import Embedder

RRF_K = 60
CHUNK_CHARS = 1000
CHUNK_OVERLAP = 200
# How far down each list fusion and recall look.
DEPTH = 1000


@dataclass(frozen=True)
class Passage:
    """One searchable unit: a chunk of a guide, or a whole BEIR document."""

    source: str
    text: str


def split_passages(texts: dict[str, str], size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP) -> list[Passage]:
    """Each document's text cut into LangChain's recursive character chunks."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    return [Passage(source, piece) for source, text in texts.items() for piece in splitter.split_text(text)]


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[int]:
    """Reciprocal-rank fusion: items by the sum of 1 / (k + rank) over the lists they
    are in (rank 1 first); ties keep first-seen order."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            score[item] = score.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(score, key=lambda item: -score[item])


def distinct_sources(passages: Sequence[Passage], ranking: Sequence[int]) -> list[str]:
    """The sources of ranked passages, each once, in the order first reached."""
    return list(dict.fromkeys(passages[i].source for i in ranking))


class Baselines:
    """Dense, bm25s and RRF search over one list of passages.

    Args:
        passages: what is searched.
        embedder: the product's embedder (MiniLM), for the passages and the queries.
        progress: called with (done, total) passages embedded.
        cache_dir: where the passages' vectors are kept between runs (they depend only
            on the model and the texts, and a BEIR corpus's take minutes to compute).
    """

    names = ("dense", "bm25s", "rrf")

    def __init__(self, passages: Sequence[Passage], embedder: Embedder,
                 progress: Callable[[int, int], None] | None = None, cache_dir: Path | None = None) -> None:
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at debug
        self.passages = list(passages)
        self.embedder = embedder
        texts = [p.text for p in self.passages]
        self.vectors = self._cached(texts, cache_dir, progress)
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False),
                         show_progress=False)

    def _cached(self, texts: list[str], cache_dir: Path | None, progress) -> np.ndarray:
        """The texts' vectors, from the cache when this model has embedded these texts before."""
        digest = hashlib.sha256(self.embedder.name.encode())
        for text in texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        path = cache_dir / f"{digest.hexdigest()[:32]}.npy" if cache_dir else None
        if path and path.is_file():
            vectors = np.load(path)
            if vectors.shape == (len(texts), self.embedder.dimension):
                return vectors
        vectors = self._embed(texts, progress)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part.npy")
            np.save(part, vectors)
            part.replace(path)  # whole or not at all, if the run is stopped
        return vectors

    def _embed(self, texts: list[str], progress) -> np.ndarray:
        vectors = np.empty((len(texts), self.embedder.dimension), dtype=np.float32)
        # Shortest first over the whole list, so each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = 512
        for start in range(0, len(order), step):
            batch = order[start:start + step]
            vectors[batch] = self.embedder.embed([texts[i] for i in batch])
            if progress:
                progress(min(start + step, len(texts)), len(texts))
        return vectors

    def dense(self, vector: Sequence[float], depth: int = DEPTH) -> list[int]:
        """Passages by cosine similarity to the query's vector, best first."""
        scores = self.vectors @ np.asarray(vector, dtype=np.float32)
        depth = min(depth, len(scores))
        top = np.argpartition(-scores, depth - 1)[:depth]
        return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]

    def bm25(self, query: str, depth: int = DEPTH) -> list[int]:
        """Passages by BM25 score, best first; those scoring 0 (no query term) left out."""
        import bm25s

        [tokens] = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, return_ids=False,
                                  show_progress=False)
        if not tokens:
            return []
        ids, scores = self._bm25.retrieve([tokens], k=min(depth, len(self.passages)), show_progress=False,
                                          n_threads=1)
        return [int(i) for i, s in zip(ids[0], scores[0]) if s > 0]

    def search(self, query: str, vector: Sequence[float], encode_ms: float) -> dict[str, tuple[list[int], float]]:
        """Each baseline's ranking of passages for one query, with the milliseconds it
        took: `encode_ms` (the query's encode, done by the caller, who may need the
        vector too) counts towards dense and RRF."""
        dense, dense_ms = timed(self.dense, vector)
        lexical, lexical_ms = timed(self.bm25, query)
        fused, fuse_ms = timed(rrf, [dense, lexical])
        return {"dense": (dense, encode_ms + dense_ms), "bm25s": (lexical, lexical_ms),
                "rrf": (fused[:DEPTH], encode_ms + dense_ms + lexical_ms + fuse_ms)}
