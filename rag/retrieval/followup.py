"""Rule-based follow-up resolution for the extractive answerer.

"and how often should we meet?" means little alone; joined to the question before
it, it retrieves well. Generative backends let the LLM rewrite instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.core.text import STOPWORDS, words

Turn = tuple[str, str]  # (role, text), role "user" or "assistant"

_OPENERS = re.compile(
    r"^(and|also|plus|but|so|or|then|ok(ay)?|what about|how about|what if|and if|same for|why)\b", re.I
)
_ANAPHORA = re.compile(r"\b(it|that|this|they|them|those|these|there|he|she|him|her)\b", re.I)


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 2]


def is_follow_up(question: str) -> bool:
    """Starts like a continuation, or leans on a pronoun with little content of its own."""
    n = len(content_words(question))
    return bool(_OPENERS.match(question.strip())) or n <= 1 or (n <= 4 and bool(_ANAPHORA.search(question)))


def standalone(question: str, history: Sequence[Turn]) -> str:
    """The question made standalone by prefixing the previous user question when needed."""
    previous = next((text for role, text in reversed(history) if role == "user"), "")
    if not previous or not is_follow_up(question):
        return question
    return f"{previous} {question}"
