"""Rebuild the injection detector from `evals/injection/` (`make injection-model`).

    python -m mentorkb.tools.injection_build [--data DIR] [--out FILE]

Labeled sentences (`train.jsonl`, `extra_*.jsonl` and the minimal pairs `pairs_*.jsonl`
written for this project) teach "injection" against "none"; ordinary text (`ORDINARY`:
sentences of public guides, and of mentors' write-ups) teaches "none" at a fifth of the
weight, so everyday language is not flagged. Every sentence is normalised
(`rag.safety.injection_text`) before it is vectorised, as at ingest. The model reads character
and word n-grams only: with the pairs in the training data the MiniLM embedding block
does not help in cross-validation (docs/security.md), and leaving it out spares ingest a
second embedding of every sentence. The threshold comes from 5-fold cross-validation over the
labeled sentences: the lowest score that flags at most `BENIGN_BUDGET` of the benign
ones written one by one (a flagged sentence is dropped from its document, so precision
comes first).
The report beside the model gives the cross-validated figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mentorkb.tools.triage_build import budget_threshold, read_labeled
from rag.core.jsonl import read_jsonl
from rag.safety.injection import MODEL_FILE
from rag.safety.injection_text import normalise
from rag.safety.triage_model import Thresholds, TriageModel, features

DATA_DIR = Path("evals/injection")
C = 4.0
GUIDE_WEIGHT = 0.2
BENIGN_BUDGET = 0.01
FOLDS = 5
# Unlabeled ordinary text, taught as "none" at GUIDE_WEIGHT: public guides, and mentors'
# own kind of prose (first person, checklists) that the guides lack.
ORDINARY = ("guides.jsonl", "mentoring.jsonl")


def load_data(data_dir: Path) -> tuple[list[str], list[str], int, int]:
    """(texts, labels, how many are labeled, how many of those are written as they come):
    the sentences written one by one (`train.jsonl`, `extra_*.jsonl`), then the minimal
    pairs (`pairs_*.jsonl`), then the ordinary sentences."""
    natural = read_labeled([data_dir / "train.jsonl", *sorted(data_dir.glob("extra_*.jsonl"))],
                           ("injection", "benign"))
    rows = natural + read_labeled(sorted(data_dir.glob("pairs_*.jsonl")), ("injection", "benign"))
    texts = [r["text"] for r in rows]
    labels = ["injection" if r["label"] == "injection" else "none" for r in rows]
    for name in ORDINARY:
        for row in read_jsonl(data_dir / name):
            texts.append(row["text"])
            labels.append("none")
    return texts, labels, len(rows), len(natural)


def fit(texts: list[str], labels: list[str], weights: list[float]) -> TriageModel:
    """TF-IDF of character and word n-grams, one logistic regression."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizers = [
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
    ]
    for v in vectorizers:
        v.fit(texts)
    classifier = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
    classifier.fit(features(texts, None, vectorizers), labels, sample_weight=np.asarray(weights))
    # A binary regression scores classes_[1]; as two softmax rows (±w/2) the model's
    # P(c) / (P(c) + P(none)) is exactly its probability.
    w, b = classifier.coef_[0], classifier.intercept_[0]
    return TriageModel(list(classifier.classes_), np.vstack([-w, w]) / 2, np.asarray([-b, b]) / 2,
                       vectorizers, Thresholds({"injection": 0.5}, {"injection": 0.5}), categories=("injection",))


@click.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), default=DATA_DIR)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=MODEL_FILE)
def main(data_dir: Path, out: Path) -> None:
    """Train, cross-validate, choose the threshold and write the model and its report."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    texts, labels, labeled, natural = load_data(data_dir)
    texts = [normalise(t) for t in texts]
    weights = [1.0] * labeled + [GUIDE_WEIGHT] * (len(texts) - labeled)
    y = np.asarray(labels)
    scores = np.zeros(labeled)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(np.zeros(labeled), y[:labeled])
    for k, (train, test) in enumerate(folds, 1):
        rows = np.concatenate([train, np.arange(labeled, len(texts))])
        model = fit([texts[i] for i in rows], list(y[rows]), [weights[i] for i in rows])
        scores[test] = model.part_scores([texts[i] for i in test])[:, 0]
        print(f"fold {k}/{FOLDS}", file=sys.stderr)
    positive = y[:labeled] == "injection"
    # The budget is taken over the benign sentences written one by one: a minimal pair's
    # benign half is built to look like its injection, so it teaches the boundary but is
    # no sample of the ordinary sentences whose loss the budget bounds.
    calibration = ~positive & (np.arange(labeled) < natural)
    cut = budget_threshold(scores[calibration], BENIGN_BUDGET)
    report = {"labeled": labeled, "pairs": labeled - natural, "ordinary": len(texts) - labeled, "threshold": cut,
              "cv_recall": float((scores[positive] >= cut).mean()),
              "cv_benign_flagged": float((scores[calibration] >= cut).mean()),
              "cv_pair_benign_flagged": float((scores[~positive & ~calibration] >= cut).mean())}
    model = fit(texts, labels, weights)
    model.thresholds = Thresholds({"injection": cut}, {"injection": cut})
    model.report = report
    model.save(out)
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report), file=sys.stderr)


if __name__ == "__main__":
    main()
