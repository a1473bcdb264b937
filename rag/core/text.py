"""Small text utilities shared by retrieval, answering, triage and reports."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Sentence ends: . ! or ? before a capital, a digit or any non-ASCII letter (a fullwidth
# "ＳＹＳＴＥＭ:" or a Cyrillic capital starts a sentence too), or a line break (list
# items and headings end a sentence too).
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?(?:[A-Z0-9]|[^\x00-\x7f]))|\n+")
# A line break before a lowercase letter only wraps a sentence (PDF text is wrapped
# line by line): it is a space, not a sentence end.
_SOFT_WRAP = re.compile(r"[ \t]*\n[ \t]*(?=[a-z])")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves i'm i've i'd it's don't can't what's how's get got
    really also just like want wanna gonna anyone someone something thing things way ok
    hi hey please thanks thank""".split()
)


# Function words only, for the lexical index's queries: BM25's IDF already discounts
# frequent words, and content words such as "want", "not" or "really" can carry the
# question ("what they don't want"), so STOPWORDS above is too eager for BM25.
FUNCTION_WORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been
    being am do does did i me my we our you your he she it its they them their this that
    these those what which who whom how when where why there here so than then too very
    can could would should will shall may might must just""".split()
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'meetings' with 'meeting', 'giving' with 'give'.

    It only cuts, so the stem is always a prefix of the word: the ranker and the
    answerability check look for stems at the start of words in raw text, without
    tokenising every candidate. A Snowball stemmer rewrites as well as cuts
    ('company' -> 'compani', 'happily' -> 'happili'), so its stems need the text stemmed
    too; that is what the BM25 index does, with Tantivy's Snowball analyzer on both
    the chunks and the query. The two serve different lookups and are not interchangeable.
    """
    for suffix in ("ingly", "edly", "ings", "ing", "ies", "ied", "ness", "ment", "ers", "ed", "es", "er", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Stemmed content words of `text`, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def sentences(text: str) -> list[str]:
    """Split text into sentences and list items, stripped of list markers."""
    out = []
    for piece in _SENTENCE_END.split(_SOFT_WRAP.sub(" ", text)):
        piece = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", piece).strip()
        if piece:
            out.append(piece)
    return out


def truncate_words(text: str, limit: int) -> str:
    parts = text.split()
    return text if len(parts) <= limit else " ".join(parts[:limit]) + " …"


def counted(n: int, word: str, plural: str = "") -> str:
    """`n` and the word in the number it takes: '1 chunk', '2 chunks', '0 chunks'."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def day(value) -> str:
    """A date or timestamp as 'YYYY-MM-DD', or '-'."""
    return value.strftime("%Y-%m-%d") if value else "-"
