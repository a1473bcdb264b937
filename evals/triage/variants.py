"""Triage classifier variants against the shipped design (docs/safety.md, "Tried").

    python evals/triage/variants.py [--shared ../shared] [--data-dir DIR]

Each variant is cross-validated on `evals/triage/train/` with thresholds chosen as
`make triage-model` chooses them, fitted on all of it, and scored as the classifier
alone on the blind set and on three sets of ordinary questions (the sample corpus's
answerable gold questions, the dev corpus's answerable questions, the follow-ups).
One JSON line per variant; about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import warnings
from pathlib import Path

import numpy as np

from mentorkb import triage_build as tb
from rag.safety.triage import decide
from rag.core.types import TRIAGE_CATEGORIES as CATS

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def guide_sentences(shared: Path, n: int, seed: int = 0) -> list[dict]:
    """`n` prose sentences (6-40 words) from the dev corpus's guides, as everyday examples."""
    sentences = []
    for name in sorted(glob.glob(str(shared / "dev-corpus/**/*.md"), recursive=True)):
        if "licenses" in name or "SOURCES" in name:
            continue
        text = re.sub(r"```.*?```", " ", Path(name).read_text(encoding="utf-8", errors="ignore"), flags=re.S)
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        for line in text.splitlines():
            for sentence in re.split(r"(?<=[.!?])\s+", line.strip(" #*->|")):
                if 6 <= len(sentence.split()) <= 40 and not re.search(r"[<>{}=`]|http", sentence):
                    sentences.append(sentence)
    random.Random(seed).shuffle(sentences)
    return [{"text": s, "label": "none"} for s in sentences[:n]]


class Blend:
    """The shipped logistic regression's scores blended with another head's, on the part vectors."""

    def __init__(self, base, head, weight: float) -> None:
        self.base, self.head, self.weight = base, head, weight

    def part_scores(self, texts, vectors):
        probabilities = self.head.predict_proba(np.asarray(vectors, dtype=np.float32))
        classes = list(self.head.classes_)
        none = probabilities[:, classes.index("none")]
        other = np.stack([probabilities[:, classes.index(c)] / (probabilities[:, classes.index(c)] + none + 1e-9)
                          for c in CATS], 1)
        return (1 - self.weight) * self.base.part_scores(texts, vectors) + self.weight * other


def blended(kind: str, weight: float):
    def fit(messages, thresholds=None):
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.neural_network import MLPClassifier
        from sklearn.svm import SVC

        warnings.filterwarnings("ignore", "The `probability` parameter", FutureWarning)  # still the simplest way here
        heads = {"mlp": lambda: MLPClassifier((256,), alpha=1e-3, max_iter=300, early_stopping=True, random_state=0),
                 "knn": lambda: KNeighborsClassifier(15, weights="distance", metric="cosine"),
                 "svc": lambda: SVC(C=4, probability=True, class_weight="balanced", random_state=0)}
        _, vectors, labels = tb.examples(messages)
        return Blend(tb.fit(messages, thresholds), heads[kind]().fit(vectors, labels), weight)
    return fit


def evaluate(name, train, messages, extra, sets, fit=tb.fit) -> dict:
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([r["label"] for r in train])
    oof = np.zeros((len(train), len(CATS)))
    for fold, test in StratifiedGroupKFold(tb.FOLDS, shuffle=True, random_state=0).split(
            train, labels, groups=np.arange(len(train))):
        oof[test] = tb.message_scores(fit([messages[i] for i in fold] + extra), [messages[i] for i in test])
    thresholds = tb.choose_thresholds(oof, labels)
    model = fit(messages + extra, thresholds)
    result = {"variant": name}
    for set_name, (rows, encoded) in sets.items():
        tiers = [decide(dict(zip(CATS, s)), thresholds) for s in tb.message_scores(model, encoded)]
        for label in sorted({r["label"] for r in rows}):
            picked = [t for r, t in zip(rows, tiers) if r["label"] == label]
            right = sum(1 for t in picked if t and t[1] and (label == "none" or t[0] == label))
            checked = sum(1 for t in picked if t and not t[1])
            result[f"{set_name}/{label}"] = f"{right} handed off + {checked} checked in / {len(picked)}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    from rag.backends import make_embedder
    from rag.core.settings import load_settings

    embedder = make_embedder(load_settings(**({"data_dir": args.data_dir} if args.data_dir else {})))
    train = tb.load_rows(ROOT / "evals/triage/train")
    messages = tb.encode_rows(train, embedder)
    question_sets = {
        "blind": read(ROOT / "evals/triage/blind.jsonl"),
        "gold": [q for q in read(ROOT / "corpus/questions.jsonl") if q["kind"] == "answerable"],
        "dev-corpus": [q for q in read(args.shared / "dev-corpus/questions.jsonl") if q["kind"] == "answerable"],
        "follow-ups": read(args.shared / "followups/dev.jsonl"),
    }
    sets = {}
    for name, rows in question_sets.items():
        rows = [r if "text" in r else {"text": r["question"], "label": "none"} for r in rows]
        sets[name] = (rows, tb.encode_rows(rows, embedder))
    print(json.dumps(evaluate("shipped", train, messages, [], sets)), flush=True)
    for n in (800, 2000):
        extra = tb.encode_rows(guide_sentences(args.shared, n), embedder)
        print(json.dumps(evaluate(f"+{n} guide sentences", train, messages, extra, sets)), flush=True)
    for kind, weight in (("mlp", 0.5), ("knn", 0.3), ("svc", 0.5)):
        print(json.dumps(evaluate(f"{kind} blend {weight}", train, messages, [], sets, blended(kind, weight))),
              flush=True)


if __name__ == "__main__":
    main()
