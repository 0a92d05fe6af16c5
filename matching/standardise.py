"""Standardisation: canonical fields in, the standardised fields that record linkage compares out.

One implementation serves bulk matching (``standardise_frame``) and real-time matching
(``standardise_record``). Every field function is cached, and the frame path runs each one on the
distinct values (or value pairs) of its columns only, so repeated values cost one dictionary hit.
Missing stays missing: an empty or placeholder value becomes None, never "".
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching import _address, _contact, _legal
from matching._address import (
    standardise_city,
    standardise_country,
    standardise_postal_code,
    standardise_region,
    standardise_street,
)
from matching._contact import (
    email_domain,
    organisation_domain,
    standardise_email,
    standardise_phone,
    standardise_website,
)
from matching._legal import legal_suffix, organisation_name
from matching._text import CACHE_SIZE, clean_text, match_key
from matching.fields import KEY_COLUMNS, STANDARDISED_FIELDS, Kind

ObjectArray = npt.NDArray[np.object_]

_KINDS: Final[dict[str, Kind]] = {
    "organisation": "organisation",
    "organization": "organisation",
    "person": "person",
}

# Words around a person's name that are not part of it, and the particles that belong to the
# family name when a full name is split ("Ludwig van Beethoven" -> "van beethoven").
_TITLES: Final[frozenset[str]] = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "herr", "frau", "mme", "mlle", "dott"}
)
_POST_NOMINALS: Final[frozenset[str]] = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})
_FAMILY_PARTICLES: Final[frozenset[str]] = frozenset(
    {
        "van",
        "von",
        "de",
        "der",
        "den",
        "del",
        "della",
        "di",
        "da",
        "du",
        "dos",
        "das",
        "le",
        "la",
        "ter",
        "zu",
    }
)

# VAT number prefixes that differ from the ISO country code, or come in addition to it.
_VAT_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "AT": ("ATU", "AT"),
    "GR": ("EL", "GR"),
    "GB": ("GB", "XI"),
    "CH": ("CHE", "CH"),
}
_VAT_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {"CH": ("MWST", "TVA", "IVA")}
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def standardise_kind(text: str | None) -> Kind:
    """The record's kind, "organisation" or "person".

    Raises:
        ValueError: When the kind is missing or not one of the two.
    """
    kind = _KINDS.get((text or "").strip().casefold())
    if kind is None:
        raise ValueError(f"kind must be 'organisation' or 'person', not {text!r}")
    return kind


@lru_cache(maxsize=CACHE_SIZE)
def split_person_name(text: str | None) -> tuple[str | None, str | None]:
    """Split a full person name into given and family name match keys.

    "Family, Given" is read as such; otherwise the last word is the family name, together with
    the particles before it ("de la Cruz"), and the rest is the given name. Titles in front
    ("Dr.") and post-nominals at the end ("Jr.") are dropped.

    Returns:
        The given name and family name match keys; either is None when absent.

    Examples:
        >>> split_person_name("Smith, John")
        ('john', 'smith')
        >>> split_person_name("Dr. Maria de la Cruz")
        ('maria', 'de la cruz')
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None, None

    if "," in cleaned:
        family_text, _, given_text = cleaned.partition(",")
        family = _strip_name_words(match_key(family_text))
        given = _strip_name_words(match_key(given_text))
        return (" ".join(given) or None), (" ".join(family) or None)

    tokens = _strip_name_words(match_key(cleaned))
    if not tokens:
        return None, None

    start = len(tokens) - 1
    while start > 1 and tokens[start - 1] in _FAMILY_PARTICLES:
        start -= 1
    return (" ".join(tokens[:start]) or None), " ".join(tokens[start:])


def _strip_name_words(key: str | None) -> list[str]:
    """The tokens of a name key without leading titles and trailing post-nominals."""
    tokens = key.split() if key else []
    while len(tokens) > 1 and tokens[0] in _TITLES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in _POST_NOMINALS:
        tokens.pop()
    return tokens


def given_name_of(text: str | None) -> str | None:
    """The given name match key of a full person name."""
    return split_person_name(text)[0]


def family_name_of(text: str | None) -> str | None:
    """The family name match key of a full person name."""
    return split_person_name(text)[1]


def join_person_name(given: str | None, family: str | None) -> str | None:
    """A person's standardised name: "given family" from the two match keys, whichever exist."""
    return " ".join(part for part in (given, family) if part) or None


MIN_TAX_ID = 5
"""Fewer characters than any country's tax or VAT number."""


@lru_cache(maxsize=CACHE_SIZE)
def standardise_tax_id(text: str | None, country: str | None) -> str | None:
    """A tax id as upper-case alphanumerics, without the VAT prefix of the record's own country.

    "DE 123 456 789" and "123456789" agree for a German record; Austria's "ATU" and Greece's "EL"
    prefixes count as their countries'. A prefix of another country is kept.
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    tax_id = _NOT_ALPHANUMERIC.sub("", unicodedata.normalize("NFKC", cleaned).upper())
    # Limitation: without the record's country a prefix cannot be told from the number, so
    # "DE123456789" without a country and "123456789" of a German record disagree.
    if country is not None:
        for prefix in _VAT_PREFIXES.get(country, (country,)):
            rest = tax_id.removeprefix(prefix)
            if rest != tax_id and any(character.isdigit() for character in rest):
                tax_id = rest
                break
        for suffix in _VAT_SUFFIXES.get(country, ()):
            tax_id = tax_id.removesuffix(suffix)
    # A placeholder ("0", "000000000", "TRUE", "NONE") is no identifier: it would join strangers.
    digits = sum(character.isdigit() for character in tax_id)
    if len(tax_id) < MIN_TAX_ID or digits == 0 or len(set(tax_id)) == 1:
        return None
    return tax_id


@lru_cache(maxsize=CACHE_SIZE)
def standardise_date(text: str | None) -> str | None:
    """An ISO 8601 date ("YYYY-MM-DD"), or None when it is missing or not a real date."""
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    try:
        return dt.date.fromisoformat(cleaned[:10]).isoformat()
    except ValueError:
        return None


def _coalesce(first: str | None, second: str | None) -> str | None:
    return first if first is not None else second


def standardise_record(record: Mapping[str, str | None]) -> dict[str, str | None]:
    """Standardise one record's canonical fields, as real-time matching does before scoring.

    Organisations take their name and legal form from ``legal_name`` when it is present, since the
    registered name is what systems agree on most, and from ``name`` otherwise; the legal form
    falls back to the one in ``name`` when ``legal_name`` carries none. Persons take given and
    family names from their fields, filling a missing one by splitting ``name``.

    Args:
        record: Canonical fields (see ``CANONICAL_FIELDS``); absent keys count as None. ``kind``
            is required, ``date_of_birth`` arrives as an ISO date.

    Returns:
        Exactly the ``STANDARDISED_FIELDS``, each a string or None.

    Raises:
        ValueError: When the kind is missing or unknown.
    """
    kind = standardise_kind(record.get("kind"))
    country = standardise_country(record.get("country"))
    given = match_key(record.get("given_name"))
    family = match_key(record.get("family_name"))
    email = standardise_email(record.get("email"))

    website = standardise_website(record.get("website"))
    name = suffix = domain = None
    if kind == "organisation":
        domain = organisation_domain(website, email_domain(email))
        name = _coalesce(organisation_name(record.get("legal_name")), organisation_name(record.get("name")))
        suffix = _coalesce(legal_suffix(record.get("legal_name")), legal_suffix(record.get("name")))
    else:
        given = _coalesce(given, given_name_of(record.get("name")))
        family = _coalesce(family, family_name_of(record.get("name")))
        name = join_person_name(given, family)

    standardised: dict[str, str | None] = {
        "name": name,
        "legal_suffix": suffix,
        "given_name": given,
        "family_name": family,
        "tax_id": standardise_tax_id(record.get("tax_id"), country),
        "email": email,
        "email_domain": email_domain(email),
        "website": website,
        "domain": domain,
        "phone": standardise_phone(record.get("phone"), country),
        "address_line1": standardise_street(record.get("address_line1")),
        "postal_code": standardise_postal_code(record.get("postal_code"), country),
        "city": standardise_city(record.get("city")),
        "region": standardise_region(record.get("region"), country),
        "country": country,
        "date_of_birth": standardise_date(record.get("date_of_birth")),
    }
    return standardised


def _as_text(value: object) -> str | None:
    """A frame cell as the text the field functions take: dates as ISO, whole floats as integers."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


class _Column:
    """A column factorised into integer codes (-1 for missing) and its distinct values."""

    def __init__(self, values: pd.Series | ObjectArray | None, length: int) -> None:
        if values is None:
            self.codes: npt.NDArray[np.intp] = np.full(length, -1, dtype=np.intp)
            self.distinct: list[str | None] = []
            return

        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        self.codes = np.asarray(codes, dtype=np.intp)
        self.distinct = [_as_text(value) for value in uniques]

    def value(self, code: int) -> str | None:
        return self.distinct[code] if code >= 0 else None


def _map_distinct(function: Callable[..., str | None], *columns: _Column) -> ObjectArray:
    """Apply a field function once per distinct value (or tuple of values) and spread the results."""
    if len(columns) == 1:
        (column,) = columns
        results = [function(value) for value in column.distinct]
        results.append(function(None) if (column.codes < 0).any() else None)
        return _object_array(results)[column.codes]

    combined = np.zeros(len(columns[0].codes), dtype=np.int64)
    for column in columns:
        combined = combined * (len(column.distinct) + 1) + (column.codes + 1)
    tuple_codes, _ = pd.factorize(combined)
    _, first_rows = np.unique(tuple_codes, return_index=True)

    results = [function(*(column.value(int(column.codes[row])) for column in columns)) for row in first_rows]
    return _object_array(results)[tuple_codes]


def _object_array(values: list[str | None]) -> ObjectArray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _coalesce_arrays(first: ObjectArray, second: ObjectArray) -> ObjectArray:
    result: ObjectArray = np.where(pd.isna(first), second, first)
    return result


def standardise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Standardise a frame of records for bulk matching, with the same rules as ``standardise_record``.

    Each field function runs once per distinct value of its columns (per distinct (phone, country)
    pair for phones), so a million rows with repeated values stay fast.

    Args:
        frame: Columns ``unique_id``, ``source_system``, ``kind`` and any canonical fields; a
            missing canonical column counts as all None.

    Returns:
        A new frame with ``unique_id``, ``source_system``, ``kind`` and the ``STANDARDISED_FIELDS``,
        in the input's row order and index, every value a string or None.

    Raises:
        ValueError: When a key column is missing or a kind is unknown.
    """
    missing = [column for column in KEY_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks key columns: {', '.join(missing)}")

    length = len(frame)

    def column(name: str, rows: npt.NDArray[np.intp] | None = None) -> _Column:
        size = length if rows is None else len(rows)
        if name not in frame.columns:
            return _Column(None, size)
        return _Column(frame[name] if rows is None else frame[name].iloc[rows], size)

    kinds = _map_distinct(standardise_kind, column("kind"))
    country = _map_distinct(standardise_country, column("country"))
    country_column = _Column(country, length)
    email = _map_distinct(standardise_email, column("email"))
    mail_domain = _map_distinct(email_domain, _Column(email, length))
    website = _map_distinct(standardise_website, column("website"))

    out: dict[str, ObjectArray] = {
        field: np.full(length, None, dtype=object) for field in STANDARDISED_FIELDS
    }
    out["given_name"] = _map_distinct(match_key, column("given_name"))
    out["family_name"] = _map_distinct(match_key, column("family_name"))

    organisations = np.flatnonzero(kinds == "organisation")
    if len(organisations):
        legal_name, name = column("legal_name", organisations), column("name", organisations)
        out["name"][organisations] = _coalesce_arrays(
            _map_distinct(organisation_name, legal_name), _map_distinct(organisation_name, name)
        )
        out["legal_suffix"][organisations] = _coalesce_arrays(
            _map_distinct(legal_suffix, legal_name), _map_distinct(legal_suffix, name)
        )
        out["domain"][organisations] = _map_distinct(
            organisation_domain,
            _Column(website[organisations], len(organisations)),
            _Column(mail_domain[organisations], len(organisations)),
        )

    persons = np.flatnonzero(kinds == "person")
    if len(persons):
        name = column("name", persons)
        given = _coalesce_arrays(out["given_name"][persons], _map_distinct(given_name_of, name))
        family = _coalesce_arrays(out["family_name"][persons], _map_distinct(family_name_of, name))
        out["given_name"][persons] = given
        out["family_name"][persons] = family
        out["name"][persons] = _map_distinct(
            join_person_name, _Column(given, len(persons)), _Column(family, len(persons))
        )

    out["tax_id"] = _map_distinct(standardise_tax_id, column("tax_id"), country_column)
    out["email"] = email
    out["email_domain"] = mail_domain
    out["website"] = website
    out["phone"] = _map_distinct(standardise_phone, column("phone"), country_column)
    out["address_line1"] = _map_distinct(standardise_street, column("address_line1"))
    out["postal_code"] = _map_distinct(standardise_postal_code, column("postal_code"), country_column)
    out["city"] = _map_distinct(standardise_city, column("city"))
    out["region"] = _map_distinct(standardise_region, column("region"), country_column)
    out["country"] = country
    out["date_of_birth"] = _map_distinct(standardise_date, column("date_of_birth"))

    keys = {name: frame[name].to_numpy(dtype=object) for name in KEY_COLUMNS if name != "kind"}
    return pd.DataFrame({**keys, "kind": kinds, **out}, index=frame.index)


def clear_caches() -> None:
    """Empty every standardisation cache, for tests and benchmarks that time a cold start."""
    _address.clear_caches()
    _contact.clear_caches()
    _legal.clear_caches()
    for function in (split_person_name, standardise_tax_id, standardise_date, match_key):
        function.cache_clear()
