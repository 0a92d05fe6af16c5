"""Comparison levels of one pair of values, computed in process exactly as Splink's SQL does.

rapidfuzz and DuckDB agree on Jaro-Winkler, Levenshtein and Damerau-Levenshtein, and dates are
parsed and differenced as Splink's DuckDB SQL does, so a level computed here equals the
``gamma_<field>`` of bulk prediction. The in-process scorer and the strong-identifier guard of
clustering both rest on this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

from matching.fields import Kind
from matching.profile import ELSE_GAMMA, NULL_GAMMA, FieldComparison, KindProfile, Level, MatchProfile

StrongIdentifierConflict = Callable[[str, str | None, str | None], bool]

_SECONDS_PER_DAY = 86400
_DATE_FORMAT = "%Y-%m-%d"


def is_missing(comparison: FieldComparison, value: str | None) -> bool:
    """Whether a value counts as missing for a comparison: None, empty, or a listed null value."""
    return value is None or value == "" or value in comparison.null_values


def comparison_level(comparison: FieldComparison, value_a: str | None, value_b: str | None) -> int:
    """The comparison level of two values, numbered as Splink's ``gamma_<field>``.

    Args:
        comparison: the profile's comparison of the field.
        value_a: one standardised value, or None.
        value_b: the other.

    Returns:
        -1 when either value is missing, 0 for the else level, and upwards to the exact level.

    Raises:
        ValueError: for a group comparison, whose level depends on whole records (``group_level``).
    """
    if comparison.is_group:
        raise ValueError(f"{comparison.field} is a group: its level needs both records")
    if (
        value_a is None
        or value_b is None
        or is_missing(comparison, value_a)
        or is_missing(comparison, value_b)
    ):
        return NULL_GAMMA

    levels = comparison.levels
    for index, level in enumerate(levels):
        if level_holds(level, value_a, value_b):
            return len(levels) - index
    return ELSE_GAMMA


def group_level(
    comparison: FieldComparison, record_a: Mapping[str, str | None], record_b: Mapping[str, str | None]
) -> int:
    """The level of a group comparison for two records, numbered as Splink's ``gamma_<name>``.

    -1 when no member field is present on both sides; otherwise the first member level, in the
    group's order, whose condition holds, else 0.
    """
    present = {
        member.field
        for member in comparison.group
        if not is_missing(member, record_a.get(member.field))
        and not is_missing(member, record_b.get(member.field))
    }
    if not present:
        return NULL_GAMMA

    levels = comparison.levels
    for index, level in enumerate(levels):
        if level.field in present and level_holds(
            level, record_a[level.field] or "", record_b[level.field] or ""
        ):
            return len(levels) - index
    return ELSE_GAMMA


def level_holds(level: Level, value_a: str, value_b: str) -> bool:
    """Whether two present values satisfy one level's condition."""
    threshold = level.threshold if level.threshold is not None else 0.0
    if level.method == "exact":
        return value_a == value_b
    if level.method == "jaro_winkler":
        return JaroWinkler.similarity(value_a, value_b) >= threshold
    if level.method == "levenshtein":
        return Levenshtein.distance(value_a, value_b) <= threshold
    if level.method == "damerau_levenshtein":
        return DamerauLevenshtein.distance(value_a, value_b) <= threshold

    date_a, date_b = _parse_date(value_a), _parse_date(value_b)
    if date_a is None or date_b is None:
        return False
    return abs((date_a - date_b).days) * _SECONDS_PER_DAY <= threshold


def _parse_date(value: str) -> datetime | None:
    # DuckDB's try_strptime: a value that does not parse makes the level's condition NULL.
    try:
        return datetime.strptime(value, _DATE_FORMAT)
    except ValueError:
        return None


def comparison_levels(
    profile: KindProfile, record_a: Mapping[str, str | None], record_b: Mapping[str, str | None]
) -> dict[str, int]:
    """The level of every comparison for two standardised records (missing keys are None)."""
    return {
        comparison.field: group_level(comparison, record_a, record_b)
        if comparison.is_group
        else comparison_level(comparison, record_a.get(comparison.field), record_b.get(comparison.field))
        for comparison in profile.comparisons
    }


def strong_identifier_conflict(profile: MatchProfile | KindProfile, kind: Kind) -> StrongIdentifierConflict:
    """A test of strong-identifier conflict for the constrained clustering.

    Args:
        profile: the match profile, or the kind's part of it.
        kind: the kind whose strong identifiers apply.

    Returns:
        ``conflict(field, value_a, value_b)``: True when the field is one of the kind's strong
        identifiers, both values are present and the pair falls in the comparison's lowest non-null
        (else) level. A typo or near-date level is no conflict; a field that is not a strong
        identifier never conflicts.
    """
    kind_profile = profile.for_kind(kind) if isinstance(profile, MatchProfile) else profile
    strong = {field: kind_profile.comparison(field) for field in kind_profile.strong}

    def conflict(field: str, value_a: str | None, value_b: str | None) -> bool:
        comparison = strong.get(field)
        if comparison is None:
            return False
        return comparison_level(comparison, value_a, value_b) == ELSE_GAMMA

    return conflict
