"""Undo the disguises of an injected sentence before it is classified.

An instruction hidden in a document is usually dressed up to slip past fixed phrases:
fullwidth letters ("ＳＹＳＴＥＭ"), Cyrillic or Greek look-alikes ("Ѕуѕtеm"), zero-width
characters between letters, letters spaced out ("s e n d"), words joined by dots
("ignore.previous.instructions"), leetspeak ("1gn0r3") or a payload in base64, hex,
ROT13 or written backwards. `normalise` folds the first six to plain ASCII words;
`views` adds the decoded payloads, so the classifier sees what a model would read.

Only detection reads these forms: what is stored and shown stays the author's text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from functools import cache

# Words joined by dots or underscores, four or more: "ignore.previous.instructions.and".
_JOINED = re.compile(r"\b[a-z]{2,}(?:[._][a-z]{2,}){3,}\b", re.I)
_LEET = str.maketrans("01345789@$", "oieastbgas")
_LEET_WORD = re.compile(r"\b(?=\w*[a-z])(?=\w*[013457])\w+\b|\b[013457]+[a-z]*\b", re.I)
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-f]{2}){8,}\b", re.I)
_ROT13_HINT = re.compile(r"\brot-?13\b|\bcaesar\b", re.I)
_REVERSED_HINT = re.compile(r"\b(backwards?|reversed?|right to left)\b", re.I)


@cache
def _fold_table() -> dict[str, str]:
    """Non-ASCII characters that look like one ASCII letter, from Unicode's confusables."""
    from confusable_homoglyphs import confusables

    table = {}
    for char, glyphs in confusables.confusables_data.items():
        if len(char) == 1 and not char.isascii():
            for glyph in glyphs:
                if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalpha():
                    table[char] = glyph["c"]
                    break
    return table


def _fold_word(match: re.Match) -> str:
    """A word whose every non-ASCII letter has an ASCII look-alike, in ASCII; else as is."""
    word, table = match.group(0), _fold_table()
    if word.isascii() or any(not c.isascii() and c not in table for c in word):
        return word
    return "".join(table.get(c, c) for c in word)


def normalise(text: str) -> str:
    """`text` as plain ASCII-ish words: compatibility forms, look-alikes, hidden characters,
    spacing and leetspeak undone; whitespace single."""
    text = unicodedata.normalize("NFKC", text)
    # Format characters (zero-width space and joiners, soft hyphen, direction marks).
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = re.sub(r"\w+", _fold_word, text)
    tokens = text.split()
    if len(tokens) >= 6 and sum(len(t) == 1 for t in tokens) >= 0.6 * len(tokens):
        # Letters spaced out one by one, words apart by wider gaps: "s e n d   y o u r".
        text = " ".join(word.replace(" ", "") for word in re.split(r"\s{2,}", text))
    text = _JOINED.sub(lambda m: re.sub(r"[._]", " ", m.group(0)), text)
    leet = _LEET_WORD.findall(text)
    if len(leet) >= 3 and sum(any(c.isalpha() for c in w) for w in leet) >= 2:
        text = _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text)
    return " ".join(text.split())


def _printable(raw: bytes) -> str | None:
    """`raw` as text when it reads as words (printable ASCII with spaces), else None."""
    try:
        decoded = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if decoded.isprintable() and " " in decoded and sum(c.isalpha() for c in decoded) >= 0.6 * len(decoded):
        return decoded
    return None


def decoded_payloads(text: str) -> list[str]:
    """Readable text hidden in `text`: base64 or hex blobs, and the whole sentence in
    ROT13 or reversed when it says so."""
    found = []
    for blob in _BASE64.findall(text):
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(raw)) is not None:
            found.append(decoded)
    for blob in _HEX.findall(text):
        if (decoded := _printable(bytes.fromhex(blob))) is not None:
            found.append(decoded)
    if _ROT13_HINT.search(text):
        found.append(codecs.encode(text, "rot13"))
    if _REVERSED_HINT.search(text):
        found.append(text[::-1])
    return found


def views(text: str) -> list[str]:
    """What to classify for one sentence: its normalised form, then each decoded payload."""
    first = normalise(text)
    return [first] + [normalise(p) for p in decoded_payloads(first)]
