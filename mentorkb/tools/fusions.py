"""The fusion table of docs/evaluation.md ("Ranking"): standard ways to combine dense
and BM25 search, measured over the product's own index of each corpus.

    python -m mentorkb.tools.fusions [--workdir DIR] [--only NAME ...]

Each corpus of evals/corpora.toml is ingested through the normal pipeline (kept in
--workdir, so a second run skips it; SciFact's ingest is slow). For every
question, the product's dense search (Chroma) and BM25 (Tantivy) each return their
first 300 chunks, and each fusion ranks documents from those two lists alone; the
product's retrievers (weighted and learned) run beside them. Printed: recall@5 /
MRR@5 per split of the gold corpora's answerable questions, nDCG@10 on BEIR test
queries. Retrieval only: no triage, so no false handoffs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mentorkb.tools import evaluate as ev
from mentorkb.tools.baselines import rrf
from mentorkb.tools.corpora import DEFAULT_CONFIG, load_beir, load_config
from rag.retrieval.retrieve import query_words

DEPTH = 300
# A question's dense and BM25 lists: (chunk id, document, score) per chunk, best first.
Hit = tuple[str, str, float]
Lists = tuple[list[Hit], list[Hit]]


def _best(hits: list[Hit], depth: int) -> dict[str, float]:
    """Each document's first (best) score among the first `depth` chunks."""
    out: dict[str, float] = {}
    for _, doc, score in hits[:depth]:
        out.setdefault(doc, score)
    return out


def _ordered(score: dict[str, float]) -> list[str]:
    return sorted(score, key=lambda d: -score[d])


def alone(lists: Lists, which: int) -> list[str]:
    """One list's documents in the order first reached."""
    return list(dict.fromkeys(doc for _, doc, _ in lists[which]))


def rrf_chunks(lists: Lists, k: int = 60, depth: int = DEPTH) -> list[str]:
    """Reciprocal-rank fusion of the chunk lists; a document ranks at its best chunk."""
    doc_of = {chunk: doc for hits in lists for chunk, doc, _ in hits[:depth]}
    fused = rrf([[chunk for chunk, _, _ in hits[:depth]] for hits in lists], k)
    return list(dict.fromkeys(doc_of[c] for c in fused))


def rrf_docs(lists: Lists, k: int = 60, depth: int = DEPTH) -> list[str]:
    """Reciprocal-rank fusion of documents, each list ordered by its best chunk."""
    return rrf([_ordered(_best(hits, depth)) for hits in lists], k)


def _normalised(score: dict[str, float], how: str) -> dict[str, float]:
    if not score:
        return {}
    values = np.fromiter(score.values(), dtype=float)
    if how == "z-score":
        mean, spread = values.mean(), values.std() or 1.0
        return {d: (v - mean) / spread for d, v in score.items()}
    low = 0.0 if how == "theoretical min-max" else values.min()  # cosine, BM25 rarely below 0
    span = (values.max() - low) or 1.0
    return {d: (v - low) / span for d, v in score.items()}


def convex(lists: Lists, how: str = "min-max", alpha: float = 0.5, depth: int = DEPTH) -> list[str]:
    """alpha x normalised cosine + (1 - alpha) x normalised BM25 of each document's best
    chunk (Bruch et al., 2023); a document missing from a list takes that list's lowest."""
    dense, lexical = (_normalised(_best(hits, depth), how) for hits in lists)
    floor_d, floor_l = min(dense.values(), default=0.0), min(lexical.values(), default=0.0)
    docs = dict.fromkeys([*dense, *lexical])  # ties keep dense's order, then BM25's
    return _ordered({d: alpha * dense.get(d, floor_d) + (1 - alpha) * lexical.get(d, floor_l) for d in docs})


FUSIONS: dict[str, Callable[[Lists], list[str]]] = {
    "MiniLM alone": lambda lists: alone(lists, 0),
    "BM25 alone (Tantivy)": lambda lists: alone(lists, 1),
    "RRF of chunks, k 60": rrf_chunks,
    "RRF of documents (best chunk), k 60": rrf_docs,
    "convex, min-max, alpha 0.5": lambda lists: convex(lists, "min-max"),
    "convex, z-score, alpha 0.5": lambda lists: convex(lists, "z-score"),
    "convex, theoretical min-max, alpha 0.5": lambda lists: convex(lists, "theoretical min-max"),
}


def questions(corpus) -> list[tuple[str, str, dict[str, int]]]:
    """(split, question, grades by document): a gold corpus's answerable questions, a
    BEIR corpus's test queries."""
    if corpus.beir:
        _, texts, qrels = load_beir(corpus.beir)
        return [("test", texts[q], g) for q, g in qrels.items()]
    return [(i.get("split") or ev.split_of(i), i["question"], dict.fromkeys(i["gold"], 1))
            for i in ev.load_gold(corpus.questions) if i["kind"] == "answerable"]


def measure(corpus, settings, embedder, workdir: Path, say) -> dict[str, dict[str, tuple[float, ...]]]:
    """Per system and split: (recall@5, MRR@5) on a gold corpus, (nDCG@10,) on BEIR."""
    from mentorkb.tools.corpora import ingest_kept
    from rag.retrieval.ranker import LearnedRanker
    from rag.retrieval.retrieve import HybridRetriever
    from rag.store.index import LiveIndex

    mine, ids = ingest_kept(corpus, settings, embedder, workdir, say)
    index = LiveIndex(mine, embedder)
    k = 100 if corpus.beir else 10
    retrievers = {"weighted (product)": HybridRetriever(embedder, index, k),
                  "learned (product)": HybridRetriever(embedder, index, k, ranker=LearnedRanker())}
    items = questions(corpus)
    say(f"{corpus.name}: {len(items)} questions")
    rows: dict[str, dict[str, list[tuple[float, ...]]]] = {}

    def doc(chunk) -> str:
        return ids.get(chunk.source, chunk.source)

    for (split, question, grades), vector in zip(items, embedder.embed([q for _, q, _ in items])):
        dense = index.nearest(vector, DEPTH)
        texts = index.chunks([c for c, _ in dense])
        lists = ([(c, doc(texts[c]), s) for c, s in dense if c in texts],
                 [(ch.chunk_id, doc(ch), s) for ch, s in index.lexical(query_words(question), DEPTH)])
        ranked = {name: fuse(lists) for name, fuse in FUSIONS.items()}
        for name, retriever in retrievers.items():
            ranked[name] = [ids.get(s, s) for s in ev.ranked_sources(retriever.search(question, vector))]
        relevant = [d for d, g in grades.items() if g > 0]
        for name, order in ranked.items():
            figures = (ev.ndcg_at(order, grades, 10),) if corpus.beir else \
                (ev.recall_at(order, relevant, 5), ev.mrr_at(order, relevant, 5))
            rows.setdefault(name, {}).setdefault(split, []).append(figures)
    return {name: {split: tuple(round(float(np.mean(c)), 3) for c in zip(*r)) for split, r in by.items()}
            for name, by in rows.items()}


def main(argv: list[str] | None = None) -> int:
    from rag.backends import make_embedder
    from rag.core.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the ingested corpora here")
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--only", action="append", default=[], help="a corpus of the list (repeatable)")
    args = parser.parse_args(argv)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    settings = load_settings()
    embedder = make_embedder(settings)
    columns: list[str] = []
    table: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="mentorkb-fusions-") as tmp:
        for corpus in load_config(args.corpora):
            if args.only and corpus.name not in args.only:
                continue
            if corpus.missing():
                say(f"{corpus.name}: skipped ({corpus.missing()})")
                continue
            result = measure(corpus, settings, embedder, args.workdir or Path(tmp), say)
            splits = sorted(next(iter(result.values())))
            columns += [f"{corpus.name} {s}" for s in splits]
            for name, by in result.items():
                table.setdefault(name, []).extend(" / ".join(f"{v:.3f}" for v in by[s]) for s in splits)
    print("| fusion | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name, cells in table.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
