"""The trained triage classifier: a message scored by its parts, not only as a whole.

A crisis clause beside an ordinary work question is diluted in one whole-message
vector, so a message is split into its parts (`split_parts`: the whole, each
sentence, each clause of a sentence, and pairs of sentences of a long message), every
part is classified, and each category keeps its most telling part.

The classifier is a multinomial logistic regression over two feature blocks per part:
the MiniLM embedding (meaning, euphemism, third person) and TF-IDF of character and
word n-grams (texting style and misspellings: "tonite", "evrything"). A category's
score for a part is P(category) / (P(category) + P(none)), the odds against an
everyday reading alone, so two categories sharing a message do not dilute each other.

The weights, the n-gram vocabularies and the thresholds chosen by cross-validation
live in one `.npz` file shipped in the package (`rag/safety/data/triage_model.npz`),
rebuilt from `evals/triage/train/` by `make triage-model`
(`mentorkb.tools.triage_build`). Loading it imports scikit-learn, so it is done lazily.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.core.errors import ConfigError
from rag.core.types import TRIAGE_CATEGORIES

if TYPE_CHECKING:
    import numpy as np

    from rag.core.protocols import Embedder

MODEL_FILE = Path(__file__).parent / "data" / "triage_model.npz"

# What ends a sentence (its punctuation stays with it), and what separates two
# sentences without punctuation: a dash between words, an ellipsis.
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\s+-{1,2}\s+|\s*…\s*")
# What separates clauses of a sentence: commas and conjunctions ("…, but …", "… because …").
_CLAUSE = re.compile(
    r",\s*(?:but|and|so|because|though|although|cause|cuz|bc|plus)?\s*"
    r"|\s+(?:but|because|cause|cuz|so|though|although|plus|and also)\s+", re.I)
MAX_PARTS = 24  # a bound on the work for one message, whatever its length

Span = tuple[int, int]


def normalize(text: str) -> str:
    """Whitespace runs as single spaces: spans index this form of a message."""
    return " ".join(text.split())


def _pieces(text: str, start: int, end: int, separator: re.Pattern) -> list[Span]:
    """The stretches of `text[start:end]` between matches of `separator`, stripped."""
    found, last = [], start
    for m in separator.finditer(text, start, end):
        found.append((last, m.start()))
        last = m.end()
    found.append((last, end))
    return [(a, b) for a, b in found if b > a]


def split_spans(text: str) -> list[Span]:
    """Spans of a normalized message: the whole first, then its sentences, their clauses
    and, in a long message, each pair of neighbouring sentences.

    Parts of fewer than two words (three for clauses) are dropped: they carry no
    signal alone. A message of one part yields just the whole.
    """
    sentences = _pieces(text, 0, len(text), _SENTENCE_END)
    found: list[Span] = []
    for start, end in sentences:
        found.append((start, end))
        clauses = _pieces(text, start, end, _CLAUSE)
        if len(clauses) > 1:
            found.extend(c for c in clauses if len(text[c[0]:c[1]].split()) >= 3)
    if len(sentences) > 2:
        found.extend((sentences[i][0], sentences[i + 1][1]) for i in range(len(sentences) - 1))
    whole = (0, len(text))
    spans = [whole] + [s for s in dict.fromkeys(found) if s != whole and len(text[s[0]:s[1]].split()) >= 2]
    return spans[:MAX_PARTS]


def split_parts(text: str) -> list[str]:
    """The texts of `split_spans` for a message (normalized first)."""
    text = normalize(text)
    return [text[a:b] for a, b in split_spans(text)]


@dataclass(frozen=True)
class Encoded:
    """A normalized message, its part spans (the whole first) and their vectors."""

    text: str
    spans: list[Span]
    vectors: np.ndarray

    @property
    def parts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans]


def encode(embedder: Embedder, message: str, extra: Sequence[Span] = ()) -> Encoded:
    """Split `message` and embed the whole and every part in one encode (`extra` spans,
    e.g. a training label's evidence, are pooled too and appended)."""
    import numpy as np

    text = normalize(message)
    spans = split_spans(text)
    spans += [s for s in extra if s not in spans]
    if hasattr(embedder, "embed_spans"):
        vectors = embedder.embed_spans(text, spans)
    else:  # an embedder without token states: each part on its own
        vectors = embedder.embed([text[a:b] for a, b in spans])
    return Encoded(text, spans, np.asarray(vectors, dtype=np.float32))


def whole(message: str, vector: Sequence[float]) -> Encoded:
    """`message` as a single part with its vector made elsewhere: a follow-up's joined
    reading, whose parts were triaged when each was asked (rag.service)."""
    import numpy as np

    text = normalize(message)
    return Encoded(text, [(0, len(text))], np.asarray([vector], dtype=np.float32))


@dataclass(frozen=True)
class Thresholds:
    """Per category: at or above `handoff` a person takes over; at or above `check_in`
    the answer comes with an offer of a person (and help resources, for crisis)."""

    handoff: dict[str, float]
    check_in: dict[str, float]


class TriageModel:
    """Scores message parts per category. `load` reads the shipped file; training builds one directly.

    Args:
        classes: the classifier's labels in column order ("none" among them).
        coef: (classes, features) weights; intercept: (classes,).
        vectorizers: fitted TF-IDF vectorizers whose outputs follow the embedding.
        thresholds: decision thresholds from cross-validation.
        embedding_weight: the factor the embedding block was scaled by in training.
        categories: the labels scored, in output order (the injection detector, `rag.safety.injection`,
            is the same kind of model with the one category "injection").
    """

    def __init__(self, classes: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                 vectorizers: Sequence[Any], thresholds: Thresholds, embedding_weight: float = 1.0,
                 report: dict | None = None, categories: Sequence[str] = TRIAGE_CATEGORIES) -> None:
        self.classes = list(classes)
        self.coef = coef
        self.intercept = intercept
        self.vectorizers = list(vectorizers)
        self.thresholds = thresholds
        self.embedding_weight = embedding_weight
        self.report = report or {}
        # Each vectorizer's analyzer, vocabulary, idf and block of weight columns (after the embedding's).
        self._ngrams = []
        start = self._embedding_columns = coef.shape[1] - sum(len(v.vocabulary_) for v in self.vectorizers)
        for v in self.vectorizers:
            self._ngrams.append((v.build_analyzer(), v.vocabulary_, v.idf_, coef[:, start:start + len(v.vocabulary_)]))
            start += len(v.vocabulary_)
        self._none = self.classes.index("none")
        self.categories = list(categories)
        self._columns = [self.classes.index(c) for c in self.categories]

    def part_scores(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        """(parts, categories) scores in `categories` order, each P(c) / (P(c) + P(none)).
        `vectors` are the parts' embeddings; None for a model trained on n-grams alone."""
        import numpy as np

        vectors = np.zeros((len(texts), 0)) if vectors is None else np.asarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self._embedding_columns:
            raise ValueError(f"the model takes {self._embedding_columns} embedding columns, got {vectors.shape[1]}")
        logits = (vectors * self.embedding_weight) @ self.coef[:, :vectors.shape[1]].T + self.intercept
        for analyzer, vocabulary, idf, block in self._ngrams:
            for row, text in enumerate(texts):
                logits[row] += _tfidf_dot(analyzer, vocabulary, idf, text, block)
        # The softmax normaliser cancels in the ratio: sigmoid of the logit difference.
        diff = logits[:, self._columns] - logits[:, [self._none]]
        return 1.0 / (1.0 + np.exp(-np.clip(diff, -50, 50)))

    def save(self, path: Path) -> None:
        """One `.npz`: weights, vocabularies, idf vectors, thresholds and the report."""
        import numpy as np

        arrays: dict[str, Any] = {"classes": np.array(self.classes), "coef": self.coef.astype(np.float32),
                                  "intercept": self.intercept.astype(np.float32)}
        for i, v in enumerate(self.vectorizers):
            vocabulary = sorted(v.vocabulary_, key=v.vocabulary_.get)
            arrays[f"vocab{i}"] = np.array(vocabulary)
            arrays[f"idf{i}"] = v.idf_.astype(np.float32)
            arrays[f"params{i}"] = np.array(json.dumps(_vectorizer_params(v)))
        arrays["meta"] = np.array(json.dumps({
            "embedding_weight": self.embedding_weight, "vectorizers": len(self.vectorizers),
            "handoff": self.thresholds.handoff, "check_in": self.thresholds.check_in,
            "report": self.report}))
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: Path = MODEL_FILE, categories: Sequence[str] = TRIAGE_CATEGORIES,
             rebuild: str = "make triage-model") -> TriageModel:
        """Read a model written by `save`; a missing or damaged file is a ConfigError
        naming the command (`rebuild`) that makes it again."""
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                vectorizers = []
                for i in range(meta["vectorizers"]):
                    vocabulary = {str(term): n for n, term in enumerate(data[f"vocab{i}"])}
                    v = TfidfVectorizer(vocabulary=vocabulary, **json.loads(str(data[f"params{i}"])))
                    v.idf_ = data[f"idf{i}"].astype(np.float64)
                    vectorizers.append(v)
                model = cls([str(c) for c in data["classes"]], data["coef"], data["intercept"], vectorizers,
                            Thresholds(meta["handoff"], meta["check_in"]), meta["embedding_weight"],
                            meta.get("report"), categories)
        except (OSError, KeyError, ValueError) as e:
            raise ConfigError(f"{path}: not a classifier model ({e}); rebuild it with `{rebuild}`") from e
        missing = [c for c in categories if c not in model.classes or c not in model.thresholds.handoff]
        if missing or "none" not in model.classes:
            raise ConfigError(f"{path}: the model lacks categories {missing or ['none']}; rebuild it with `{rebuild}`")
        return model


def _tfidf_dot(analyzer: Any, vocabulary: dict[str, int], idf: np.ndarray, text: str,
               block: np.ndarray) -> np.ndarray:
    """`block @ vectorizer.transform([text])[0]` without building a sparse matrix.

    The same sublinear TF-IDF with L2 norm as the fitted vectorizer (a test checks it
    against `transform`); for a handful of short parts, scikit-learn's validation and
    sparse bookkeeping cost several times the arithmetic.
    """
    import numpy as np

    counts: dict[int, int] = {}
    for gram in analyzer(text):
        column = vocabulary.get(gram)
        if column is not None:
            counts[column] = counts.get(column, 0) + 1
    if not counts:
        return np.zeros(block.shape[0], dtype=block.dtype)
    columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
    weights = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    weights *= idf[columns]
    weights /= np.linalg.norm(weights)
    return block[:, columns] @ weights


def features(texts: Sequence[str], vectors: np.ndarray | None, vectorizers: Sequence[Any],
             embedding_weight: float = 1.0) -> Any:
    """The sparse feature matrix: scaled embeddings (none if `vectors` is None), then each
    vectorizer's n-grams."""
    from scipy.sparse import csr_matrix, hstack

    embedded = [] if vectors is None else [csr_matrix(vectors * embedding_weight)]
    blocks = embedded + [v.transform(texts) for v in vectorizers]
    return hstack(blocks).tocsr()


def _vectorizer_params(v: Any) -> dict[str, Any]:
    """What a TF-IDF vectorizer needs, besides its vocabulary and idf, to transform alike."""
    return {"analyzer": v.analyzer, "ngram_range": list(v.ngram_range), "sublinear_tf": v.sublinear_tf,
            "lowercase": v.lowercase, "norm": v.norm}
