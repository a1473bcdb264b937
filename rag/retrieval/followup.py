"""Follow-up resolution for the extractive answerer, without a language model.

"and for reviewers?" or "what if they don't reply?" means little alone. A follow-up
is searched together with the conversation's earlier user questions (up to
`CONTEXT_QUESTIONS` of them: a follow-up may lean on the first of several turns, not
only the last). A complete new question is searched alone, so unrelated history is
not merged in. Generative backends let the LLM rewrite instead
(rag.answering.generative).

The gate and the joining were chosen on the dev split of ../shared/followups; the
alternatives tried and their figures are in docs/evaluation.md, "Follow-up questions".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.core.text import STOPWORDS, words

Turn = tuple[str, str]  # (role, text), role "user" or "assistant"

# The earlier user questions a follow-up is searched with, most recent last.
CONTEXT_QUESTIONS = 3

_OPENERS = re.compile(
    r"^(and|also|plus|but|so|or|then|ok(ay)?|what about|how about|what if|and if|same for)\b", re.I
)
# Words that point back at something said before ("those", "the same", "one of them").
_REFERS_BACK = re.compile(
    r"\b(it|its|that|this|they|them|their|those|these|there|he|she|him|her|one|ones|the same|such)\b", re.I
)
# A question with this many content words or fewer is a fragment ("how many speakers?").
_FRAGMENT_WORDS = 2
# A word pointing back makes a follow-up only in a short question: a longer one names
# its own subject ("How should a reviewer respond when they disagree with the author?"),
# and joining it to unrelated history loses its document.
_POINTING_WORDS = 5


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 2]


def is_follow_up(question: str) -> bool:
    """Starts like a continuation, is a fragment, or is short and points back at something.

    A complete question that names its own subject ("How often does The Turing Way
    release a new version?") is not a follow-up, whatever came before it.
    """
    n = len(content_words(question))
    return (bool(_OPENERS.match(question.strip())) or n <= _FRAGMENT_WORDS
            or (n <= _POINTING_WORDS and bool(_REFERS_BACK.search(question))))


def resolve(question: str, history: Sequence[Turn]) -> str:
    """The text to search for `question` in this conversation: a follow-up after
    the earlier user questions (the last `CONTEXT_QUESTIONS`), anything else as typed."""
    earlier = [text.strip() for role, text in history if role == "user" and text.strip()]
    if not earlier or not is_follow_up(question):
        return question
    return " ".join([*earlier[-CONTEXT_QUESTIONS:], question])
