"""Choose the knowledge-gap view's cut (rag.people.gaps.THRESHOLD) on public questions.

Questions written from the dev corpus (`questions.jsonl`, and the standalone rewrites in
`followups/dev.jsonl`), each with one gold document, stand in for a log: a good cut
groups questions on one topic, taken as the gold document's folder (for instance
`google-eng-practices/review`). For each cut, the adjusted mutual information between
clusters and topics (and between clusters and documents), on the dev split where the
cut is chosen and on the held-out split, which only reports.

    python -m mentorkb.tools.gap_threshold ../shared
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CUTS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]


def questions(shared: Path) -> list[tuple[str, str, str]]:
    """(text, gold document, split) for every question with exactly one gold document."""
    from rag.core.jsonl import read_jsonl

    out = [(q["question"], q["gold"][0], q["split"]) for q in read_jsonl(shared / "dev-corpus" / "questions.jsonl")
           if len(q["gold"]) == 1]
    return out + [(f["standalone"], f["gold"][0], f["split"]) for f in read_jsonl(shared / "followups" / "dev.jsonl")
                  if len(f["gold"]) == 1]


def topic(document: str) -> str:
    return "/".join(document.split("/")[:2]) if document.count("/") > 1 else document.split("/")[0]


def table(shared: Path) -> list[str]:
    from sklearn.metrics import adjusted_mutual_info_score as ami

    from rag.backends import make_embedder
    from rag.core.settings import load_settings
    from rag.people.gaps import cluster_vectors

    embedder = make_embedder(load_settings())
    lines = ["| split | questions | cut | clusters | AMI with topics | AMI with documents |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for split in ("dev", "heldout"):
        rows = [q for q in questions(shared) if q[2] == split]
        vectors = np.asarray(embedder.embed([text for text, _, _ in rows]), dtype=np.float32)
        documents = [d for _, d, _ in rows]
        for cut in CUTS:
            found = cluster_vectors(vectors, cut)
            lines.append(f"| {split} | {len(rows)} | {cut:.2f} | {found.max() + 1} | "
                         f"{ami([topic(d) for d in documents], found):.3f} | {ami(documents, found):.3f} |")
    return lines


if __name__ == "__main__":
    print("\n".join(table(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))))
