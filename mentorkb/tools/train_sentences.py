"""Rebuild the sentence scorer's model (rag/answering/data/sentences.json): `make sentence-model`.

Trained on the `dev` splits only: the sample corpus's answerable questions, the
dev-corpus's, and the standalone rewrites of the `followups` dev conversations (over
the dev-corpus), each searched by the product's own retriever so the candidates and
features are the ones the answerer sees when serving. A candidate sentence's label is
whether it holds one of its question's key phrases. Never trained on the `heldout`
splits, which judge it (docs/evaluation.md).

LightGBM binary classifier; its trees are written as plain arrays that
rag.answering.sentences.SentenceScorer evaluates with numpy. The hyperparameters were chosen by
5-fold cross-validation over the training questions alone.

    python -m mentorkb.tools.train_sentences [--workdir DIR] [--out FILE]

--workdir keeps the ingested corpora, so a second run skips the ingest.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from mentorkb.tools import evaluate as ev
from mentorkb.tools.corpora import DEFAULT_CONFIG, ingest_kept, load_config, training_parser
from mentorkb.tools.train_ranker import booster_arrays
from rag.answering.sentences import FEATURES, MODEL, candidates, features
from rag.core.jsonl import read_jsonl

PARAMS = {
    "n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 40,
    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "random_state": 0,
    "deterministic": True, "force_row_wise": True, "n_jobs": 1, "verbose": -1,
}
FOLLOWUPS = DEFAULT_CONFIG.parent / "../../shared/followups/dev.jsonl"


def training_items(corpus, followups: Path) -> list[dict]:
    """The `dev` split's answerable questions with key phrases; for the dev-corpus also
    the followups' standalone rewrites."""
    items = [i for i in ev.load_gold(corpus.questions)
             if i["kind"] == "answerable" and (i.get("split") or ev.split_of(i)) == "dev"]
    if corpus.name == "dev-corpus":
        for row in read_jsonl(followups):
            if row.get("split") == "dev":
                items.append({**row, "question": row["standalone"]})
    return [i for i in items if i.get("answer_keywords")]


def corpus_rows(corpus, items, settings, embedder, workdir: Path, say) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each question's candidate rows and labels."""
    from rag.retrieval.retrieve import retriever_for
    from rag.store.index import LiveIndex

    mine, _ = ingest_kept(corpus, settings, embedder, workdir, say)
    retriever = retriever_for(mine, embedder, LiveIndex(mine, embedder))
    say(f"{corpus.name}: features of {len(items)} questions")
    rows, labels = [], []
    for item in items:
        [vector] = embedder.embed([item["question"]])
        cands = candidates(retriever.search(item["question"], vector))
        if not cands:
            continue
        vectors = np.asarray(embedder.embed([c.unit.text for c in cands]), dtype=np.float32)
        rows.append(features(item["question"], vector, cands, vectors))
        phrases = [k.lower() for k in item["answer_keywords"]]
        labels.append(np.array([any(k in c.unit.text.lower() for k in phrases) for c in cands], dtype=np.int32))
    return rows, labels


def main(argv: list[str] | None = None) -> int:
    from rag.backends import make_embedder
    from rag.core.settings import load_settings

    parser = training_parser(__doc__, MODEL)
    parser.add_argument("--followups", type=Path, default=FOLLOWUPS)
    args = parser.parse_args(argv)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    chosen = {c.name: c for c in load_config(args.corpora)}
    needed = [chosen.get("sample"), chosen.get("dev-corpus")]
    if any(c is None or c.missing() for c in needed) or not args.followups.is_file():
        say("train_sentences: needs the sample and dev-corpus corpora (evals/corpora.toml) "
            f"and {args.followups} on this machine")
        return 2
    settings = load_settings()
    embedder = make_embedder(settings)
    import lightgbm

    with tempfile.TemporaryDirectory(prefix="mentorkb-sentences-") as tmp:
        rows, labels, counts = [], [], {}
        for corpus in needed:
            items = training_items(corpus, args.followups)
            r, y = corpus_rows(corpus, items, settings, embedder, args.workdir or Path(tmp), say)
            rows += r
            labels += y
            counts[corpus.name] = len(r)
    model = lightgbm.LGBMClassifier(**PARAMS)
    model.fit(np.vstack(rows), np.concatenate(labels), feature_name=list(FEATURES))
    out = {"features": list(FEATURES), "params": {k: v for k, v in PARAMS.items() if k != "verbose"},
           "trained_on": "sample and dev-corpus split dev; followups split dev (standalone rewrites)",
           "questions": counts, "trees": booster_arrays(model.booster_)}
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    say(f"wrote {args.out} ({len(out['trees'])} trees, {args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
