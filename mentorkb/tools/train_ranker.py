"""Rebuild the learned ranker's model (rag/retrieval/data/ranker.json): `make ranker-model`.

Trained on SciFact's training queries (BEIR's qrels/train.tsv, 809 claims over 5,183
abstracts) and the dev-corpus `dev` split (80 answerable questions over 150 guides,
each repeated 3 times so the guides weigh beside the abstracts), both ingested
through the normal pipeline and searched by the product's own retriever, so the
features are the ones it sees when serving. Never trained on: NFCorpus, the
dev-corpus `heldout` split, SciFact's test queries and the sample corpus, which
judge it (docs/evaluation.md).

LightGBM lambdarank; its trees are written as plain arrays that rag.retrieval.ranker evaluates
with numpy. The hyperparameters were chosen by 5-fold cross-validation over the
training queries alone.

    python -m mentorkb.tools.train_ranker [--workdir DIR] [--out FILE]

--workdir keeps the ingested corpora, so a second run skips the ingest (SciFact's
is slow).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mentorkb.tools import evaluate as ev
from mentorkb.tools.corpora import ingest_kept, load_beir, load_config, training_parser
from rag.retrieval.ranker import FEATURES, MODEL, document_features

PARAMS = {
    "objective": "lambdarank", "n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15,
    "min_child_samples": 20, "random_state": 0, "deterministic": True, "force_row_wise": True,
    "n_jobs": 1, "verbose": -1,
}
GUIDE_REPEATS = 3


def booster_arrays(booster) -> list[dict[str, Any]]:
    """A LightGBM booster's trees as the arrays rag.retrieval.ranker.LearnedRanker walks."""
    trees = []
    for info in booster.dump_model()["tree_info"]:
        root = info["tree_structure"]
        if "leaf_value" in root:  # one leaf: a split sending everything to it
            trees.append({"feature": [0], "threshold": [0.0], "left": [-1], "right": [-1],
                          "leaf_value": [root["leaf_value"]], "depth": 1})
            continue
        n = info["num_leaves"] - 1
        tree = {"feature": [0] * n, "threshold": [0.0] * n, "left": [0] * n, "right": [0] * n,
                "leaf_value": [0.0] * info["num_leaves"], "depth": 0}

        def walk(node: dict, depth: int) -> int:
            if "leaf_index" in node:
                tree["leaf_value"][node["leaf_index"]] = node["leaf_value"]
                return ~node["leaf_index"]
            if node["decision_type"] != "<=" or node["missing_type"] not in ("None", "Zero", "NaN"):
                raise ValueError(f"unsupported split {node['decision_type']} / {node['missing_type']}")
            i = node["split_index"]
            tree["feature"][i], tree["threshold"][i] = node["split_feature"], float(node["threshold"])
            tree["depth"] = max(tree["depth"], depth)
            tree["left"][i] = walk(node["left_child"], depth + 1)
            tree["right"][i] = walk(node["right_child"], depth + 1)
            return i

        walk(root, 1)
        trees.append(tree)
    return trees


def training_queries(corpus) -> list[tuple[str, dict[str, int]]]:
    """(question, grades by document) for a corpus's training queries."""
    if corpus.beir:
        _, texts, qrels = load_beir(corpus.beir, "train")
        return [(texts[q], g) for q, g in qrels.items()]
    gold = [i for i in ev.load_gold(corpus.questions) if i["kind"] == "answerable"
            and (i.get("split") or ev.split_of(i)) == "dev"]
    return [(i["question"], dict.fromkeys(i["gold"], 1)) for i in gold] * GUIDE_REPEATS


def corpus_rows(corpus, settings, embedder, workdir: Path, say) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each training query's feature rows and labels, searched with the product's retriever."""
    from rag.retrieval.retrieve import HybridRetriever, text_of
    from rag.store.index import LiveIndex

    queries = training_queries(corpus)
    mine, ids = ingest_kept(corpus, settings, embedder, workdir, say)
    retriever = HybridRetriever(embedder, LiveIndex(mine, embedder))
    say(f"{corpus.name}: features of {len(queries)} queries")
    vectors = embedder.embed([q for q, _ in queries])
    rows, labels = [], []
    for (question, grades), vector in zip(queries, vectors):
        evidence = retriever.evidence(question, vector)
        source = {c: ch.source for c, ch in evidence.chunks.items()}
        group = {text_of(c): ids.get(s, s) for c, s in source.items()}
        docs_, x = document_features(question, *evidence, group=text_of, depth=retriever.fusion.candidates)
        rows.append(x)
        labels.append(np.array([grades.get(group.get(d, ""), 0) for d in docs_], dtype=np.int32))
    return rows, labels


def train(rows: list[np.ndarray], labels: list[np.ndarray]):
    import lightgbm

    model = lightgbm.LGBMRanker(**PARAMS)
    model.fit(np.vstack(rows), np.concatenate(labels), group=[len(y) for y in labels],
              feature_name=list(FEATURES))
    return model.booster_


def main(argv: list[str] | None = None) -> int:
    from rag.backends import make_embedder
    from rag.core.settings import load_settings

    args = training_parser(__doc__, MODEL).parse_args(argv)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    chosen = {c.name: c for c in load_config(args.corpora)}
    needed = [chosen.get("dev-corpus"), chosen.get("scifact")]
    if any(c is None or c.missing() for c in needed):
        say("train_ranker: needs the dev-corpus and scifact corpora (evals/corpora.toml) on this machine")
        return 2
    settings = load_settings()
    embedder = make_embedder(settings)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mentorkb-ranker-") as tmp:
        workdir = args.workdir or Path(tmp)
        rows, labels, counts = [], [], {}
        for corpus in needed:
            r, y = corpus_rows(corpus, settings, embedder, workdir, say)
            rows += r
            labels += y
            counts[corpus.name] = len(r)
    booster = train(rows, labels)
    model = {"features": list(FEATURES), "params": {k: v for k, v in PARAMS.items() if k != "verbose"},
             "trained_on": {"scifact": "qrels/train.tsv", "dev-corpus": f"split dev, x{GUIDE_REPEATS}"},
             "queries": counts, "trees": booster_arrays(booster)}
    args.out.write_text(json.dumps(model, separators=(",", ":")) + "\n", encoding="utf-8")
    say(f"wrote {args.out} ({len(model['trees'])} trees, {args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
