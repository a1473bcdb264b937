"""Instructions hidden in documents: found at ingest, never quoted.

A mentor's document is data, but a sentence in it can be written to make the reader
or the assistant act for someone else: send a secret, contact an unofficial address,
visit a look-alike sign-in page, trust a voice claiming to be a human or a system
message, drop the assistant's rules. Such sentences are a safety class, like triage:

1. `normalise` / `views` (rag.safety.injection_text) undo disguises: look-alike letters,
   fullwidth forms, zero-width characters, spacing, leetspeak, encoded payloads.
2. A high-precision pattern layer (`pattern`) catches the unmistakable forms: role
   tags ("SYSTEM:", "[INST]"), "ignore the above instructions", notes addressed to
   the assistant, claims of being a human, orders to decode and obey. Quoted text is
   left out first, so a guide *warning about* "ignore previous instructions" is not
   flagged.
3. A trained classifier (`Detector`, the same kind of model as the triage classifier,
   on character and word n-grams without the embedding block: with enough labeled
   sentences the embedding does not help, and ingest need not embed every sentence
   again) scores every view; its threshold is chosen by cross-validation
   (`mentorkb.tools.injection_build`).

The indexer drops flagged sentences from the stored text, so neither the extractive
answerer nor a generative backend ever reads them, and reports them to the mentor and
the admin. Loading the model imports scikit-learn, so it is done lazily.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.safety.injection_text import normalise, views

if TYPE_CHECKING:
    from rag.safety.triage_model import TriageModel

MODEL_FILE = Path(__file__).parent / "data" / "injection_model.npz"
REBUILD = "make injection-model"

# Quotations and code spans: a guide quoting an attack, or showing markup, is not making one.
_QUOTED = re.compile(r"\"[^\"]{3,}\"|“[^”]{3,}”|'[^']{12,}'|‘[^’]{3,}’|`[^`]+`")
_MODEL_WORDS = r"(?:assistant|ai|a\.i\.|model|language model|llm|chat ?bot|bot|gpt|copilot)"
_PATTERNS = [
    # role tags and chat-template markup
    r"^\W*(?:system|assistant|developer|admin(?:istrator)?)(?:\s+(?:message|prompt|override))?\s*[:\]>]",
    r"<\|im_start\|>|\[/?inst\]|</?\s*(?:system|instructions?|context|document)\s*>",
    r"\b(?:new|updated|real|true)\s+system\s+(?:prompt|instructions?|message)\b",
    # "ignore the instructions above"
    r"\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}\b(?:previous|prior|above|earlier|preceding|all|your|system)\b"
    r".{0,25}\b(?:instructions?|rules|guidelines|prompts?|directives?|polic(?:y|ies)|safety)\b",
    # a note or an order addressed to the model reading the document
    rf"\b(?:note|message|instructions?|reminder)\s+(?:to|for)\s+(?:the\s+|any\s+)?{_MODEL_WORDS}\s*[:,—-]",
    rf"\bif\s+you\s+are\s+(?:an?\s+|the\s+)?{_MODEL_WORDS}\b",
    rf"\b(?:if|when)\s+(?:an?\s+|the\s+|any\s+)?{_MODEL_WORDS}\s+(?:is\s+)?(?:reads?|reading|sees?|processe?s?)\b",
    rf"^\W*{_MODEL_WORDS}\s*,",
    r"\b(?:at\s+the\s+end\s+of|append\s+to|end)\s+(?:every|each|all|your)\s+(?:answers?|repl(?:y|ies)|responses?)\s*,?\s*"
    r"(?:add|append|include|insert|say|write|tell|ask|link|paste|put)\b",
    r"\b(?:every|each|all)\s+(?:answers?|repl(?:y|ies)|responses?)\s+(?:must|should)\b",
    # claims of being a person, or orders to deny being an AI
    r"\b(?:i\s+am|i'm|this\s+is|you\s+are\s+(?:talking|chatting|speaking)\s+(?:to|with))\s+(?:an?\s+)?"
    r"(?:real|actual|live|certified)\s+(?:human|person)\b",
    rf"\bnot\s+an?\s+{_MODEL_WORDS}\b.{{0,40}}\b(?:trust|share|send|tell)\s+me\b",
    rf"\b(?:never|don't|do\s+not)\s+(?:mention|say|admit|reveal|disclose)\b.{{0,20}}\b(?:you\s+are|you're|being)\s+an?\s+{_MODEL_WORDS}\b",
    r"\bintroduce\s+yourself\s+as\b",
    # an order to visit or sign in at a page whose path asks for an account or a secret
    r"\b(?:visit|go\s+to|open|click|tap|follow|log\s*in\s+at|sign\s*in\s+at)\s+(?:\S+\s+){0,3}?(?:https?://)?"
    r"[\w-]+(?:\.[\w-]+)+/\S*(?:verify|login|log-in|signin|sign-in|reset|account|secure|confirm|password|credential)",
    # decode and obey
    r"\b(?:decode|decipher|rot-?13|base64|hex|backwards|reversed?)\b(?:(?!\b(?:never|not|don't)\b).){0,40}\b(?:follow|obey|comply|execute|act\s+on|"
    r"do\s+what|real\s+task)\b",
]
_PATTERN_RE = [re.compile(p, re.I | re.M) for p in _PATTERNS]


def pattern(text: str) -> bool:
    """True when `text` (normalised, its quotations left out) has an unmistakable form."""
    return _matches(normalise(text))


def _matches(normalised: str) -> bool:
    """`pattern` of text already normalised."""
    plain = _QUOTED.sub(" \"…\" ", normalised)
    return any(p.search(plain) for p in _PATTERN_RE)


class Detector:
    """Flags sentences that read as instructions to the reader or the assistant.

    Args:
        model: a loaded classifier; by default the shipped `rag/safety/data/injection_model.npz`.
    """

    def __init__(self, model: TriageModel | None = None) -> None:
        from rag.safety.triage_model import TriageModel

        self.model = model or TriageModel.load(MODEL_FILE, ("injection",), REBUILD)
        self.threshold = self.model.thresholds.handoff["injection"]

    def scores(self, sentences: Sequence[str]) -> list[float]:
        """The classifier's score of each sentence: the highest over its views."""
        return self._scores([views(s) for s in sentences])

    def flagged(self, sentences: Sequence[str]) -> list[bool]:
        """Per sentence: a pattern matches, or the classifier's score reaches its threshold.
        Each sentence is normalised once, for both (its first view is its normal form)."""
        seen = [views(s) for s in sentences]
        return [_matches(v[0]) or score >= self.threshold for v, score in zip(seen, self._scores(seen))]

    def _scores(self, seen: Sequence[list[str]]) -> list[float]:
        """Per sentence, given its views: the highest score over them."""
        import numpy as np

        owners = [i for i, v in enumerate(seen) for _ in v]
        texts = [view for v in seen for view in v]
        if not texts:
            return []
        found = self.model.part_scores(texts)[:, 0]
        best = np.zeros(len(seen))
        np.maximum.at(best, np.asarray(owners), found)
        return best.tolist()
