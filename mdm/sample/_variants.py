"""Value variants that make one customer look different in each system.

Every function here takes its randomness from the caller's ``random.Random``, so that a seed
reproduces the same variants.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

_GERMAN_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)
_UNDECOMPOSABLE = str.maketrans(
    {
        "ß": "ss",
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "đ": "d",
        "Đ": "D",
    }
)

# Word abbreviations seen in legacy systems with short name and street columns.
_ABBREVIATIONS: dict[str, str] = {
    "International": "Intl",
    "Technologies": "Tech",
    "Technology": "Tech",
    "Company": "Co",
    "Manufacturing": "Mfg",
    "Services": "Svcs",
    "Engineering": "Eng",
    "Systems": "Sys",
    "Brothers": "Bros",
    "Associates": "Assoc",
    "Industries": "Inds",
    "Management": "Mgmt",
    "Distribution": "Dist",
    "Street": "St",
    "Avenue": "Ave",
    "Road": "Rd",
    "Drive": "Dr",
    "Lane": "Ln",
    "Boulevard": "Blvd",
    "Court": "Ct",
    "Square": "Sq",
    "straße": "str.",
    "strasse": "str.",
    "Straße": "Str.",
    "avenue": "av.",
    "boulevard": "bd",
    "Calle": "C/",
    "Via": "V.",
    "gatan": "g.",
    "vägen": "v.",
}
_ABBREVIATION_PATTERN = re.compile(
    "|".join(sorted((re.escape(word) for word in _ABBREVIATIONS), key=len, reverse=True))
)

# Neighbouring keys on a QWERTY keyboard, for plausible substitutions and insertions.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _row_index, _row in enumerate(_KEYBOARD_ROWS):
    for _column, _key in enumerate(_row):
        _near = [_row[i] for i in (_column - 1, _column + 1) if 0 <= i < len(_row)]
        for _other_row in (_row_index - 1, _row_index + 1):
            if 0 <= _other_row < len(_KEYBOARD_ROWS):
                _near.extend(_KEYBOARD_ROWS[_other_row][_column : _column + 2])
        _NEIGHBOURS[_key] = "".join(_near)

TYPO_OPERATIONS = ("substitution", "deletion", "transposition", "insertion")


@dataclass(frozen=True, slots=True)
class LegalSuffix:
    """A legal form and the ways systems spell it; the first spelling is the usual one."""

    forms: tuple[str, ...]

    @property
    def canonical(self) -> str:
        """The usual spelling, as a careful system would store it."""
        return self.forms[0]


def strip_diacritics(value: str) -> str:
    """Drop accents and map letters without a decomposition, as ASCII-only systems do."""
    if value.isascii():
        return value
    decomposed = unicodedata.normalize("NFKD", value.translate(_UNDECOMPOSABLE))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def transliterate(value: str) -> str:
    """Spell umlauts out (Müller becomes Mueller), then strip any other accent."""
    if value.isascii():
        return value
    return strip_diacritics(value.translate(_GERMAN_TRANSLITERATION))


def abbreviate(value: str) -> str:
    """Shorten the well-known long words of a company name or a street."""
    return _ABBREVIATION_PATTERN.sub(lambda match: _ABBREVIATIONS[match.group(0)], value)


def ascii_slug(value: str) -> str:
    """A lower-case ASCII token for domains and e-mail local parts."""
    return re.sub(r"[^a-z0-9]+", "", transliterate(value).lower())


def typo_eligible(value: str) -> bool:
    """Whether a value is long enough to carry a typo worth counting."""
    return sum(char.isalpha() for char in value) >= 3


def add_typo(value: str, rng: random.Random) -> str:
    """Return the value with one keyboard typo: a substitution, deletion, transposition or insertion.

    Only letters are touched, so e-mail and street punctuation keeps its shape, and the result
    always differs from the input.
    """
    letters = [index for index, char in enumerate(value) if char.isalpha()]
    operation = rng.choice(TYPO_OPERATIONS)

    if operation == "transposition":
        pairs = [
            i for i in letters if i + 1 < len(value) and value[i + 1].isalpha() and value[i] != value[i + 1]
        ]
        if pairs:
            i = rng.choice(pairs)
            return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
        operation = "substitution"

    i = rng.choice(letters)
    if operation == "deletion":
        return value[:i] + value[i + 1 :]

    char = value[i]
    near = _NEIGHBOURS.get(char.lower(), "aeiou")
    replacement = rng.choice([key for key in near if key != char.lower()] or ["x"])
    if char.isupper():
        replacement = replacement.upper()
    if operation == "insertion":
        return value[: i + 1] + replacement + value[i + 1 :]
    return value[:i] + replacement + value[i + 1 :]
