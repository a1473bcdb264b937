"""Score the shipped injection detector on a labeled file and on the sample corpus.

    python evals/injection/score.py ../shared/injection/dev.jsonl

Prints, for the old fixed-phrase guard (`rag.safety.guard.is_instruction`), the pattern layer
alone, the classifier alone and both together (what ingest uses): injection recall,
the share of benign sentences flagged, and how many sentences of `corpus/` are flagged.
The dev file is blind: read its figures, never tune on them.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def corpus_sentences() -> list[str]:
    """Every sentence of the sample corpus, as the loaders read it."""
    from ingest.loaders import is_supported, load
    from rag.core.text import sentences

    found = []
    for path in sorted((ROOT / "corpus").rglob("*")):
        if path.is_file() and is_supported(path):
            for section in load(path, path.name).sections:
                found.extend(sentences(section.text))
    return found


def main(path: Path) -> None:
    from rag.safety.guard import is_instruction
    from rag.safety.injection import Detector, pattern

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    injection = [r["label"] == "injection" for r in rows]
    detector = Detector()
    sample = corpus_sentences()
    scores, sample_scores = detector.scores(texts), detector.scores(sample)
    rules = {
        "fixed phrases (rag.safety.guard)": (is_instruction, None),
        "patterns": (pattern, None),
        "classifier": (None, detector.threshold),
        "patterns + classifier": (pattern, detector.threshold),
    }
    print(f"{path.name}: {sum(injection)} injection, {len(rows) - sum(injection)} benign; "
          f"corpus/: {len(sample)} sentences")
    for name, (rule, cut) in rules.items():
        def flag(text: str, score: float) -> bool:
            return bool((rule and rule(text)) or (cut is not None and score >= cut))
        flags = [flag(t, s) for t, s in zip(texts, scores)]
        caught = sum(f for f, y in zip(flags, injection) if y)
        wrong = sum(f for f, y in zip(flags, injection) if not y)
        corpus = sum(flag(t, s) for t, s in zip(sample, sample_scores))
        print(f"  {name:<24} recall {caught / sum(injection):.3f} ({caught}/{sum(injection)})  "
              f"benign flagged {wrong / (len(rows) - sum(injection)):.3f} ({wrong})  corpus/ flagged {corpus}")
        if name == "patterns + classifier":
            missed = Counter(r["family"] for r, f, y in zip(rows, flags, injection) if y and not f)
            false = Counter(r["family"] for r, f, y in zip(rows, flags, injection) if f and not y)
            print(f"    missed by family: {dict(missed)}\n    benign flagged by family: {dict(false)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
