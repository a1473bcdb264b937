"""Citation validation: keep only the sentences of an answer that their `[n]` backs.

A generated answer passes through `validate`, so it shows a sentence only when it
cites a source that was actually retrieved and that says something close to it
(`backing_passage`, the rule `mentorkb eval` checks every answer's citations by).
Support is similarity to the cited chunk's best-matching sentence, not to the whole
chunk: on MiniLM a faithful paraphrase of one sentence of a chunk scores about as low
against the whole chunk as a sentence citing an unrelated chunk, but clearly higher
against the sentence it paraphrases.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.core.protocols import Embedder
from rag.core.text import sentences
from rag.core.types import Chunk, Citation, ScoredChunk
from rag.core.vectors import dot
from rag.safety.guard import foreign_links, is_instruction

# `[1]`, `[1, 2]`; runs such as `[1][2]` are several of these.
_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
# Markers placed after a sentence's full stop ("… agenda. [2] Next …") move before
# it, so the sentence splitter keeps them with the sentence they close.
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)")
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class _Claim:
    text: str  # the sentence without its markers
    cited: tuple[int, ...]  # 0-based indexes into the sources, in order, no repeats


def _claims(text: str, n_sources: int) -> list[_Claim]:
    """Sentences with at least one in-range marker; out-of-range markers are ignored."""
    claims = []
    for sentence in sentences(_MARKERS_AFTER_STOP.sub(r"\2\1", text)):
        numbers = [int(n) for group in _MARKER.findall(sentence) for n in group.split(",")]
        cited = tuple(dict.fromkeys(n - 1 for n in numbers if 1 <= n <= n_sources))
        plain = " ".join(_MARKER.sub("", sentence).split())
        if cited and plain:
            claims.append(_Claim(plain, cited))
    return claims


def passages_of(text: str) -> list[str]:
    """What a citation of a chunk is checked against: its sentences, or its whole text
    when it has none."""
    return sentences(text) or [text]


def backing_passage(
    vector: Sequence[float], passages: Sequence[str], vectors: Sequence[Sequence[float]], min_support: float
) -> str | None:
    """The passage of a cited chunk that backs a sentence: of `passages` (from
    `passages_of`, embedded as `vectors`), the one most similar to the sentence's
    `vector`, if that similarity reaches `min_support`; else None."""
    score, best = max((dot(vector, pv), p) for pv, p in zip(vectors, passages, strict=True))
    return best if score >= min_support else None


def _snippet(passages: Sequence[str], chunk: Chunk) -> str:
    text = " ".join(passages) or chunk.text
    if len(text) <= SNIPPET_CHARS:
        return text
    return text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"


def validate(
    text: str, sources: Sequence[ScoredChunk], embedder: Embedder, min_support: float
) -> tuple[str, list[Citation]]:
    """Drop uncited, unsupported and instruction-like sentences, then renumber the citations 1..m.

    A sentence survives when it cites at least one of `sources` by its 1-based
    number and the best-matching sentence of some cited chunk has cosine similarity
    of at least `min_support` with it. Cited chunks that fall short lose their
    marker. Everything is embedded in one `embedder.embed` call.

    Args:
        text: the answer, with `[n]`, `[n][m]` or `[n, m]` markers.
        sources: the chunks the answer was written from, numbered 1.. in this order.
        embedder: any Embedder (unit vectors).
        min_support: least similarity between a sentence and the passage it cites.

    Returns:
        (text, citations): the kept sentences with renumbered markers, and a
        Citation per cited chunk whose snippet is the passages that backed it
        and whose score is the chunk's similarity to the question.
        ("", []) when no sentence survives: the caller abstains.
    """
    # Instructions lifted from a source (or obeyed by the model) never reach the mentee, and
    # a link or address appears only as a cited source has it, never introduced.
    claims = [
        claim for claim in _claims(text, len(sources))
        if not is_instruction(claim.text)
        and not foreign_links(claim.text, [sources[i].chunk.text for i in claim.cited])
    ]
    if not claims:
        return "", []
    cited = sorted({i for claim in claims for i in claim.cited})
    passages = {i: passages_of(sources[i].chunk.text) for i in cited}
    inputs = [claim.text for claim in claims] + [p for i in cited for p in passages[i]]
    vectors = embedder.embed(inputs)
    claim_vectors, rest = vectors[: len(claims)], iter(vectors[len(claims) :])
    passage_vectors = {i: [next(rest) for _ in passages[i]] for i in cited}

    numbers: dict[int, int] = {}  # source index -> new number, by first appearance
    backing: dict[int, list[str]] = {}  # source index -> its passages that backed a claim
    parts = []
    for claim, vector in zip(claims, claim_vectors, strict=True):
        kept = []
        for i in claim.cited:
            best = backing_passage(vector, passages[i], passage_vectors[i], min_support)
            if best is not None:
                kept.append(i)
                if best not in backing.setdefault(i, []):
                    backing[i].append(best)
        if not kept:
            continue
        marks = "".join(f"[{numbers.setdefault(i, len(numbers) + 1)}]" for i in kept)
        ended = claim.text.rstrip("\"')”’")[-1:] in (".", "!", "?")
        sentence = claim.text if ended else claim.text + "."
        parts.append(f"{sentence} {marks}")
    citations = [
        Citation(n=n, chunk=sources[i].chunk, snippet=_snippet(backing[i], sources[i].chunk),
                 score=sources[i].similarity)
        for i, n in numbers.items()
    ]
    return " ".join(parts), citations
