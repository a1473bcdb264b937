"""The earlier safety triage's rules: by default they still decide handoffs.

`rag/safety/triage.py` runs them (with `MENTORKB_TRIAGE_HANDOFF=rules`, the default) before
its trained classifier, which adds check-ins; `mentorkb eval --triage` also reports
them alone, as the baseline.

Two signals, both erring toward escalation:

- a lexicon of strong phrases per category: a match hands off;
- embedding similarity to labeled exemplars (`rag/safety/data/triage_exemplars.jsonl`),
  for messages with no telling keyword ("I've made my peace and sorted out who gets
  my cat"). A category fires when the message's nearest exemplar of that category is
  similar enough *and* not clearly farther than its nearest everyday ("none")
  exemplar, so "this deadline is killing me" stays with the answerer.

Thresholds were tuned on `evals/triage/dev.jsonl` (see `mentorkb eval --triage`),
crisis the most sensitive. A crisis phrase wins over everything; a message whose
nearest category by similarity is crisis is a crisis even if a milder phrase matched.
The message is encoded once (pass `vector` to reuse the retrieval query's).
They miss many messages written independently of them (docs/safety.md), and hand
off few everyday questions.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.core.jsonl import rows
from rag.safety.triage import CATEGORIES, Triage, lexicon_match

if TYPE_CHECKING:
    import numpy as np

    from rag.core.protocols import Embedder
    from rag.core.settings import Settings

EXEMPLARS = Path(__file__).parent / "data" / "triage_exemplars.jsonl"

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Rule:
    """A category fires on similarity >= `threshold` to its nearest exemplar, when that
    is at least `margin` above the similarity to the nearest everyday exemplar; or, with
    a `wide_margin` above it, on similarity >= `low_threshold` (a weak match that is still
    clearly nearer the category than anything everyday)."""

    threshold: float
    margin: float
    low_threshold: float = 1.0
    wide_margin: float = 1.0

    def fires(self, score: float, everyday: float) -> bool:
        return (score >= self.threshold and score - everyday >= self.margin) or (
            score >= self.low_threshold and score - everyday >= self.wide_margin)


# Tuned on evals/triage/dev.jsonl for recall: each is about the setting with the best
# recall at no more than two false alarms among the dev set's everyday messages and
# at most one among the gold set's answerable questions. Crisis accepts a message
# slightly nearer an everyday exemplar than a crisis one, and a weak crisis match
# (0.28) when nothing everyday is near it.
RULES = {
    "crisis": Rule(0.35, -0.025, low_threshold=0.28, wide_margin=0.08),
    "abuse_harassment": Rule(0.325, 0.025),
    "medical": Rule(0.35, -0.1),
    "legal": Rule(0.375, 0.0),
    "hr_confidential": Rule(0.35, 0.025),
}


def load_exemplars(path: Path = EXEMPLARS) -> list[tuple[str, str]]:
    """(text, label) pairs; label is a category or "none" (an everyday message)."""
    pairs = []
    for number, item in rows(path):
        if item.get("label") not in (*CATEGORIES, "none"):
            raise ValueError(f"{path}:{number}: unknown label {item.get('label')!r}")
        pairs.append((item["text"], item["label"]))
    return pairs


@dataclass(frozen=True)
class _Exemplars:
    texts: list[str]
    labels: np.ndarray
    vectors: np.ndarray


_cache: dict[tuple[str, Path], _Exemplars] = {}
_cache_lock = threading.Lock()


def _embedded(embedder: Embedder, path: Path, cache_dir: Path | None = None) -> _Exemplars:
    """The exemplars with their vectors, embedded once per process and embedder.

    With `cache_dir`, the vectors are also kept on disk, keyed by the embedder and the
    exemplar file's bytes, so a restarted server does not encode them again.
    """
    key = (embedder.name, path)
    with _cache_lock:
        if key not in _cache:
            import numpy as np

            pairs = load_exemplars(path)
            texts = [text for text, _ in pairs]
            _cache[key] = _Exemplars(texts, np.asarray([label for _, label in pairs]),
                                     _vectors(embedder, path, texts, cache_dir))
        return _cache[key]


def _vectors(embedder: Embedder, path: Path, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    """The exemplar texts' vectors, read from `cache_dir` when they were stored there for
    the same embedder and file; stored there after encoding. Any cache failure only costs
    an encode."""
    import numpy as np

    shape = (len(texts), embedder.dimension)
    cached = None
    if cache_dir is not None:
        digest = hashlib.sha256(f"{embedder.name}\n{embedder.dimension}\n".encode() + path.read_bytes()).hexdigest()
        cached = cache_dir / f"triage-exemplars-{digest[:24]}.npy"
        try:
            vectors = np.load(cached, allow_pickle=False)
            if vectors.shape == shape and vectors.dtype == np.float32:
                return vectors
        except (OSError, ValueError):
            pass
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32).reshape(shape)
    if cached is not None:
        temp = None
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as f:
                temp = Path(f.name)
                np.save(f, vectors)
            os.replace(temp, cached)  # readers never see a partial file
        except OSError as e:
            log.debug("triage exemplar cache not written: %s", e)
            if temp is not None:
                temp.unlink(missing_ok=True)
    return vectors


class LegacyTriager:
    """The earlier triage: the whole lexicon, then nearest-exemplar rules.

    Args:
        settings: `triage_categories` (enabled), `triage_messages`, `crisis_resources`.
        embedder: embeds the message for the exemplar comparison; with None only the
            lexicon runs (the baseline `mentorkb eval` reports).
        exemplars: the labeled exemplar file.
        cache_dir: where the exemplars' vectors are kept between runs; None: not kept.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 exemplars: Path = EXEMPLARS, cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.exemplars = exemplars
        self.cache_dir = cache_dir
        self.categories = tuple(c for c in CATEGORIES if c in settings.triage_categories)

    def warm_up(self) -> None:
        """Have the exemplars' vectors ready (from the cache or encoded) before a first message."""
        if self.embedder is not None:
            _embedded(self.embedder, self.exemplars, self.cache_dir)

    def classify(self, message: str, vector: Sequence[float] | None = None) -> Triage | None:
        """The category `message` should be handed off for, or None to answer it.

        Args:
            message: the user's message.
            vector: its embedding, if already computed (saves one encode).
        """
        lexical = lexicon_match(message, self.categories)
        if lexical and lexical.category == "crisis" or self.embedder is None:
            return lexical
        import numpy as np

        known = _embedded(self.embedder, self.exemplars, self.cache_dir)
        if vector is None:
            [vector] = self.embedder.embed([message])
        similarity = known.vectors @ np.asarray(vector, dtype=np.float32)
        everyday = float(similarity[known.labels == "none"].max())
        fired = []
        for category in self.categories:
            own = np.flatnonzero(known.labels == category)
            nearest = own[similarity[own].argmax()]
            score, rule = float(similarity[nearest]), RULES[category]
            if rule.fires(score, everyday):
                fired.append(Triage(category, f"~ {known.texts[nearest]}", round(score, 4)))
        best = max(fired, key=lambda t: t.score, default=None)
        if best and best.category == "crisis":
            return best  # nearest to a crisis: overrides a milder lexicon match
        return lexical or best
