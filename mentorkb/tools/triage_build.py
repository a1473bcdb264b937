"""Rebuild the triage classifier from `evals/triage/train/` (`make triage-model`).

    python -m mentorkb.tools.triage_build [--train DIR] [--out FILE]

Training examples come from whole messages and their parts: each sensitive message
also teaches its `evidence` span (the clause that carries the signal) and the parts
that contain it; parts sharing no word with the evidence, and every part of an
everyday message, teach "none". Thresholds come from 5-fold cross-validation over
messages (a message's parts never straddle folds). A handoff: crisis at recall 1.0,
the others at recall 0.95, each raised where needed so that it hands off at most
0.6% of the everyday training messages. A check-in: every crisis message (recall
1.0), the others at recall 0.99 (why: `rag/safety/triage.py`). The report (cross-validated counts per category and style) is
written beside the model. Progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import click

from rag.core import jsonl
from rag.core.types import TRIAGE_CATEGORIES
from rag.safety.triage_model import (
    MODEL_FILE,
    Encoded,
    Span,
    Thresholds,
    TriageModel,
    encode,
    features,
    normalize,
    split_spans,
)

TRAIN_DIR = Path("evals/triage/train")
C = 4.0  # inverse regularisation; chosen by cross-validation on the training set
HANDOFF_RECALL = 0.95  # non-crisis categories: a handoff at this recall at least...
EVERYDAY_BUDGET = 0.006  # ...unless it hands off more of the everyday messages than this, per category
CHECK_IN_RECALL = {"crisis": 1.0, **{c: 0.99 for c in TRIAGE_CATEGORIES[1:]}}
FOLDS = 5


def train_digest(train_dir: Path) -> str:
    """SHA-256 over the training files' names and bytes: which data a model was built from."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(train_dir.glob("*.jsonl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_labeled(paths: list[Path], labels: tuple[str, ...]) -> list[dict]:
    """Every row of the JSON-lines files `paths`, in order; a row whose `label` is not one
    of `labels` stops the build with its file and line."""
    found = []
    for path in paths:
        for number, row in jsonl.rows(path):
            if row.get("label") not in labels:
                raise click.ClickException(f"{path}:{number}: unknown label {row.get('label')!r}")
            found.append(row)
    return found


def load_rows(train_dir: Path) -> list[dict]:
    """Every labeled message of every `*.jsonl` in `train_dir`, in file order."""
    rows = read_labeled(sorted(train_dir.glob("*.jsonl")), (*TRIAGE_CATEGORIES, "none"))
    if not rows:
        raise click.ClickException(f"{train_dir}: no labeled messages (*.jsonl)")
    return rows


@dataclass(frozen=True)
class Message:
    """A training message, encoded: its parts first, then its evidence span if any."""

    label: str
    encoded: Encoded
    parts: int  # how many of encoded.spans are the message's own parts
    evidence: Span | None


def encode_rows(rows: list[dict], embedder) -> list[Message]:
    """Each row split and embedded once, its evidence span pooled in the same encode."""
    messages = []
    for row in rows:
        text, evidence = normalize(row["text"]), normalize(row.get("evidence") or "")
        at = text.find(evidence) if evidence else -1
        span = (at, at + len(evidence)) if at >= 0 else None
        encoded = encode(embedder, text, [span] if span else [])
        messages.append(Message(row["label"], encoded, len(split_spans(text)), span))
    return messages


def examples(messages: list[Message]):
    """(texts, vectors, labels) to fit on: wholes, evidence spans and labeled parts.

    A part of a sensitive message that shares no word with its evidence is "none"
    (the ordinary question beside the telling clause); one that contains the evidence,
    or lies within it, has the message's label; others are left out.
    """
    import numpy as np

    texts, rows, labels = [], [], []
    for m in messages:
        e = m.encoded
        chosen = [(0, m.label)]
        if m.evidence:
            chosen.append((e.spans.index(m.evidence), m.label))
        evidence = e.text[m.evidence[0]:m.evidence[1]] if m.evidence else ""
        for i in range(1, m.parts):
            part = e.text[e.spans[i][0]:e.spans[i][1]]
            if m.label == "none" or not set(evidence.split()) & set(part.split()):
                chosen.append((i, "none"))
            elif evidence in part or part in evidence:
                chosen.append((i, m.label))
        for i, label in chosen:
            a, b = e.spans[i]
            texts.append(e.text[a:b])
            rows.append(e.vectors[i])
            labels.append(label)
    return texts, np.asarray(rows), labels


def fit(messages: list[Message], thresholds: Thresholds | None = None) -> TriageModel:
    """Vectorizers and the logistic regression, fitted on `messages` alone."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, vectors, labels = examples(messages)
    vectorizers = [TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
                   TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)]
    for v in vectorizers:
        v.fit(texts)
    classifier = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
    classifier.fit(features(texts, vectors, vectorizers), labels)
    return TriageModel(list(classifier.classes_), classifier.coef_, classifier.intercept_, vectorizers,
                       thresholds or Thresholds({}, {}))


def message_scores(model: TriageModel, messages: list[Message]):
    """(messages, categories): each category's best part score."""
    import numpy as np

    return np.asarray([model.part_scores(m.encoded.parts[:m.parts], m.encoded.vectors[:m.parts]).max(axis=0)
                       for m in messages])


def threshold_at(scores, recall: float) -> float:
    """The highest threshold that keeps at least `recall` of these positive scores."""
    import numpy as np

    ordered = np.sort(scores)
    return float(ordered[min(int(np.floor((1 - recall) * len(ordered))), len(ordered) - 1)])


def budget_threshold(scores, share: float) -> float:
    """The lowest threshold that `share` of these everyday scores at most reach."""
    import numpy as np

    ordered = np.sort(scores)[::-1]
    allowed = int(np.floor(share * len(ordered)))
    return float(np.nextafter(ordered[allowed], np.inf)) if allowed < len(ordered) else 0.0


def choose_thresholds(oof, labels, budget: float = EVERYDAY_BUDGET) -> Thresholds:
    """Thresholds from out-of-fold scores (messages, categories) and their labels: a
    handoff at the recall target (crisis 1.0, others HANDOFF_RECALL), raised until each
    category hands off at most `budget` of the everyday messages; a check-in at
    CHECK_IN_RECALL, never above the handoff."""
    everyday = oof[labels == "none"]
    handoff = {c: max(threshold_at(oof[labels == c, j], HANDOFF_RECALL if c != "crisis" else 1.0),
                      budget_threshold(everyday[:, j], budget))
               for j, c in enumerate(TRIAGE_CATEGORIES)}
    check_in = {c: min(handoff[c], threshold_at(oof[labels == c, j], CHECK_IN_RECALL[c]))
                for j, c in enumerate(TRIAGE_CATEGORIES)}
    return Thresholds(handoff, check_in)


def build(train_dir: Path, out: Path, embedder, budget: float = EVERYDAY_BUDGET) -> dict:
    """Cross-validate, choose thresholds, fit on everything, write `out`; the report."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    rows = load_rows(train_dir)
    labels = np.array([r["label"] for r in rows])
    click.echo(f"{len(rows)} messages from {train_dir}; encoding their parts", err=True)
    messages = encode_rows(rows, embedder)
    oof = np.zeros((len(rows), len(TRIAGE_CATEGORIES)))
    folds = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=0)
    for n, (train, test) in enumerate(folds.split(rows, labels, groups=np.arange(len(rows))), 1):
        click.echo(f"fold {n}/{FOLDS}", err=True)
        model = fit([messages[i] for i in train])
        oof[test] = message_scores(model, [messages[i] for i in test])
    thresholds = choose_thresholds(oof, labels, budget)
    report = {**cv_report(rows, oof, thresholds), "everyday_budget": budget, "train_sha256": train_digest(train_dir)}
    model = fit(messages, thresholds)
    model.report = report
    model.save(out)
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def cv_report(rows: list[dict], oof, thresholds: Thresholds) -> dict:
    """Cross-validated outcomes: per category and style, how many were handed off."""
    from rag.safety.triage import decide

    by_label, by_style = defaultdict(Counter), defaultdict(Counter)
    for row, scores in zip(rows, oof):
        tier = decide(dict(zip(TRIAGE_CATEGORIES, scores)), thresholds)
        outcome = "handoff" if tier and tier[1] else "check_in" if tier else "answer"
        by_label[row["label"]][outcome] += 1
        by_style[f"{row['label']}/{row['style']}"][outcome] += 1
    return {"messages": len(rows), "folds": FOLDS, "C": C,
            "thresholds": {"handoff": thresholds.handoff, "check_in": thresholds.check_in},
            "cross_validated": {k: dict(v) for k, v in sorted(by_label.items())},
            "cross_validated_by_style": {k: dict(v) for k, v in sorted(by_style.items())}}


@click.command()
@click.option("--train", "train_dir", type=click.Path(file_okay=False, path_type=Path), default=TRAIN_DIR,
              show_default=True, help="Folder of labeled *.jsonl messages.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=MODEL_FILE, show_default=True)
@click.option("--budget", type=float, default=EVERYDAY_BUDGET, show_default=True,
              help="Share of everyday training messages each category may hand off under cross-validation.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the embedding model export is kept (default: MENTORKB_DATA_DIR).")
def main(train_dir: Path, out: Path, budget: float, data_dir: Path | None) -> None:
    """Train the triage classifier and write it with its cross-validation report."""
    from rag.backends import make_embedder
    from rag.core.settings import load_settings

    settings = load_settings(**({"data_dir": data_dir} if data_dir else {}))
    report = build(train_dir, out, make_embedder(settings), budget)
    click.echo(json.dumps({"model": str(out), "cross_validated": report["cross_validated"]}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
