"""Answerability: does what was retrieved speak to the question's specifics at all?

Similarity alone cannot tell "what are the pay bands at Stripe?" from a question the
documents answer: a generic passage about pay conversations is close in meaning. But a
question's distinctive content (a named organisation or place, an amount, a pay,
leave or immigration specific) has to appear in a passage that answers it. When the
leading documents' passages hold none of it, the assistant abstains and offers a
person instead of quoting something beside the point.

Calibrated on the out-of-scope and answerable questions of the `dev` splits only
(docs/evaluation.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.core.text import stem, words
from rag.core.types import ScoredChunk

# A capitalised word or acronym that does not start a sentence: (part of) a name. Two-letter
# acronyms (IC, PR, HR) are the field's shorthand, which guides spell out.
_NAME = re.compile(r"(?<!^)(?<![.?!:]\s)\b(?:[A-Z][A-Za-z0-9&'-]*[A-Za-z0-9]|[A-Z]{2,})")
_NOT_NAMES = frozenset({"I", "I'm", "I've", "I'd", "I'll", "OK"})
# An amount: money, a percentage, or a number of three digits or more (a year, a figure).
_AMOUNT = re.compile(r"[$£€]\s?\d[\d,.]*|\b\d[\d,.]*\s?%|\b\d{3,}\b")
# Specifics of pay, leave, tax, immigration and law: a passage that answers such a
# question names them.
SPECIFICS = frozenset("""salary salaries compensation equity bonus bonuses visa visas tax taxes lawsuit
    lawyer immigration pension insurance severance parental sabbatical tuition reimburse reimbursement
    payroll""".split())


def _has(word: str, text: str) -> bool:
    return f" {word} " in text or f" {stem(word)}" in text


def missing(question: str, retrieved: Sequence[ScoredChunk], docs: int = 3) -> list[str]:
    """The question's specifics that none of the first `docs` documents' retrieved
    passages (their text, titles and headings) mention; [] when it may be answerable."""
    leading = list(dict.fromkeys(sc.chunk.source for sc in retrieved))[:docs]
    said = " ".join(f"{sc.chunk.title} {sc.chunk.section} {sc.chunk.text}"
                    for sc in retrieved if sc.chunk.source in leading)
    text = f" {' '.join(words(said))} "
    names = [n for n in (re.sub(r"'s$", "", m.group(0)) for m in _NAME.finditer(question))
             if n not in _NOT_NAMES and len(n) > 2 and words(n)]
    out = [n for n in names if not all(_has(p, text) for p in words(n))]
    out += [m.group(0).strip() for m in _AMOUNT.finditer(question) if m.group(0).strip() not in said]
    out += [w for w in words(question) if w in SPECIFICS and not _has(w, text)]
    return list(dict.fromkeys(out))
