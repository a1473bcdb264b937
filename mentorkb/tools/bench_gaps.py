"""The knowledge-gap view at scale: `GapFinder.report` over a question log of n
abstained questions, against the floor of encoding the same texts once.

The log is seeded straight into a fresh SQLite database: the corpus's questions and
its quotable sentences, then as many of those again with a clause
added as it takes to reach n, so there are many topics and some crowded ones. Three
timings:
- cold: no embedding cached (a log written before the gap view existed, or after a
  purge): every text is embedded, then clustered;
- warm: every vector cached, as the product stores each abstained question's
  embedding when it logs it (answering computed it anyway): the clustering path;
- floor: `embed()` of the same texts, the most a cold report could save.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from rag.core.protocols import Embedder
from rag.core.settings import Settings

CLAUSES = ["as a new hire", "on a remote team", "in my first month", "before my review", "as a team lead",
           "when I'm overloaded", "if my mentor is busy", "for a cross-team project", "this quarter",
           "after a reorg", "as an intern", "with a new manager", "in a startup", "on an open-source project"]


def wordings(questions: list[str], sentences: list[str], n: int, seed: int = 0) -> list[str]:
    """n distinct texts: the questions, the sentences, then either with one or two
    clauses added."""
    rng = random.Random(seed)
    asked = list(dict.fromkeys(questions + sentences))
    out: dict[str, None] = dict.fromkeys(asked[:n])
    while len(out) < n:
        question = rng.choice(asked).rstrip("?")
        out[f"{question} {' and '.join(rng.sample(CLAUSES, rng.randint(1, 2)))}?"] = None
    return list(out)[:n]


def bench_gaps(settings: Settings, embedder: Embedder, index, questions: list[str], sentences: list[str],
               n: int) -> dict:
    """Time a gap report over n abstained questions logged in a new database under
    `settings.data_dir`, with `index` for each cluster's nearest document."""
    from sqlalchemy import insert

    from rag.people.activity import ActivityLog
    from rag.people.db import now, open_database
    from rag.people.db import questions as logged
    from rag.people.gaps import GapFinder

    texts = wordings(questions, sentences, n)
    engine = open_database(settings)
    start = now()
    with engine.begin() as conn:
        conn.execute(insert(logged), [
            {"created_at": start - timedelta(minutes=i), "session": f"b{i}", "question": text, "route": "abstain",
             "latency_ms": 1.0} for i, text in enumerate(texts)])
    log = ActivityLog(engine)
    finder = GapFinder(lambda: log, embedder, index)
    began = time.perf_counter()
    for i in range(0, n, 256):  # batched as the report embeds
        embedder.embed(texts[i:i + 256])
    floor = time.perf_counter() - began
    timings = {}
    for run in ("cold", "warm"):
        began = time.perf_counter()
        report = finder.report(30)
        timings[run] = time.perf_counter() - began
    return {
        "questions": report.questions, "clusters": len(report.clusters), "unclustered": len(report.unclustered),
        "encode_floor_s": round(floor, 2), "cold_s": round(timings["cold"], 2), "warm_s": round(timings["warm"], 2),
        "cold_ratio_to_encode": round(timings["cold"] / floor, 2),
    }
