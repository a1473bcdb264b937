"""The learned document ranker: what each candidate document's evidence looks like to
it (`document_features`) and the LightGBM lambdarank model that scores it (`LearnedRanker`).

The candidates are the documents of the chunks dense search and BM25 found; a document
is described only by figures that mean the same on any corpus (similarities, ranks,
scores relative to the question's best, shares of the question's words), so a model
trained on one corpus ranks another. `mentorkb.tools.train_ranker` rebuilds the model
from SciFact's training queries and the dev-corpus `dev` split (docs/evaluation.md).
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rag.core.text import terms
from rag.core.types import Chunk

MODEL = Path(__file__).parent / "data" / "ranker.json"
# Each document's features, in the model's column order.
FEATURES = (
    "cos1",          # cosine similarity of its closest chunk to the question
    "cos2",          # of its second closest (0 if it has one candidate chunk)
    "cos_gap",       # the question's best cos1 minus this cos1
    "dense_rank",    # log(1 + rank) among the candidates by cos1
    "bm25_ratio",    # its best chunk's BM25 score over the question's best (0 if none)
    "bm25_z",        # that score's z-score among the documents BM25 found (-3 if none)
    "lexical_rank",  # log(1 + rank) among them (log(1 + depth) if none)
    "dense_chunks",  # how many of its chunks dense search returned
    "lexical_chunks",  # how many BM25 returned
    "title_cover",   # share of the question's terms in its closest chunk's title
    "section_cover",  # in that chunk's heading path
    "text_cover",    # in the text of its candidate chunks
    "position",      # that chunk's number in the document (capped at 20)
    "question_terms",  # how many terms the question has
    "rrf",           # reciprocal-rank fusion of its chunks (k 60), times 30
)
_ABSENT_Z = -3.0
_RRF_K = 60


def chunk_position(chunk_id: str) -> int:
    """A chunk's number in its text: the part of its id after the last "-"."""
    tail = chunk_id.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


# Punctuation and line breaks become spaces, so " term" finds a term at a word's start.
# On UTF-8 bytes: every byte of a non-ASCII character is above 127, so only these ASCII
# characters change, and an ASCII term is found in the bytes where it is in the text;
# translating bytes takes a third of the time of translating the str.
_BREAKS = (string.punctuation + "\n\r\t\f\v").encode()
_SPACES = bytes.maketrans(_BREAKS, b" " * len(_BREAKS))


def question_terms(question: str) -> list[str]:
    """The question's terms (rag.core.text.terms), each as the start of a word to look for."""
    return list(dict.fromkeys(" " + t.split("'")[0] for t in terms(question)))


def _found(wanted: Sequence[bytes], text: str) -> set[bytes]:
    """Which of `wanted` (question terms, UTF-8) start a word of `text`. Substring tests
    on the text with its punctuation turned to spaces: where stemming every word of
    every candidate chunk, or one regex pass over each, took longer than the rest of
    the search."""
    if not text:
        return set()
    spaced = b" " + text.lower().encode("utf-8", "surrogatepass").translate(_SPACES)
    return {t for t in wanted if t in spaced}


def candidate_chunks(
    dense: Sequence[tuple[str, float]], lexical: Sequence[tuple[Chunk, float]], group
) -> dict[str, list[str]]:
    """The candidate documents (dense search's first) and each one's chunks from
    both searches, each once, dense search's first."""
    members: dict[str, list[str]] = {}
    for chunk_id in dict.fromkeys([*(c for c, _ in dense), *(c.chunk_id for c, _ in lexical)]):
        members.setdefault(group(chunk_id), []).append(chunk_id)
    return members


def document_features(
    question: str,
    dense: Sequence[tuple[str, float]],
    lexical: Sequence[tuple[Chunk, float]],
    chunks: Mapping[str, Chunk],
    similarity: Mapping[str, float],
    group,
    depth: int,
) -> tuple[list[str], np.ndarray]:
    """Each candidate document and its row of FEATURES.

    Args:
        question: the question as asked.
        dense: (chunk id, cosine similarity) from dense search, best first.
        lexical: (chunk, BM25 score) from BM25, best first.
        chunks: every candidate chunk by id (for titles, headings and texts).
        similarity: every candidate chunk's cosine similarity to the question.
        group: chunk id -> the document it belongs to.
        depth: how many chunks each search was asked for.
    """
    finder = [t.encode() for t in question_terms(question)]
    count = len(finder)
    n_terms = max(count, 1)
    members = candidate_chunks(dense, lexical, group)
    dense_rank = {chunk_id: r for r, (chunk_id, _) in enumerate(dense)}
    lexical_rank = {c.chunk_id: r for r, (c, _) in enumerate(lexical)}
    docs = list(members)
    if not docs:
        return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
    sims = {d: sorted((similarity.get(c, 0.0) for c in members[d]), reverse=True) for d in docs}
    best_sim = max(s[0] for s in sims.values())
    by_sim = {d: r for r, d in enumerate(sorted(docs, key=lambda d: -sims[d][0]))}
    bm25: dict[str, float] = {}
    for c, score in lexical:
        d = group(c.chunk_id)
        bm25[d] = max(bm25.get(d, 0.0), score)
    top_bm25 = max(bm25.values(), default=0.0) or 1.0
    values = np.array(list(bm25.values()) or [0.0])
    mean, spread = float(values.mean()), float(values.std()) or 1.0
    by_bm25 = {d: r for r, d in enumerate(sorted(bm25, key=lambda d: -bm25[d]))}
    rows = []
    for d in docs:
        ids = members[d]
        closest = ids[0] if len(ids) == 1 else max(ids, key=lambda c: similarity.get(c, 0.0))
        head = chunks.get(closest)
        # The terms of its chunks' texts, in one search of them joined: a term starts a
        # word, and holds no space, so none is found across two texts.
        text_terms = _found(finder, " ".join([chunks[c].text for c in ids if c in chunks]))
        in_dense = [dense_rank[c] for c in ids if c in dense_rank]
        in_lexical = [lexical_rank[c] for c in ids if c in lexical_rank]
        rrf = sum(1 / (_RRF_K + r + 1) for r in in_dense) + sum(1 / (_RRF_K + r + 1) for r in in_lexical)
        s = sims[d]
        rows.append([
            s[0], s[1] if len(s) > 1 else 0.0, best_sim - s[0], math.log1p(by_sim[d]),
            bm25.get(d, 0.0) / top_bm25, (bm25[d] - mean) / spread if d in bm25 else _ABSENT_Z,
            math.log1p(by_bm25.get(d, depth)),
            len(in_dense), len(in_lexical),
            len(_found(finder, head.title)) / n_terms if head else 0.0,
            len(_found(finder, head.section)) / n_terms if head else 0.0,
            len(text_terms) / n_terms,
            min(chunk_position(closest), 20), count, rrf * 30,
        ])
    return docs, np.asarray(rows, dtype=np.float32)


class LearnedRanker:
    """Scores documents' feature rows with the shipped model (higher ranks first).

    The model is LightGBM's, trained by mentorkb.tools.train_ranker and stored as plain
    arrays (JSON), evaluated here with numpy: importing LightGBM (and the scikit-learn
    it pulls in) would slow the web app's start, and the model is a
    sum of small trees, stored per tree as arrays over its splits (feature, threshold,
    left, right) and its leaves (leaf_value). Every split sends `value <= threshold`
    left (the features are never missing); a child below 0 is leaf ~child; a tree of
    one leaf is one split whose children are both that leaf. At most 64 leaves a tree.

    Args:
        path: the model file, `rag/retrieval/data/ranker.json` by default.
        features: the column names the model must have been trained on.
        rebuild: the command that rebuilds the model, for error messages.
    """

    def __init__(self, path: Path = MODEL, features: tuple[str, ...] = FEATURES,
                 rebuild: str = "make ranker-model") -> None:
        from rag.core.errors import ConfigError

        try:
            model = json.loads(path.read_text(encoding="utf-8"))
            names = tuple(model["features"])
            if names != features:
                raise ConfigError(f"{path}: the model's features {names} are not this version's "
                                  f"{features}; rebuild it with `{rebuild}`")
            if not model["trees"]:
                raise ValueError("no trees")
            self._compile(model["trees"])
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            raise ConfigError(f"{path}: cannot load the model ({e}); rebuild it with "
                              f"`{rebuild}`") from None

    def _compile(self, trees: list[dict]) -> None:
        """Lay the trees out for QuickScorer's evaluation (Lucchese et al., 2015): a
        tree's leaves are numbered left to right and held as bits; a split that fails
        (the value is above its threshold) clears the bits of the leaves to its left;
        the exit leaf is the lowest bit left set.

        The splits on one feature that a value fails are those whose threshold is below
        it: a prefix of them sorted by threshold. So for each feature, and each prefix,
        each tree's bits are folded once here (`_prefix`), and a row needs one
        `searchsorted` and one lookup per feature instead of testing every split of
        every tree (under half the time for a question's 150 candidate documents)."""
        features, thresholds, masks, values = [], [], [], []
        for t in trees:
            order: list[int] = []  # leaf numbers, left to right

            def leaves_under(child: int) -> list[int]:
                if child < 0:
                    return [~child]
                return leaves_under(t["left"][child]) + leaves_under(t["right"][child])

            order = leaves_under(0)
            if len(order) > 64:
                raise ValueError("a tree has more than 64 leaves")
            bit = {leaf: 1 << i for i, leaf in enumerate(order)}
            for node in range(len(t["feature"])):
                left = leaves_under(t["left"][node])
                features.append((t["feature"][node], len(values)))
                thresholds.append(t["threshold"][node])
                masks.append(~sum(bit[leaf] for leaf in left) & (2**64 - 1))
            values.append([t["leaf_value"][leaf] for leaf in order] + [0.0] * (64 - len(order)))
        all_bits = np.uint64(2**64 - 1)
        self.leaf_value = np.asarray(values, dtype=np.float64)
        self._trees = np.arange(len(trees))[None, :]
        # Per feature: its split thresholds sorted, and row i of `_prefix` each tree's bits
        # after the first i of those splits failed (row 0: none failed).
        self._thresholds: list[tuple[int, np.ndarray]] = []
        prefix, self._offset = [], []
        offset = 0
        for f in sorted({f for f, _ in features}):
            splits = sorted((thresholds[i], i) for i, (g, _) in enumerate(features) if g == f)
            rows = np.full((len(splits) + 1, len(trees)), all_bits, dtype=np.uint64)
            for k, (_, i) in enumerate(splits, start=1):
                rows[k] = rows[k - 1]
                rows[k, features[i][1]] &= np.uint64(masks[i])
            self._thresholds.append((f, np.asarray([th for th, _ in splits], dtype=np.float64)))
            self._offset.append(offset)
            prefix.append(rows)
            offset += len(rows)
        self._prefix = np.vstack(prefix)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """The model's score of each row."""
        if not len(rows):
            return np.zeros(0)
        rows = np.asarray(rows, dtype=np.float64)
        alive = np.full((len(rows), self.leaf_value.shape[0]), np.uint64(2**64 - 1), dtype=np.uint64)
        for (f, thresholds), offset in zip(self._thresholds, self._offset):
            value = rows[:, f]
            # How many thresholds lie below each value: the splits it fails. (A NaN fails none,
            # as `value > threshold` would have it.)
            failed = np.where(np.isnan(value), 0, np.searchsorted(thresholds, value, side="left"))
            alive &= self._prefix[offset + failed]
        lowest = alive & (~alive + np.uint64(1))
        leaf = np.frexp(lowest.astype(np.float64))[1] - 1
        return self.leaf_value[self._trees, leaf].sum(axis=1)
