"""Safety triage: messages that need a person never reach the answerer.

This first version is a lexicon of strong phrases per category, tuned to err toward
escalation while leaving everyday figures of speech ("this deadline is killing me",
"kill a hung process") alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
CATEGORIES = tuple(_PATTERNS)

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
    category: str
    matched: str


def triage(message: str) -> Triage | None:
    """The first sensitive category `message` falls into, or None."""
    for category in CATEGORIES:
        for pattern in _COMPILED[category]:
            found = pattern.search(message)
            if found:
                return Triage(category, found.group(0))
    return None


def handoff_text(category: str) -> str:
    text = HANDOFF_TEXT[category]
    return f"{CRISIS_RESOURCES}\n\n{text}" if category == "crisis" else text
