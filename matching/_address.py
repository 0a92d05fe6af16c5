"""Places: countries to ISO 3166-1 alpha-2, regions, cities, street lines and postal codes."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Final

import pycountry

from matching._text import CACHE_SIZE, clean_text, collapse_acronyms, match_key

# Names that pycountry does not carry: everyday English short forms and the countries' own names
# for the markets the hub serves first. Keys are match keys.
_COUNTRY_ALIASES: Final[dict[str, str]] = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "us": "US",
    "america": "US",
    "united states of america": "US",
    "deutschland": "DE",
    "bundesrepublik deutschland": "DE",
    "brd": "DE",
    "osterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "holland": "NL",
    "nederland": "NL",
    "the netherlands": "NL",
    "belgie": "BE",
    "belgique": "BE",
    "espana": "ES",
    "italia": "IT",
    "polska": "PL",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "eire": "IE",
    "hellas": "GR",
    "ellada": "GR",
    "russia": "RU",
    "turkey": "TR",
    "macedonia": "MK",
    "korea": "KR",
    "uae": "AE",
    "brasil": "BR",
    "prc": "CN",
}

# Street-type words and their abbreviations fold to one token. "str" is German or Dutch and is
# glued to the word before it, so "Haupt Str." agrees with "Hauptstraße".
_STREET_FORMS: Final[dict[str, tuple[str, ...]]] = {
    "st": ("street", "st", "saint"),
    "ave": ("avenue", "ave", "av", "avenida", "avda"),
    "rd": ("road", "rd"),
    "blvd": ("boulevard", "blvd", "bd", "bld", "bvd"),
    "dr": ("drive", "dr"),
    "ln": ("lane", "ln"),
    "ct": ("court", "ct"),
    "pl": ("place", "pl", "plaza", "platz"),
    "sq": ("square", "sq"),
    "ter": ("terrace", "ter", "terr"),
    "hwy": ("highway", "hwy"),
    "pkwy": ("parkway", "pkwy"),
    "cres": ("crescent", "cres"),
    "ste": ("suite", "ste"),
    "apt": ("apartment", "apt"),
    "fl": ("floor", "fl"),
    "bldg": ("building", "bldg"),
    "n": ("north", "n"),
    "s": ("south", "s"),
    "e": ("east", "e"),
    "w": ("west", "w"),
    "c": ("calle", "c"),
    "v": ("via", "v"),
    "str": ("strasse", "str", "straat"),
}
_STREET_FOLD: Final[dict[str, str]] = {
    spelling: canonical for canonical, spellings in _STREET_FORMS.items() for spelling in spellings
}
# Endings of compound street names and their abbreviations: "Storgatan" -> "storg".
_STREET_ENDINGS: Final[tuple[tuple[str, str], ...]] = (
    ("strasse", "str"),
    ("straat", "str"),
    ("gatan", "g"),
    ("vagen", "v"),
)

_CITY_FOLD: Final[dict[str, str]] = {
    "saint": "st",
    "sankt": "st",
    "sainte": "ste",
    "fort": "ft",
    "mount": "mt",
}

# Digits of all-numeric postal codes, for the countries where spreadsheets drop a leading zero.
_POSTAL_DIGITS: Final[dict[str, int]] = {"US": 5, "DE": 5, "FR": 5, "IT": 5, "ES": 5, "FI": 5, "MX": 5}
# Old vehicle-plate prefixes written before postal codes ("D-80331", "F-75001").
_POSTAL_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "DE": ("D",),
    "FR": ("F",),
    "AT": ("A",),
    "IT": ("I",),
    "BE": ("B",),
    "LU": ("L",),
    "SE": ("S",),
    "NO": ("N",),
    "ES": ("E",),
    "PT": ("P",),
    "FI": ("FIN", "SF"),
}
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


@cache
def _country_index() -> dict[str, str]:
    """Match keys of every country's codes and names, then the aliases, to its alpha-2 code."""
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            key = match_key(getattr(country, attribute, None))
            if key is not None:
                index.setdefault(key, country.alpha_2)

    index.update(_COUNTRY_ALIASES)
    return index


@lru_cache(maxsize=CACHE_SIZE)
def standardise_country(text: str | None) -> str | None:
    """A country as its ISO 3166-1 alpha-2 code.

    Accepts alpha-2 and alpha-3 codes, English short and official names, dotted forms ("U.S.A.")
    and a small alias table ("UK", "Deutschland"), in any case and with or without accents.

    Returns:
        The upper-case alpha-2 code, or None when the country is missing or unknown.
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    key = match_key(collapse_acronyms(unicodedata.normalize("NFKC", cleaned)))
    if key is None:
        return None
    return _country_index().get(key)


@cache
def _region_index() -> dict[tuple[str, str], str]:
    """(country, match key of a subdivision's name or local code) to the lower-case local code."""
    index: dict[tuple[str, str], str] = {}
    for subdivision in pycountry.subdivisions:
        local_code = subdivision.code.partition("-")[2].lower()
        index[subdivision.country_code, local_code] = local_code
        name_key = match_key(subdivision.name)
        if name_key is not None:
            index.setdefault((subdivision.country_code, name_key), local_code)
    return index


@lru_cache(maxsize=CACHE_SIZE)
def standardise_region(text: str | None, country: str | None) -> str | None:
    """A region as its ISO 3166-2 local code when the country knows it ("California" -> "ca").

    Otherwise the region's match key: an unknown subdivision, or no country to look it up in.
    """
    key = match_key(text)
    if key is None or country is None:
        return key

    # Limitation: pycountry names subdivisions in their own language ("Bayern"), so English
    # exonyms ("Bavaria") stay plain match keys.
    return _region_index().get((country, key), key)


@lru_cache(maxsize=CACHE_SIZE)
def standardise_city(text: str | None) -> str | None:
    """A city's match key, with "Saint"/"St" and similar words folded ("Sankt Gallen" -> "st gallen")."""
    key = match_key(text)
    if key is None:
        return None
    return " ".join(_CITY_FOLD.get(token, token) for token in key.split())


def _fold_street_token(token: str) -> str:
    """Fold one street token: a known word, or a compound ending such as "...strasse"."""
    folded = _STREET_FOLD.get(token)
    if folded is not None:
        return folded

    for ending, short in _STREET_ENDINGS:
        if token.endswith(ending) and len(token) > len(ending):
            return token[: -len(ending)] + short
    return token


@lru_cache(maxsize=CACHE_SIZE)
def standardise_street(text: str | None) -> str | None:
    """The match key of a street line with street types folded: "Main Street" and "Main St." agree.

    Examples:
        >>> standardise_street("Hauptstraße 5")
        'hauptstr 5'
        >>> standardise_street("Haupt-Str. 5")
        'hauptstr 5'
    """
    key = match_key(text)
    if key is None:
        return None

    tokens: list[str] = []
    for token in key.split():
        folded = _fold_street_token(token)
        if folded == "str" and tokens and tokens[-1].isalpha():
            tokens[-1] += folded
        else:
            tokens.append(folded)
    return " ".join(tokens)


@lru_cache(maxsize=CACHE_SIZE)
def standardise_postal_code(text: str | None, country: str | None) -> str | None:
    """A postal code in upper case without spaces, dashes or other punctuation.

    Country rules: an old plate prefix of the record's country is removed ("D-80331"), a leading
    zero that a spreadsheet dropped is restored where codes have a fixed number of digits
    ("2134" in the US is "02134"), and a US ZIP+4 is cut to its five-digit ZIP.
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    code = unicodedata.normalize("NFKC", cleaned).strip().upper()
    if re.fullmatch(r"\d+\.0", code):
        code = code[:-2]

    for prefix in (country or "", *_POSTAL_PREFIXES.get(country or "", ())):
        if prefix and re.match(rf"{prefix}[- ]\d", code):
            code = code[len(prefix) + 1 :]
            break

    code = _NOT_ALPHANUMERIC.sub("", code)
    if not code:
        return None

    digits = _POSTAL_DIGITS.get(country or "")
    if digits is not None and code.isdigit():
        if country == "US" and len(code) == 9:
            code = code[:5]
        if digits - 2 <= len(code) < digits:
            code = code.zfill(digits)
    return code


def clear_caches() -> None:
    """Empty this module's caches."""
    for function in (
        standardise_country,
        standardise_region,
        standardise_city,
        standardise_street,
        standardise_postal_code,
    ):
        function.cache_clear()
