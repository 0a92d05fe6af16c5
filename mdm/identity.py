"""Canonical ids: ``C``, twelve random Crockford base-32 characters and one check character.

The twelve characters carry a 60-bit random value. The check character is that value modulo 37,
as in Crockford's scheme, so every single-character substitution and every swap of two adjacent
characters is caught: 37 is a prime that divides neither a digit difference (at most 31) nor the
weight ratio of neighbours minus one (31).

Crockford writes the check values 32 to 36 as ``* ~ $ = U``. Three of those are reserved or awkward
in URLs, query strings and e-mail, so this hub writes them with the characters that RFC 3986 leaves
unreserved, ``- . _ ~``, followed by ``U``: an id never needs percent-encoding. Because ``-`` is a
check symbol here, hyphens are not skipped as separators when reading.
"""

from __future__ import annotations

import random
import secrets
from typing import Final

from mdm.errors import InvalidCanonicalIdError

PREFIX: Final = "C"
BODY_LENGTH: Final = 12
LENGTH: Final = len(PREFIX) + BODY_LENGTH + 1

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS: Final = ALPHABET + "-._~U"
CHECK_MODULUS: Final = len(CHECK_SYMBOLS)

# Reading is case-insensitive, and Crockford's look-alikes stand for the digits they resemble.
_ALIASES: Final = {"I": "1", "L": "1", "O": "0"}
_BODY_VALUES: Final = {symbol: value for value, symbol in enumerate(ALPHABET)}
_CHECK_VALUES: Final = {symbol: value for value, symbol in enumerate(CHECK_SYMBOLS)}

_system_random = secrets.SystemRandom()


def check_symbol(body: str) -> str:
    """The check character for twelve upper-case Crockford characters."""
    value = 0
    for symbol in body:
        value = value * 32 + _BODY_VALUES[symbol]
    return CHECK_SYMBOLS[value % CHECK_MODULUS]


def new_canonical_id(rng: random.Random | None = None) -> str:
    """A fresh canonical id from 60 random bits.

    Args:
        rng: the source of randomness; the operating system's (``secrets``) unless a test passes
            a seeded generator.

    Returns:
        The id in its canonical, upper-case form, e.g. ``CWJR6SR3M3HX8-``.
    """
    bits = (rng or _system_random).getrandbits(5 * BODY_LENGTH)

    symbols = []
    for _ in range(BODY_LENGTH):
        symbols.append(ALPHABET[bits & 31])
        bits >>= 5
    body = "".join(reversed(symbols))

    return PREFIX + body + check_symbol(body)


def parse_canonical_id(text: str, *, field: str = "canonical_id") -> str:
    """Read a canonical id as a person or a client may write it, and return its canonical form.

    Case is ignored, surrounding white space is dropped, and ``I``, ``L`` and ``O`` are read as
    ``1``, ``1`` and ``0``.

    Args:
        text: the id as written.
        field: the field or parameter it came from, named in the error.

    Returns:
        The id upper-cased, with aliases replaced.

    Raises:
        InvalidCanonicalIdError: the length, the prefix, a character or the check character is wrong.
    """
    normalised = "".join(_ALIASES.get(symbol, symbol) for symbol in text.strip().upper())
    if len(normalised) != LENGTH:
        raise InvalidCanonicalIdError(
            f"a canonical id has {LENGTH} characters, this one {len(normalised)}", field=field
        )

    if not normalised.startswith(PREFIX):
        raise InvalidCanonicalIdError(f"a canonical id starts with {PREFIX!r}", field=field)

    body, check = normalised[len(PREFIX) : -1], normalised[-1]
    for offset, symbol in enumerate(body, start=len(PREFIX) + 1):
        if symbol not in _BODY_VALUES:
            raise InvalidCanonicalIdError(
                f"character {offset} of the canonical id is not a Crockford base-32 symbol", field=field
            )
    if check not in _CHECK_VALUES:
        raise InvalidCanonicalIdError(
            "the last character of the canonical id is not a check symbol", field=field
        )

    if check_symbol(body) != check:
        raise InvalidCanonicalIdError("the canonical id's check character does not match", field=field)
    return normalised


def is_canonical_id(text: str) -> bool:
    """Whether ``text`` reads as a valid canonical id (see ``parse_canonical_id``)."""
    try:
        parse_canonical_id(text)
    except InvalidCanonicalIdError:
        return False
    return True
