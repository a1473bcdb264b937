"""Safety triage: messages that need a person never reach the answerer.

Two signals, both erring toward escalation:

- a lexicon of strong phrases per category: a match hands off;
- embedding similarity to labeled exemplars (`rag/data/triage_exemplars.jsonl`),
  for messages with no telling keyword ("I've made my peace and sorted out who gets
  my cat"). A category fires when the message's nearest exemplar of that category is
  similar enough *and* not clearly farther than its nearest everyday ("none")
  exemplar, so "this deadline is killing me" stays with the answerer.

Thresholds were tuned on `evals/triage/dev.jsonl` (see `mentorkb eval --triage`),
crisis the most sensitive. A crisis phrase wins over everything; a message whose
nearest category by similarity is crisis is a crisis even if a milder phrase matched.
The message is encoded once (pass `vector` to reuse the retrieval query's).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.types import TRIAGE_CATEGORIES

if TYPE_CHECKING:
    import numpy as np

    from rag.protocols import Embedder
    from rag.settings import Settings

EXEMPLARS = Path(__file__).parent / "data" / "triage_exemplars.jsonl"

log = logging.getLogger(__name__)

CRISIS_RESOURCES = (
    "**If you are in danger or thinking about ending your life, please reach out now.** "
    "Call your local emergency number (911 in the US, 112 in the EU, 999 in the UK). "
    "In the US, call or text **988** (Suicide & Crisis Lifeline), any time, for free. "
    "Elsewhere, your local crisis line or emergency services can help right away."
)

_PATTERNS: dict[str, list[str]] = {
    "crisis": [
        r"\b(kill|hurt|harm|cut|cutting|hurting|harming|killing)\s+myself\b",
        r"\bsuicid",
        r"\bself[- ]?harm",
        r"\bend(ing)?\s+(it\s+all|my\s+life|things)\b",
        r"\b(want|wanted|wish)\s+(to\s+)?(die|be\s+dead|disappear\s+forever)\b",
        r"\bwish\s+i\s+(was|were)n?'?t?\s+(dead|never\s+born|alive)\b",
        r"\bbetter\s+off\s+(dead|without\s+me)\b",
        r"\b(no|any)\s+(reason|point)\s+(to|in)\s+(live|living|going\s+on)\b",
        r"\bcan'?t\s+go\s+on\b",
        r"\bgiving\s+(away\s+)?(all\s+)?my\s+(stuff|things|belongings|possessions)(\s+away)?\b",
        r"\bwon'?t\s+(need|be\s+needing)\s+(it|them|any\s+of\s+(it|this))\b",
        r"\bnot\s+(be\s+)?around\s+(much\s+longer|for\s+long|anymore)\b",
        r"\b(overdose|take\s+all\s+(my|the)\s+pills)\b",
        r"\bno\s+way\s+out\b",
        r"\bsay(ing)?\s+goodbye\s+to\s+every(one|body)\b",
        r"\b(don'?t|do\s+not|no\s+longer)\s+(really\s+)?want\s+to\s+(be\s+alive|live|exist|be\s+here)\b",
        r"\bdark\s+thoughts\b",
        r"\b(worth|point\s+in)\s+(carrying|going|living)\s+on\b",
        r"\bnot\s+worth\s+living\b",
        # Indirect warning signs: plans, methods, farewells, being a burden.
        r"\bwon'?t\s+be\s+(around|here)\b",
        r"\b(burden|weight)\s+(on|to|dragging\s+down)\s+(every(one|body)|my\s+(family|team))\b",
        r"\b(cut|cutting|burn|burning|scratch(ing)?)\s+(my\s+)?(arms?|wrists?|skin|legs?|thighs?)\b",
        r"\bif\s+i\s+(crashed|died|got\s+hit|was\s+hit|didn'?t\s+wake)",
        r"\blife\s+insurance\s+(still\s+)?pays?\s+out\b",
        r"\b(tallest|high(est)?)\s+(buildings?|bridges?|roofs?)\b",
        r"\b(jump(ing)?|step(ping)?)\s+(off|from|in\s+front\s+of)\b",
        r"\bchecked\s+out\s+of\s+life\b",
        r"\b(see\s+(the|any)\s+)?point\s+(of|in)\s+(anything|life|living|it\s+all)\b",
    ],
    "abuse_harassment": [
        r"\bharass",
        r"\bbull(y|ied|ies|ying)\b",
        r"\bstalk(s|ed|ing)?\b",
        r"\bunwanted\s+(touch|messages?|advances|attention|texts?|comments?|contact)",
        r"\b(touch(es|ed|ing)?|grop\w*)\s+me\b",
        r"\bsexual(ly)?\s+(comments?|advances|jokes|remarks|messages)",
        r"\b(hits?|hitting|slaps?|pushed|shoves?|threaten(s|ed|ing)?)\s+me\b",
        r"\bdomestic\s+(violence|abuse)\b",
        r"\babus(e|ed|ive|ing)\b",
        r"\b(afraid|scared|terrified)\s+(to\s+go|of\s+going)\s+home\b",
        r"\bcomment(s|ed|ing)?\s+on\s+my\s+(body|looks|weight|appearance|figure)\b",
        r"\b(keeps?|kept)\s+(messaging|texting|calling|following|touching)\s+me\b",
        r"\bwon'?t\s+let\s+me\s+(go|leave|see|talk)\b",
        r"\b(checks?|reads?|goes\s+through)\s+my\s+phone\b",
        r"\b(yells?|screams?|swears?)\s+at\s+me\b",
        r"\bintimidat",
        r"\b(belittl|humiliat)\w*",
        r"\bcall(s|ed|ing)?\s+me\s+(stupid|useless|worthless|an?\s+idiot|names)\b",
        r"\b(put(s|ting)?|rub(s|bing)?|strok(es|ing))\s+(his|her|their)\s+hands?\s+on\s+my\b",
    ],
    "medical": [
        r"\bpanic\s+attacks?\b",
        r"\beating\s+disorder",
        r"\b(anorexi|bulimi)\w*",
        r"\b(stopped|not|barely)\s+eating\b",
        r"\bstarv(e|ing)\s+myself\b",
        r"\bskipp(ing|ed)\s+meals\b",
        r"\b(binge|binging|purg(e|ing))\b",
        r"\bcalorie",
        r"\bdepress(ion|ed)\b",
        r"\b(medication|meds|prescription|antidepressants?)\b",
        r"\bdiagnos",
        r"\bchest\s+pains?\b",
        r"\bcan'?t\s+(breathe|stop\s+shaking)\b",
        r"\bhaven'?t\s+slept\s+in\s+(days|weeks)\b",
        r"\b(therapist|psychiatrist|mental\s+illness)\b",
    ],
    "legal": [
        r"\b(lawyer|attorney|solicitor)\b",
        r"\b(sue|sued|suing|lawsuit|litigation|subpoena)\b",
        r"\blegal\s+(action|trouble|advice|case)\b",
        r"\b(court|arrested|police)\b",
        r"\b(visa|immigration|deport\w*)\b",
        r"\bcriminal\s+(record|charges?)\b",
    ],
    "hr_confidential": [
        r"\bdiscriminat",
        r"\b(racis[mt]|sexis[mt]|homophob\w*|transphob\w*|ableis[mt])\b",
        r"\bretaliat",
        r"\bwhistle-?blow",
        r"\bhostile\s+work\s+environment\b",
        r"\b(formal|official)\s+complaint\b",
        r"\bpaid\s+less\s+(than|because)\b",
        r"\bcomplaint\s+(\w+\s+){0,3}(against|about)\s+me\b",
        r"\b(hr|personnel)\s+(has\s+)?(on\s+)?(file|records?)\b",
        r"\bbecause\s+i'?m\s+(pregnant|gay|trans|black|a\s+woman|disabled|muslim|jewish|older)\b",
        r"\b(fired|demoted|passed\s+over)\b.*\b(pregnan\w*|religion|race|gender|age|disabilit\w*)\b",
    ],
}

_COMPILED = {cat: [re.compile(p, re.I) for p in pats] for cat, pats in _PATTERNS.items()}

# Order matters: the first match wins, and a crisis always comes first.
CATEGORIES = TRIAGE_CATEGORIES
assert tuple(_PATTERNS) == CATEGORIES

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


@dataclass(frozen=True)
class Triage:
    """Why a message goes to a person: `matched` is the lexicon phrase found, or the
    nearest exemplar; `score` is 1.0 for a lexicon match, else that cosine similarity."""

    category: str
    matched: str
    score: float = 1.0


@dataclass(frozen=True)
class Rule:
    """A category fires on similarity >= `threshold` to its nearest exemplar, when that
    is at least `margin` above the similarity to the nearest everyday exemplar; or, with
    a `wide_margin` above it, on similarity >= `low_threshold` (a weak match that is still
    clearly nearer the category than anything everyday)."""

    threshold: float
    margin: float
    low_threshold: float = 1.0
    wide_margin: float = 1.0

    def fires(self, score: float, everyday: float) -> bool:
        return (score >= self.threshold and score - everyday >= self.margin) or (
            score >= self.low_threshold and score - everyday >= self.wide_margin)


# Tuned on evals/triage/dev.jsonl for recall: each is about the setting with the best
# recall at no more than two false alarms among the dev set's everyday messages and
# at most one among the gold set's answerable questions. Crisis accepts a message
# slightly nearer an everyday exemplar than a crisis one, and a weak crisis match
# (0.28) when nothing everyday is near it.
RULES = {
    "crisis": Rule(0.35, -0.025, low_threshold=0.28, wide_margin=0.08),
    "abuse_harassment": Rule(0.325, 0.025),
    "medical": Rule(0.35, -0.1),
    "legal": Rule(0.375, 0.0),
    "hr_confidential": Rule(0.35, 0.025),
}


def triage(message: str, categories: tuple[str, ...] = CATEGORIES) -> Triage | None:
    """The first category (of `categories`) whose lexicon matches `message`, or None."""
    for category in categories:
        for pattern in _COMPILED[category]:
            found = pattern.search(message)
            if found:
                return Triage(category, found.group(0))
    return None


def handoff_text(category: str, messages: dict[str, str] | None = None,
                 crisis_resources: str | None = None) -> str:
    """The reply for a handoff; `messages` and `crisis_resources` override the built-in text."""
    text = (messages or {}).get(category) or HANDOFF_TEXT[category]
    return f"{crisis_resources or CRISIS_RESOURCES}\n\n{text}" if category == "crisis" else text


def load_exemplars(path: Path = EXEMPLARS) -> list[tuple[str, str]]:
    """(text, label) pairs; label is a category or "none" (an everyday message)."""
    pairs = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                item = json.loads(line)
                if item.get("label") not in (*CATEGORIES, "none"):
                    raise ValueError(f"{path}:{number}: unknown label {item.get('label')!r}")
                pairs.append((item["text"], item["label"]))
    return pairs


@dataclass(frozen=True)
class _Exemplars:
    texts: list[str]
    labels: np.ndarray
    vectors: np.ndarray


_cache: dict[tuple[str, Path], _Exemplars] = {}
_cache_lock = threading.Lock()


def _embedded(embedder: Embedder, path: Path, cache_dir: Path | None = None) -> _Exemplars:
    """The exemplars with their vectors, embedded once per process and embedder.

    With `cache_dir`, the vectors are also kept on disk, keyed by the embedder and the
    exemplar file's bytes, so a restarted server does not encode them again.
    """
    key = (embedder.name, path)
    with _cache_lock:
        if key not in _cache:
            import numpy as np

            pairs = load_exemplars(path)
            texts = [text for text, _ in pairs]
            _cache[key] = _Exemplars(texts, np.asarray([label for _, label in pairs]),
                                     _vectors(embedder, path, texts, cache_dir))
        return _cache[key]


def _vectors(embedder: Embedder, path: Path, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    """The exemplar texts' vectors, read from `cache_dir` when they were stored there for
    the same embedder and file; stored there after encoding. Any cache failure only costs
    an encode."""
    import numpy as np

    shape = (len(texts), embedder.dimension)
    cached = None
    if cache_dir is not None:
        digest = hashlib.sha256(f"{embedder.name}\n{embedder.dimension}\n".encode() + path.read_bytes()).hexdigest()
        cached = cache_dir / f"triage-exemplars-{digest[:24]}.npy"
        try:
            vectors = np.load(cached, allow_pickle=False)
            if vectors.shape == shape and vectors.dtype == np.float32:
                return vectors
        except (OSError, ValueError):
            pass
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32).reshape(shape)
    if cached is not None:
        temp = None
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as f:
                temp = Path(f.name)
                np.save(f, vectors)
            os.replace(temp, cached)  # readers never see a partial file
        except OSError as e:
            log.debug("triage exemplar cache not written: %s", e)
            if temp is not None:
                temp.unlink(missing_ok=True)
    return vectors


class Triager:
    """Decides whether a message goes to a person instead of the answerer.

    Args:
        settings: `triage_categories` (enabled), `triage_messages`, `crisis_resources`.
        embedder: embeds the message for the exemplar comparison; with None only the
            lexicon runs (the baseline `mentorkb eval` reports).
        exemplars: the labeled exemplar file.
        cache_dir: where the exemplars' vectors are kept between runs; None: not kept.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 exemplars: Path = EXEMPLARS, cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.exemplars = exemplars
        self.cache_dir = cache_dir
        self.categories = tuple(c for c in CATEGORIES if c in settings.triage_categories)

    def warm_up(self) -> None:
        """Have the exemplars' vectors ready (from the cache or encoded) before a first message."""
        if self.embedder is not None:
            _embedded(self.embedder, self.exemplars, self.cache_dir)

    def classify(self, message: str, vector: Sequence[float] | None = None) -> Triage | None:
        """The category `message` should be handed off for, or None to answer it.

        Args:
            message: the user's message.
            vector: its embedding, if already computed (saves one encode).
        """
        lexical = triage(message, self.categories)
        if lexical and lexical.category == "crisis" or self.embedder is None:
            return lexical
        import numpy as np

        known = _embedded(self.embedder, self.exemplars, self.cache_dir)
        if vector is None:
            [vector] = self.embedder.embed([message])
        similarity = known.vectors @ np.asarray(vector, dtype=np.float32)
        everyday = float(similarity[known.labels == "none"].max())
        fired = []
        for category in self.categories:
            own = np.flatnonzero(known.labels == category)
            nearest = own[similarity[own].argmax()]
            score, rule = float(similarity[nearest]), RULES[category]
            if rule.fires(score, everyday):
                fired.append(Triage(category, f"~ {known.texts[nearest]}", round(score, 4)))
        best = max(fired, key=lambda t: t.score, default=None)
        if best and best.category == "crisis":
            return best  # nearest to a crisis: overrides a milder lexicon match
        return lexical or best

    def handoff_text(self, category: str) -> str:
        """The reply for a handoff, with the admin's overrides from settings."""
        return handoff_text(category, self.settings.triage_messages, self.settings.crisis_resources)
