"""Text primitives shared by the standardisers: missing values, acronyms and match keys."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

CACHE_SIZE = 2**18

# Values that systems write when they have nothing to say. Compared after casefolding and after
# trimming surrounding punctuation, so "#N/A", "(none)" and "<NULL>" are caught too. "na" is left
# out on purpose: it is Namibia's country code.
_PLACEHOLDERS = frozenset(
    {
        "n/a",
        "n.a",
        "n/k",
        "n.k",
        "nan",
        "nil",
        "none",
        "null",
        "nul",
        "unknown",
        "unk",
        "undefined",
        "unspecified",
        "not available",
        "not applicable",
        "not known",
        "not provided",
        "not specified",
        "no data",
        "missing",
        "empty",
        "blank",
        "tbd",
        "tba",
    }
)
_PLACEHOLDER_TRIM = " \t.-_()[]{}<>#*\"'"

# Letters that carry no combining mark to strip, so NFKD leaves them alone. Apostrophes are
# dropped rather than spaced so that "O'Brien" and "OBrien" agree.
_LETTERS = str.maketrans(
    {
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ħ": "h",
        "ı": "i",
        "ŧ": "t",
        "ŋ": "n",
        "ĸ": "k",
        "·": "",
        "'": "",
        "’": "",
        "‘": "",
        "ʼ": "",
        "`": "",
    }
)
_NON_WORD = re.compile(r"[\W_]+")

# Single letters joined by dots or slashes: "G.m.b.H.", "S.A", "A/S", "U.K.".
_ACRONYM = re.compile(r"(?<!\w)[^\W\d_](?:[./][^\W\d_])+(?!\w)\.?")
_ACRONYM_SEPARATORS = re.compile(r"[./]")


def clean_text(value: str | None) -> str | None:
    """Trim a raw value and return None when it carries no information.

    Args:
        value: A raw field value.

    Returns:
        The trimmed value, or None when it is missing, blank, only punctuation or a placeholder
        such as "n/a", "null" or "unknown".
    """
    if value is None:
        return None

    text = value.strip()
    if not any(character.isalnum() for character in text):
        return None

    if text.casefold().strip(_PLACEHOLDER_TRIM) in _PLACEHOLDERS:
        return None
    return text


def collapse_acronyms(text: str) -> str:
    """Join dotted or slashed single letters into one word: "G.m.b.H." -> "GmbH", "A/S" -> "AS"."""
    return _ACRONYM.sub(lambda found: _ACRONYM_SEPARATORS.sub("", found.group(0)), text)


@lru_cache(maxsize=CACHE_SIZE)
def match_key(text: str | None) -> str | None:
    """Fold a text into the form that record linkage compares.

    Unicode NFKC, casefold, letters without a decomposition spelt out ("æ" -> "ae", "ø" -> "o"),
    combining marks removed, apostrophes dropped, every other non-alphanumeric character turned
    into a space, whitespace collapsed.

    Args:
        text: Any text, or None.

    Returns:
        The match key, or None when the text is missing, blank or a placeholder.

    Examples:
        >>> match_key("  Muñoz-GARCÍA ")
        'munoz garcia'
        >>> match_key("Straße")
        'strasse'
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    folded = unicodedata.normalize("NFKC", cleaned).casefold().translate(_LETTERS)
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", folded)
        stripped = "".join(character for character in decomposed if not unicodedata.combining(character))
        folded = unicodedata.normalize("NFC", stripped)

    return " ".join(_NON_WORD.sub(" ", folded).split()) or None
