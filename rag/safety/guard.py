"""Honest-assistant guards: requests about the assistant itself, and injected instructions.

Two checks, both plain rules so they are predictable and cheap:

- `meta_request(question)`: a mentee trying to extract the system prompt, switch off
  the rules ("ignore your rules", "developer mode"), or make the assistant claim to be
  human. These get a fixed, polite reply; triage still runs first, so a crisis
  wrapped in a jailbreak is still a crisis.
- `is_instruction(sentence)`: a sentence from a *source document* that gives orders
  to the reader or the model (email your password, click this link, "SYSTEM: ...").
  Retrieved text is data, never instructions: such sentences are dropped from every
  answer, extractive or generated.
"""

from __future__ import annotations

import re

# --- the mentee's message -------------------------------------------------------------

_JAILBREAK = [
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules|guidelines|prompt|"
    r"safety|guardrails|restrictions|triage|filters?)\b",
    r"\b(system|initial|hidden|original)\s+(prompt|instructions?|message)\b",
    r"\b(developer|dev|god|jailbreak|unrestricted|debug)\s+mode\b",
    r"\bjailbreak",
    r"\b(you\s+are|you're|act\s+as)\s+(now\s+)?(dan|an?\s+unfiltered|an?\s+unrestricted)\b",
    r"\bdo\s+anything\s+now\b",
    r"\b(disable|turn\s+off|switch\s+off|deactivate)\s+(your\s+|the\s+)?(safety|triage|filters?|rules|guardrails)\b",
    r"\b(print|show|reveal|repeat|dump|list)\b.{0,30}\b(every|all|full)\b.{0,20}\b(documents?|text|files)\b"
    r".{0,30}\b(hidden|private|access)\b",
    r"\bsafety\s+rules\b.{0,30}\b(disabled|off|removed)\b",
    r"\b(disabled|removed|turned\s+off|switched\s+off|lifted)\s+(the\s+|all\s+|your\s+)?"
    r"(safety|rules|triage|filters?|guardrails|restrictions)\b",
    r"(^|\s)(system|developer)\s*:\s",
    r"</?\s*(context|system|instructions?)\s*>",
    r"\bdisregard\s+(the\s+|your\s+)?(sources|documents|context)\b",
]
_HUMAN = [
    r"\bare\s+you\s+(a\s+|an\s+)?(real\s+)?(human|person|people|bot|robot|ai|machine|chatbot)\b",
    r"\b(am\s+i\s+(talking|speaking|chatting)\s+(to|with))\s+(a\s+)?(real\s+)?(human|person|bot|ai|machine)\b",
    r"\b(pretend|act|role-?play|roleplay)\b.{0,30}\b(human|person|real\s+mentor|my\s+mentor)\b",
    r"\b(say|tell\s+me|promise)\s+(that\s+)?you('re|\s+are)\s+(a\s+)?(human|real|person)\b",
]
_JAILBREAK_RE = [re.compile(p, re.I | re.S) for p in _JAILBREAK]
_HUMAN_RE = [re.compile(p, re.I | re.S) for p in _HUMAN]

JAILBREAK_REPLY = (
    "I can't change how I work, switch off my safety checks or share my instructions, "
    "and the mentors' documents are only shared through cited answers. I'm glad to help "
    "with a mentoring question, or to put you in touch with a human mentor."
)
NOT_HUMAN_REPLY = (
    "I'm MentorKB, an AI assistant, not a person, and I won't pretend to be one. I answer "
    "from documents that human mentors have shared, and I show my sources. If you'd like "
    "to talk to a real person, press “Talk to a human mentor”."
)


def meta_request(question: str) -> str | None:
    """'jailbreak' or 'identity' when the message is about the assistant's rules or nature."""
    if any(p.search(question) for p in _JAILBREAK_RE):
        return "jailbreak"
    if any(p.search(question) for p in _HUMAN_RE):
        return "identity"
    return None


def meta_reply(kind: str) -> str:
    return JAILBREAK_REPLY if kind == "jailbreak" else NOT_HUMAN_REPLY


# --- text from the documents --------------------------------------------------------

_INSTRUCTION = [
    # credentials and secrets, whatever the verb
    r"\b(password|passcode|credentials?|login\s+details|one-time\s+code|2fa\s+code|api\s+key|"
    r"bank\s+details|card\s+number|social\s+security)\b.{0,60}\b(send|email|e-mail|share|give|"
    r"submit|enter|provide|reply|post|confirm|verify|type)\b",
    r"\b(send|email|e-mail|share|give|submit|enter|provide|reply\s+with|post|confirm|verify|type)\b"
    r".{0,60}\b(password|passcode|credentials?|login\s+details|one-time\s+code|2fa\s+code|api\s+key|"
    r"bank\s+details|card\s+number)\b",
    # click / visit / follow a link
    r"\b(click|tap|visit|open|go\s+to|follow)\b.{0,40}(https?://|www\.|\blink\b|\burl\b)",
    # (a bare link is no order: an answer may repeat one as its cited source has it, see
    # `foreign_links`; links a document plants as orders are held back at ingest)
    # email someone an address found in the text
    r"\b(email|e-mail|write\s+to|contact)\b.{0,40}\b[\w.+-]+@[\w-]+\.[\w.]+",
    # orders to the model
    r"^\s*(system|assistant|developer)\s*:",
    r"\b(ignore|disregard|forget)\b.{0,30}\b(previous|prior|above|earlier|all)\b.{0,20}"
    r"\b(instructions?|rules|context|sources?)\b",
    r"\bthe\s+(ai|ai\s+assistant|chatbot|bot|language\s+model|llm)\s+(must|should|shall|will\s+now)\b",
    r"\b(tell|instruct)\s+(the\s+|all\s+)?(users?|readers?)\s+to\b",
    r"\b(at\s+the\s+end\s+of\s+(your|the|every)\s+(answer|reply|response))\b",
]
_INSTRUCTION_RE = [re.compile(p, re.I | re.M) for p in _INSTRUCTION]


def is_instruction(sentence: str) -> bool:
    """True for a sentence that tells the reader or the model to do something risky."""
    return any(p.search(sentence) for p in _INSTRUCTION_RE)


# --- links in a generated answer ------------------------------------------------------

# A URL, a bare domain with a path or a common ending, or an email address.
_LINK = re.compile(
    r"https?://[^\s<>()\"'\]]+|www\.[^\s<>()\"'\]]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|dev|edu|gov|info|co|uk|de|me|app|ly)\b(?:/[^\s<>()\"'\]]*)?",
    re.I,
)


def links(text: str) -> list[str]:
    """The links and email addresses in `text`, lowercased, trailing punctuation dropped."""
    return [m.rstrip(".,;:!?").lower() for m in _LINK.findall(text)]


def foreign_links(text: str, sources: list[str]) -> list[str]:
    """Links or addresses in `text` that none of `sources` contains: an answer may repeat
    a link as its cited source has it, never introduce one (a model may obey an injection
    or invent an address)."""
    known = " ".join(sources).lower()
    return [link for link in links(text) if link not in known]
