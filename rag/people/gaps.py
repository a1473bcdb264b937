"""The knowledge-gap view: what mentees asked that the documents could not answer,
grouped so mentors see what to write next.

The items are abstained questions and not-helpful ratings (`ActivityLog.gap_items`,
which never returns a sensitive message). Each text is embedded once with the
product's MiniLM (the vectors are cached in the database), identical texts are merged,
and the rest are grouped by average-linkage agglomerative clustering on cosine
distance, cut at `THRESHOLD`: the number of clusters comes from the data. The cut was
chosen on the dev split of public questions and reported on the held-out split
(docs/evaluation.md, "Knowledge gaps"). A cluster is labelled by its most central
question and its top terms, and shows its size, three examples and the nearest
document in the index.

A mentor marks a cluster covered once a document answers it: its items are marked,
so it leaves the default view, and it comes back when new questions land in it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from rag.core.errors import InvalidInput, MentorKBError, NotFoundError
from rag.core.protocols import Embedder, VectorIndex
from rag.people.activity import ActivityLog, GapItem
from rag.people.db import now

THRESHOLD = 0.75  # cosine distance at which the merge tree is cut
MIN_SIZE = 2  # questions a cluster needs; the rest are listed as unclustered
EXAMPLES = 3
# At most this many items, the newest, are clustered: the distance matrix of n texts
# takes 4n² bytes (400 MB at 10,000).
MAX_ITEMS = 20_000


@dataclass(frozen=True)
class Closest:
    source: str
    title: str
    similarity: float


@dataclass(frozen=True)
class Cluster:
    """One group of similar unanswered questions. `id` names it by its oldest item, so
    it stays the same while questions join it."""

    id: str
    label: str  # its most central question
    terms: tuple[str, ...]
    size: int  # questions in it (the same text asked twice in one session counts once)
    examples: tuple[str, ...]
    reasons: dict[str, int]  # "abstained" / "not helpful" -> count
    first_at: datetime
    last_at: datetime
    closest: Closest | None
    covered_by: str | None = None
    covered_at: datetime | None = None
    new_since_covered: int = 0  # questions that landed after it was marked covered
    items: tuple[tuple[str, int], ...] = field(default=(), repr=False)

    @property
    def covered(self) -> bool:
        return self.covered_by is not None and self.new_since_covered == 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["items"]
        for key in ("first_at", "last_at", "covered_at"):
            out[key] = out[key].isoformat() if out[key] else None
        out["covered"] = self.covered
        return out


@dataclass(frozen=True)
class GapReport:
    since_days: int
    questions: int  # gap items in the period
    clusters: tuple[Cluster, ...]  # biggest first; covered ones only when asked for
    hidden_covered: int  # covered clusters left out
    unclustered: tuple[str, ...]  # questions like no other, newest first
    logging: bool  # False when question text is not logged, so there is nothing to group

    def as_dict(self) -> dict[str, Any]:
        return {"since_days": self.since_days, "questions": self.questions,
                "clusters": [c.as_dict() for c in self.clusters], "hidden_covered": self.hidden_covered,
                "unclustered": list(self.unclustered), "logging": self.logging}


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def cluster_vectors(vectors: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """A cluster number for each row of unit vectors: average linkage on cosine
    distance, cut at `threshold`. The distances come from one matrix product (scipy's
    own cosine pdist is several times slower)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    distances = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    merges = linkage(squareform(distances, checks=False), method="average")
    return fcluster(merges, threshold, criterion="distance") - 1


def top_terms(groups: Sequence[Sequence[str]], n: int = 4) -> list[tuple[str, ...]]:
    """Each group's most distinctive words: TF-IDF of its questions joined, against the other groups."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not groups:
        return []
    try:
        weights = TfidfVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9+#-]+\b",
                                  sublinear_tf=True).fit(" ".join(g) for g in groups)
    except ValueError:  # nothing but stop words
        return [()] * len(groups)
    matrix = weights.transform(" ".join(g) for g in groups).toarray()
    words = weights.get_feature_names_out()
    return [tuple(words[j] for j in np.argsort(-row)[:n] if row[j] > 0) for row in matrix]


class GapFinder:
    """Builds gap reports from the question log.

    Args:
        activity: opens the question log (DatabaseError while it cannot).
        embedder: the product's embedder.
        index: the live index, for each cluster's nearest document.
    """

    def __init__(self, activity: Callable[[], ActivityLog], embedder: Embedder, index: VectorIndex) -> None:
        self._activity = activity
        self.embedder = embedder
        self.index = index

    def report(self, since_days: int = 30, *, include_covered: bool = False) -> GapReport:
        if not isinstance(since_days, int) or since_days < 1:
            raise InvalidInput(f"since: a number of days of at least 1 (got {since_days!r})")
        activity = self._activity()
        items = activity.gap_items(now() - timedelta(days=since_days), limit=MAX_ITEMS)
        clusters, unclustered = self._group(activity, items)
        shown = tuple(c for c in clusters if include_covered or not c.covered)
        return GapReport(since_days, len(items), shown, len(clusters) - len(shown), tuple(unclustered),
                         activity.log_questions)

    def daily(self, since_days: int) -> list[dict[str, Any]]:
        """The question log's counts per day over the period, for the view's plots
        (`ActivityLog.daily`)."""
        return self._activity().daily(now() - timedelta(days=since_days))

    def cover(self, cluster_id: str, by: str, since_days: int = 30) -> Cluster:
        """Mark every question of a cluster covered (by mentor `by`).

        Raises:
            NotFoundError: no cluster has that id in the period.
        """
        for cluster in self.report(since_days, include_covered=True).clusters:
            if cluster.id == cluster_id:
                self._activity().cover(list(cluster.items), by)
                return cluster
        raise NotFoundError(f"gap cluster {cluster_id}: none in the last {since_days} days "
                            "(list the gaps again to see the current ones)")

    def _vectors(self, activity: ActivityLog, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, from the cache where it has them."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        cached = activity.vectors(self.embedder.name, texts)
        missing = [t for t in texts if t not in cached]
        fresh = {}
        for start in range(0, len(missing), 256):
            batch = missing[start:start + 256]
            for text, vector in zip(batch, self.embedder.embed(batch), strict=True):
                fresh[text] = np.asarray(vector, dtype=np.float32).tobytes()
        activity.store_vectors(self.embedder.name, fresh)
        cached.update(fresh)
        return np.stack([np.frombuffer(cached[t], dtype=np.float32) for t in texts])

    def _group(self, activity: ActivityLog, items: list[GapItem]) -> tuple[list[Cluster], list[str]]:
        by_text: dict[str, list[GapItem]] = {}
        for item in items:  # newest first, so each text's first item is its newest
            by_text.setdefault(normal(item.text), []).append(item)
        texts = list(by_text)
        vectors = self._vectors(activity, [by_text[t][0].text for t in texts])
        labels = cluster_vectors(vectors)
        members: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            members.setdefault(int(label), []).append(i)
        groups = []
        unclustered = []
        for rows in members.values():
            asked = [item for r in rows for item in by_text[texts[r]]]
            if _asks(asked) >= MIN_SIZE:
                groups.append(rows)
            else:
                unclustered += [by_text[texts[r]][0] for r in rows]
        terms = top_terms([[by_text[texts[r]][0].text for r in rows] for rows in groups])
        clusters = [self._cluster(rows, [by_text[t] for t in texts], vectors, words)
                    for rows, words in zip(groups, terms, strict=True)]
        clusters.sort(key=lambda c: (-c.size, -c.last_at.timestamp()))
        unclustered.sort(key=lambda i: i.created_at, reverse=True)
        return clusters, [i.text for i in unclustered]

    def _cluster(self, rows: list[int], texts: list[list[GapItem]], vectors: np.ndarray,
                 terms: tuple[str, ...]) -> Cluster:
        asked = [item for r in rows for item in texts[r]]
        centroid = vectors[rows].mean(axis=0)
        central = rows[int(np.argmax(vectors[rows] @ centroid))]
        recent = sorted(rows, key=lambda r: texts[r][0].created_at, reverse=True)
        examples = tuple(texts[r][0].text for r in recent if r != central)[:EXAMPLES]
        oldest = min(asked, key=lambda i: (i.created_at, i.kind, i.id))
        marks = [i for i in asked if i.covered_by]
        last_mark = max(marks, key=lambda i: i.covered_at) if marks else None
        return Cluster(
            id=f"gap-{oldest.kind}{oldest.id}", label=texts[central][0].text, terms=terms, size=_asks(asked),
            examples=examples, reasons=dict(Counter(i.reason for i in asked)), first_at=oldest.created_at,
            last_at=max(i.created_at for i in asked), closest=self._closest(centroid),
            covered_by=last_mark.covered_by if last_mark else None,
            covered_at=last_mark.covered_at if last_mark else None,
            new_since_covered=sum(1 for i in asked if not i.covered_by) if marks else 0,
            items=tuple((i.kind, i.id) for i in asked),
        )

    def _closest(self, centroid: np.ndarray) -> Closest | None:
        """The document whose passage is nearest the cluster's centre, if the index has any."""
        unit = centroid / (np.linalg.norm(centroid) or 1.0)
        try:
            found = self.index.nearest(unit.tolist(), 1)
            chunk = self.index.chunks([found[0][0]]).get(found[0][0]) if found else None
        except MentorKBError:  # no index yet, or the store is down: the clusters still show
            return None
        return Closest(chunk.source, chunk.title, round(float(found[0][1]), 3)) if chunk else None


def _asks(items: list[GapItem]) -> int:
    """People asking: one text asked again in the same session (say, abstained on and then
    rated not helpful) counts once."""
    return len({(i.session, normal(i.text)) if i.session else (i.kind, i.id) for i in items})
