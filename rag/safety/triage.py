"""Safety triage: what needs a person never gets a machine's answer alone.

Three outcomes, erring toward a person:

- **handoff, crisis**: a crisis signal. The reply leads with help resources and a
  human mentor is asked in.
- **handoff, other category**: a confident signal of abuse or harassment, a medical,
  legal or confidential HR matter.
- **check-in**: a possible but unconfident signal. The question is answered, with a
  visible offer of a human mentor beside it; for a possible crisis, the help
  resources come first.

Every category hands off at the threshold its recall target asks for (crisis 1.0,
others 0.95 under cross-validation), unless that would hand off more than a small
budget of everyday messages: then the budget sets it, and the band below it, down to
the recall target, gets the check-in. For crisis this keeps the resources in front of
every message with any crisis signal while a person is asked in only for the
confident ones. Handing off every crisis signal would, with this classifier, also
hand off many everyday questions, burying real handoffs and teaching mentees to skip
the crisis text (figures in docs/safety.md).

The trained classifier (`rag/safety/triage_model.py`) scores every part of a message
(sentences, clauses) and lets the most severe confident part decide, with thresholds
chosen by cross-validation on the training data. A small lexicon of unmistakable
phrases sits in front of it as a high-precision layer: its `strong` patterns (crisis
and abuse phrases that never matched an everyday training message) hand off by
themselves.

Who decides a handoff is a setting (`MENTORKB_TRIAGE_HANDOFF`). By default the
earlier rules (the whole lexicon and nearest exemplars, `rag/safety/triage_legacy.py`) still
do, and the classifier turns what they let through into check-ins: alone, the
classifier hands off far more of the answerable questions than the rules do
(docs/safety.md). With "classifier" it decides handoffs itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.core.types import TRIAGE_CATEGORIES
from rag.safety.triage_model import MODEL_FILE, Encoded, Thresholds, TriageModel, encode

if TYPE_CHECKING:
    from rag.core.protocols import Embedder
    from rag.core.settings import Settings

CRISIS_RESOURCES = (
    "**If you are in danger or thinking about ending your life, please reach out now.** "
    "Call your local emergency number (911 in the US, 112 in the EU, 999 in the UK). "
    "In the US, call or text **988** (Suicide & Crisis Lifeline), any time, for free. "
    "Elsewhere, your local crisis line or emergency services can help right away."
)

CHECK_IN_TEXT = (
    "If something difficult is going on, a human mentor can help: use “Talk to a human mentor” "
    "and a person will get back to you."
)

# Order matters: the first match wins, and a crisis always comes first.
CATEGORIES = TRIAGE_CATEGORIES

HANDOFF_TEXT = {
    "crisis": (
        "What you're going through matters, and you deserve to talk to a person, not an AI. "
        "I won't try to advise on this. Please contact a human mentor or someone you trust "
        "today, and use the resources above if you might be in danger."
    ),
    "abuse_harassment": (
        "I'm sorry this is happening. This needs a person, not an AI: please talk to a human "
        "mentor, your HR team or someone you trust. If you are in danger, call your local "
        "emergency number."
    ),
    "medical": (
        "This sounds like a health matter, and I'm not able to give medical advice. Please "
        "speak to a doctor or health professional, and a human mentor can help you think "
        "about the work side of it."
    ),
    "legal": (
        "This sounds like a legal matter, and I can't give legal advice. Please talk to a "
        "qualified legal adviser, and a human mentor can help you think through next steps."
    ),
    "hr_confidential": (
        "This deserves confidential handling by a person. Please raise it with a human "
        "mentor or your HR team, who can explain the options and protections available."
    ),
}
# (pattern, strong): strong patterns hand off alone; all of them make the old triage's lexicon.
LEXICON: dict[str, list[tuple[str, bool]]] = {
    "crisis": [
        (r"\b(kill|hurt|harm|cut|cutting|hurting|harming|killing)\s+myself\b", True),
        (r"\bsuicid", False),
        (r"\bself[- ]?harm", True),
        (r"\bend(ing)?\s+(it\s+all|my\s+life|things)\b", True),
        (r"\b(want|wanted|wish)\s+(to\s+)?(die|be\s+dead|disappear\s+forever)\b", True),
        (r"\bwish\s+i\s+(was|were)n?'?t?\s+(dead|never\s+born|alive)\b", True),
        (r"\bbetter\s+off\s+(dead|without\s+me)\b", True),
        (r"\b(no|any)\s+(reason|point)\s+(to|in)\s+(live|living|going\s+on)\b", False),
        (r"\bcan'?t\s+go\s+on\b", False),
        (r"\bgiving\s+(away\s+)?(all\s+)?my\s+(stuff|things|belongings|possessions)(\s+away)?\b", True),
        (r"\bwon'?t\s+(need|be\s+needing)\s+(it|them|any\s+of\s+(it|this))\b", True),
        (r"\bnot\s+(be\s+)?around\s+(much\s+longer|for\s+long|anymore)\b", False),
        (r"\b(overdose|take\s+all\s+(my|the)\s+pills)\b", True),
        (r"\bno\s+way\s+out\b", False),
        (r"\bsay(ing)?\s+goodbye\s+to\s+every(one|body)\b", False),
        (r"\b(don'?t|do\s+not|no\s+longer)\s+(really\s+)?want\s+to\s+(be\s+alive|live|exist|be\s+here)\b", True),
        (r"\bdark\s+thoughts\b", False),
        (r"\b(worth|point\s+in)\s+(carrying|going|living)\s+on\b", False),
        (r"\bnot\s+worth\s+living\b", False),
        (r"\bwon'?t\s+be\s+(around|here)\b", False),
        (r"\b(burden|weight)\s+(on|to|dragging\s+down)\s+(every(one|body)|my\s+(family|team))\b", True),
        (r"\b(cut|cutting|burn|burning|scratch(ing)?)\s+(my\s+)?(arms?|wrists?|skin|legs?|thighs?)\b", True),
        (r"\bif\s+i\s+(crashed|died|got\s+hit|was\s+hit|didn'?t\s+wake)", True),
        (r"\blife\s+insurance\s+(still\s+)?pays?\s+out\b", False),
        (r"\b(tallest|high(est)?)\s+(buildings?|bridges?|roofs?)\b", False),
        (r"\b(jump(ing)?|step(ping)?)\s+(off|from|in\s+front\s+of)\b", True),
        (r"\bchecked\s+out\s+of\s+life\b", False),
        (r"\b(see\s+(the|any)\s+)?point\s+(of|in)\s+(anything|life|living|it\s+all)\b", True),
    ],
    "abuse_harassment": [
        (r"\bharass", False),
        (r"\bbull(y|ied|ies|ying)\b", True),
        (r"\bstalk(s|ed|ing)?\b", False),
        (r"\bunwanted\s+(touch|messages?|advances|attention|texts?|comments?|contact)", True),
        (r"\b(touch(es|ed|ing)?|grop\w*)\s+me\b", True),
        (r"\bsexual(ly)?\s+(comments?|advances|jokes|remarks|messages)", True),
        (r"\b(hits?|hitting|slaps?|pushed|shoves?|threaten(s|ed|ing)?)\s+me\b", False),
        (r"\bdomestic\s+(violence|abuse)\b", False),
        (r"\babus(e|ed|ive|ing)\b", False),
        (r"\b(afraid|scared|terrified)\s+(to\s+go|of\s+going)\s+home\b", False),
        (r"\bcomment(s|ed|ing)?\s+on\s+my\s+(body|looks|weight|appearance|figure)\b", False),
        (r"\b(keeps?|kept)\s+(messaging|texting|calling|following|touching)\s+me\b", True),
        (r"\bwon'?t\s+let\s+me\s+(go|leave|see|talk)\b", True),
        (r"\b(checks?|reads?|goes\s+through)\s+my\s+phone\b", False),
        (r"\b(yells?|screams?|swears?)\s+at\s+me\b", True),
        (r"\bintimidat", False),
        (r"\b(belittl|humiliat)\w*", True),
        (r"\bcall(s|ed|ing)?\s+me\s+(stupid|useless|worthless|an?\s+idiot|names)\b", True),
        (r"\b(put(s|ting)?|rub(s|bing)?|strok(es|ing))\s+(his|her|their)\s+hands?\s+on\s+my\b", True),
    ],
    "medical": [
        (r"\bpanic\s+attacks?\b", False),
        (r"\beating\s+disorder", False),
        (r"\b(anorexi|bulimi)\w*", False),
        (r"\b(stopped|not|barely)\s+eating\b", False),
        (r"\bstarv(e|ing)\s+myself\b", False),
        (r"\bskipp(ing|ed)\s+meals\b", False),
        (r"\b(binge|binging|purg(e|ing))\b", False),
        (r"\bcalorie", False),
        (r"\bdepress(ion|ed)\b", False),
        (r"\b(medication|meds|prescription|antidepressants?)\b", False),
        (r"\bdiagnos", False),
        (r"\bchest\s+pains?\b", False),
        (r"\bcan'?t\s+(breathe|stop\s+shaking)\b", False),
        (r"\bhaven'?t\s+slept\s+in\s+(days|weeks)\b", False),
        (r"\b(therapist|psychiatrist|mental\s+illness)\b", False),
    ],
    "legal": [
        (r"\b(lawyer|attorney|solicitor)\b", False),
        (r"\b(sue|sued|suing|lawsuit|litigation|subpoena)\b", False),
        (r"\blegal\s+(action|trouble|advice|case)\b", False),
        (r"\b(court|arrested|police)\b", False),
        (r"\b(visa|immigration|deport\w*)\b", False),
        (r"\bcriminal\s+(record|charges?)\b", False),
    ],
    "hr_confidential": [
        (r"\bdiscriminat", False),
        (r"\b(racis[mt]|sexis[mt]|homophob\w*|transphob\w*|ableis[mt])\b", False),
        (r"\bretaliat", False),
        (r"\bwhistle-?blow", False),
        (r"\bhostile\s+work\s+environment\b", False),
        (r"\b(formal|official)\s+complaint\b", False),
        (r"\bpaid\s+less\s+(than|because)\b", False),
        (r"\bcomplaint\s+(\w+\s+){0,3}(against|about)\s+me\b", False),
        (r"\b(hr|personnel)\s+(has\s+)?(on\s+)?(file|records?)\b", False),
        (r"\bbecause\s+i'?m\s+(pregnant|gay|trans|black|a\s+woman|disabled|muslim|jewish|older)\b", False),
        (r"\b(fired|demoted|passed\s+over)\b.*\b(pregnan\w*|religion|race|gender|age|disabilit\w*)\b", False),
    ],
}

_COMPILED = {cat: [(re.compile(p, re.I), strong) for p, strong in pats] for cat, pats in LEXICON.items()}
assert tuple(LEXICON) == CATEGORIES


@dataclass(frozen=True)
class Triage:
    """Why a message goes to a person.

    `matched` is the lexicon phrase, or the part of the message that scored highest;
    `score` is 1.0 for a lexicon match, else the classifier's score for that part.
    `handoff` is False for the check-in tier: answer, and offer a person.
    """

    category: str
    matched: str
    score: float = 1.0
    handoff: bool = True


def lexicon_match(message: str, categories: Sequence[str] = CATEGORIES, strong_only: bool = False) -> Triage | None:
    """The first category (of `categories`) whose lexicon matches `message`, or None."""
    for category in categories:
        for pattern, strong in _COMPILED[category]:
            if strong or not strong_only:
                found = pattern.search(message)
                if found:
                    return Triage(category, found.group(0))
    return None


def decide(scores: Mapping[str, float], thresholds: Thresholds) -> tuple[str, bool] | None:
    """(category, handoff) from per-category scores, or None to just answer.

    The first category, in order of severity, at its handoff threshold; else the
    first at its check-in threshold, as (category, False).
    """
    for handoff in (True, False):
        limits = thresholds.handoff if handoff else thresholds.check_in
        for category in CATEGORIES:
            if category in scores and scores[category] >= limits[category]:
                return category, handoff
    return None


class Triager:
    """Decides whether a message goes to a person, is answered with an offer of one, or is answered.

    With `settings.triage_handoff == "rules"` (the default) the lexicon and exemplar
    rules decide handoffs, and the classifier turns what they let through
    into check-ins; with "classifier" the classifier decides handoffs too.

    Args:
        settings: `triage_categories` (enabled), `triage_handoff`, `triage_messages`,
            `crisis_resources`.
        embedder: embeds the message and its parts; with None only the lexicon runs.
        model_path: the trained classifier file.
        cache_dir: where the rules keep their exemplars' vectors between runs.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 model_path: Path = MODEL_FILE, cache_dir: Path | None = None) -> None:
        from rag.safety.triage_legacy import LegacyTriager

        self.settings = settings
        self.embedder = embedder
        self.model_path = model_path
        self.categories = tuple(c for c in CATEGORIES if c in settings.triage_categories)
        self.rules = LegacyTriager(settings, embedder, cache_dir=cache_dir) if settings.triage_handoff == "rules" else None
        self._model: TriageModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> TriageModel:
        """The classifier, loaded on first use (it imports scikit-learn)."""
        with self._lock:
            if self._model is None:
                self._model = TriageModel.load(self.model_path)
            return self._model

    def warm_up(self) -> None:
        """Load the classifier and the rules' exemplar vectors before a first message."""
        if self.embedder is not None:
            self.model  # the property loads the file, and scikit-learn, once
            if self.rules is not None:
                self.rules.warm_up()

    def encode(self, message: str) -> Encoded:
        """The message and its parts, embedded in one encode; `.vectors[0]` is the
        whole message's embedding, which retrieval reuses."""
        return encode(self.embedder, message)

    def classify(self, message: str, encoded: Encoded | None = None) -> Triage | None:
        """The category `message` should go to a person for (or be checked in on), or None.

        Args:
            message: the user's message.
            encoded: its `encode`, if already computed (saves the encode).
        """
        strong = lexicon_match(message, self.categories, strong_only=True)
        if strong and strong.category == "crisis" or self.embedder is None or not message.strip():
            return strong
        encoded = encoded or self.encode(message)
        if self.rules is not None:
            ruled = self.rules.classify(message, encoded.vectors[0])
            if ruled:
                return ruled
        parts = encoded.parts
        scores = self.model.part_scores(parts, encoded.vectors[:len(parts)])
        best = {c: float(scores[:, j].max()) for j, c in enumerate(CATEGORIES) if c in self.categories}
        decided = decide(best, self.model.thresholds)
        if decided is None or (strong and decided[0] != "crisis"):
            return strong
        category, handoff = decided
        where = int(scores[:, CATEGORIES.index(category)].argmax())
        return Triage(category, parts[where], round(best[category], 4), handoff and self.rules is None)

    def handoff_text(self, category: str) -> str:
        """The reply for a handoff, with the admin's overrides from settings."""
        return handoff_text(category, self.settings.triage_messages, self.settings.crisis_resources)

    def check_in_text(self, category: str) -> str:
        """The notice shown with a checked-in answer: help resources first for a possible crisis."""
        if category == "crisis":
            return f"{self.settings.crisis_resources or CRISIS_RESOURCES}\n\n{CHECK_IN_TEXT}"
        return CHECK_IN_TEXT


def handoff_text(category: str, messages: dict[str, str] | None = None,
                 crisis_resources: str | None = None) -> str:
    """The reply for a handoff; `messages` and `crisis_resources` override the built-in text."""
    text = (messages or {}).get(category) or HANDOFF_TEXT[category]
    return f"{crisis_resources or CRISIS_RESOURCES}\n\n{text}" if category == "crisis" else text
