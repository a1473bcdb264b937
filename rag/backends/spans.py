"""Vectors for parts of a text from one encode: token states mean-pooled over each span.

A transformer's token states are contextual, so pooling the tokens of a clause gives
that clause's meaning as read within its message, at the cost of a few sums instead of
another encode. The whole text's span pools every token, special ones included, which
is exactly the sentence embedding `embed` returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pool_spans(states: np.ndarray, offsets: Sequence[tuple[int, int]], special: Sequence[int],
               spans: Sequence[tuple[int, int]], text_length: int) -> list[list[float] | None]:
    """Unit vectors, one per character span of the text; None for a span the model never
    read (past its token limit), which the caller encodes on its own.

    Args:
        states: (tokens, dimension) states of one text, padding removed.
        offsets: each token's character (start, end) in the text.
        special: 1 for [CLS]/[SEP]-like tokens, else 0.
        spans: character spans; (0, text_length) is the whole text.
        text_length: the text's length in characters.
    """
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    ordinary = np.asarray(special) == 0
    vectors = []
    for start, end in spans:
        if (start, end) == (0, text_length):
            mask = np.ones(len(states), dtype=bool)
        else:
            mask = ordinary & (starts < end) & (ends > start)
            if not mask.any():
                vectors.append(None)
                continue
        pooled = states[mask].mean(axis=0)
        vectors.append((pooled / max(float(np.linalg.norm(pooled)), 1e-12)).tolist())
    return vectors


def fill_missing(vectors: list[list[float] | None], texts: Sequence[str], embed) -> list[list[float]]:
    """`vectors` with each None replaced by `embed` of the matching text, in one batch."""
    missing = [i for i, v in enumerate(vectors) if v is None]
    for i, vector in zip(missing, embed([texts[i] for i in missing]) if missing else []):
        vectors[i] = vector
    return vectors
