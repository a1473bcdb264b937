"""Vector arithmetic shared by retrieval, citation checks and eval."""

from __future__ import annotations

from collections.abc import Sequence


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    """The dot product of two vectors of one length; for the unit vectors every
    Embedder returns, their cosine similarity."""
    return float(sum(x * y for x, y in zip(a, b, strict=True)))
