"""Where `Assistant.ask` spends its time: milliseconds per stage at a synthetic index size.

Each stage (the encode, triage, each search and read, the ranker, the answer, the
question-log row) is wrapped with a timer, then the gold set's answerable questions
are asked, after one warm-up pass; the table gives each stage's calls and mean
milliseconds per question, and its median per call. The index is the one
`mentorkb bench` builds (mentorkb.tools.synthetic), kept in `--data` to be reused. Run
from the repository root, with the model export shared as `mentorkb bench` does:

    MENTORKB_MODELS_DIR=data/models .venv/bin/python scripts/ask_stages.py --chunks 10000

It measures what the code on PYTHONPATH does, so one index serves two checkouts
(docs/performance.md, "The ask path at 10,000 chunks").
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections import defaultdict
from pathlib import Path

from mentorkb.app import build
from mentorkb.tools.bench import bench_questions
from mentorkb.tools.synthetic import SyntheticIndex
from rag.answering import answerable
from rag.answering.extractive import ExtractiveAnswerer
from rag.backends import make_embedder
from rag.core.settings import load_settings
from rag.people.activity import ActivityLog
from rag.retrieval import retrieve
from rag.safety.triage import Triager
from rag.store.index import LiveIndex

STAGES = [
    (Triager, "encode", "encode (the question and its parts, one pass)"),
    (Triager, "classify", "triage classify"),
    (LiveIndex, "nearest", "dense search (100 ids)"),
    (LiveIndex, "lexical", "BM25 search (100 chunks, read)"),
    (LiveIndex, "chunks", "chunk texts by id"),
    (LiveIndex, "vectors", "stored vectors of BM25-only chunks"),
    (retrieve, "document_features", "ranker features"),
    (retrieve.HybridRetriever, "search", "retrieval in all"),
    (answerable, "missing", "answerability check"),
    (LiveIndex, "sentence_vectors", "stored sentence vectors"),
    (ExtractiveAnswerer, "answer", "extractive answer in all"),
    (ActivityLog, "record_answer", "question-log row"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--data", type=Path, default=Path("/tmp/mentorkb-ask-stages"))
    args = parser.parse_args()
    settings = load_settings()
    settings = settings.model_copy(update={"collection": "mentorkb-ask-stages", "data_dir": args.data,
                                           "models_dir": settings.models_path})
    embedder = make_embedder(settings)
    if not (args.data / "CURRENT").exists():
        SyntheticIndex(settings, embedder, args.corpus).grow(args.chunks)
    timings: dict[str, list[float]] = defaultdict(list)

    def timed(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def run(*a, **k):
            start = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                timings[label].append((time.perf_counter() - start) * 1000)

        setattr(owner, name, run)

    for owner, name, label in STAGES:
        timed(owner, name, label)
    assistant = build(settings, embedder=embedder).assistant
    if assistant.retriever.ranker is not None:
        timed(assistant.retriever.ranker, "scores", "ranker scores")
    questions = bench_questions(args.corpus)
    for q in questions:
        assistant.ask(q)
    timings.clear()
    total = []
    for _ in range(args.rounds):
        for q in questions:
            start = time.perf_counter()
            assistant.ask(q)
            total.append((time.perf_counter() - start) * 1000)
    n = len(total)
    print(f"{n} questions at {assistant.store.count():,} chunks: ask mean {statistics.mean(total):.2f} ms, "
          f"p50 {statistics.median(total):.2f}, p95 {sorted(total)[int(n * 0.95)]:.2f}")
    print("| stage | calls a question | ms a question | median ms a call |\n| --- | ---: | ---: | ---: |")
    for label, ms in timings.items():
        print(f"| {label} | {len(ms) / n:.2f} | {sum(ms) / n:.3f} | {statistics.median(ms):.3f} |")


if __name__ == "__main__":
    main()
