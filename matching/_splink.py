"""From a kind's match profile to Splink settings, and from our data frames to DuckDB tables.

Internal: ``training`` and ``prediction`` use it; nothing else should need Splink's types.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import msgspec
import pandas as pd
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator
from splink import comparison_level_library as cll
from splink import comparison_library as cl
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from matching.errors import MatchModelError
from matching.fields import Kind
from matching.profile import FieldComparison, FieldList, KindProfile

UNIQUE_ID = "unique_id"


def profile_fields(profile: KindProfile) -> tuple[str, ...]:
    """Every standardised field the profile compares or blocks on, in a stable order."""
    seen: dict[str, None] = {}
    for comparison in profile.comparisons:
        for field in comparison.fields:
            seen[field] = None

    rules = (*profile.blocking, *profile.training.em_blocking, *profile.training.deterministic_rules)
    for rule in rules:
        for field in rule:
            seen[field] = None
    return tuple(seen)


def records_table(frame: pd.DataFrame, profile: KindProfile, kind: Kind) -> pa.Table:
    """The records of one kind as an Arrow table of strings, with empty values as nulls.

    Every field is typed as a string so that a column without any value still compares (as null)
    instead of taking DuckDB's NULL type.

    Raises:
        MatchModelError: when a column the profile needs is missing, or unique ids repeat.
    """
    fields = profile_fields(profile)
    missing = [column for column in (UNIQUE_ID, "kind", *fields) if column not in frame.columns]
    if missing:
        raise MatchModelError(f"the records lack columns: {', '.join(missing)}", field=missing[0])

    records = frame.loc[frame["kind"] == kind, [UNIQUE_ID, *fields]]
    if records[UNIQUE_ID].duplicated().any():
        raise MatchModelError("unique ids repeat within the records", field=UNIQUE_ID)

    columns = {UNIQUE_ID: pa.array(records[UNIQUE_ID].astype(str).tolist(), type=pa.string())}
    for field in fields:
        values = [_present(value) for value in records[field].tolist()]
        columns[field] = pa.array(values, type=pa.string())
    return pa.table(columns)


def _present(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None

    text = str(value)
    return text if text else None


def settings_creator(profile: KindProfile, *, link_type: str = "dedupe_only") -> SettingsCreator:
    """Splink settings for one kind: comparisons, prediction blocking and training limits.

    Per-comparison Bayes factors and comparison levels are retained in predictions, so that every
    link can be explained field by field.
    """
    return SettingsCreator(
        link_type=link_type,  # type: ignore[arg-type]
        comparisons=[comparison_creator(comparison) for comparison in profile.comparisons],
        blocking_rules_to_generate_predictions=[
            {"blocking_rule": blocking_rule_sql(rule, profile)} for rule in profile.blocking
        ],
        em_convergence=profile.training.em_convergence,
        max_iterations=profile.training.em_max_iterations,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        unique_id_column_name=UNIQUE_ID,
    )


def comparison_creator(comparison: FieldComparison) -> ComparisonCreator:
    """The Splink comparison of one profile comparison, its levels in the profile's order."""
    field = comparison.field
    levels: list[ComparisonLevelCreator | dict[str, Any]] = [_null_level(comparison)]
    for level in comparison.levels:
        threshold = level.threshold
        field = level.field
        if level.method == "exact":
            levels.append(cll.ExactMatchLevel(field, term_frequency_adjustments=comparison.term_frequency))
        elif level.method == "jaro_winkler":
            levels.append(cll.JaroWinklerLevel(field, float(threshold or 0)))
        elif level.method == "levenshtein":
            levels.append(cll.LevenshteinLevel(field, int(threshold or 0)))
        elif level.method == "damerau_levenshtein":
            levels.append(cll.DamerauLevenshteinLevel(field, int(threshold or 0)))
        else:
            levels.append(
                cll.AbsoluteDateDifferenceLevel(
                    field, input_is_string=True, threshold=float(threshold or 0), metric="second"
                )
            )
    levels.append(cll.ElseLevel())

    if comparison.is_group:
        description = f"{comparison.field}: group of {', '.join(comparison.fields)}"
    else:
        description = f"{comparison.field}: {comparison.method} {list(comparison.thresholds)}"
    return cl.CustomComparison(
        levels, output_column_name=comparison.field, comparison_description=description
    )


def _null_level(comparison: FieldComparison) -> ComparisonLevelCreator:
    if comparison.is_group:
        condition = " AND ".join(
            f'("{field}_l" IS NULL OR "{field}_r" IS NULL)' for field in comparison.fields
        )
        label = f"no {comparison.field} field on both sides"
        return cll.CustomLevel(condition, label_for_charts=label).configure(is_null_level=True)
    if not comparison.null_values:
        return cll.NullLevel(comparison.field)

    field = comparison.field
    listed = _sql_list(comparison.null_values)
    condition = (
        f"{field}_l IS NULL OR {field}_r IS NULL OR {field}_l IN ({listed}) OR {field}_r IN ({listed})"
    )
    return cll.CustomLevel(condition, label_for_charts=f"{field} is missing").configure(is_null_level=True)


def blocking_rule_sql(rule: FieldList, profile: KindProfile) -> str:
    """A blocking rule as SQL: every field equal, and none of them a listed placeholder value."""
    placeholders = {comparison.field: comparison.null_values for comparison in profile.comparisons}
    terms = []
    for field in rule:
        terms.append(f'l."{field}" = r."{field}"')
        if placeholders.get(field):
            terms.append(f'l."{field}" NOT IN ({_sql_list(placeholders[field])})')
    return " AND ".join(terms)


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


class ResolvedLevel(msgspec.Struct, frozen=True):
    """One comparison level's weights as Splink reads them from a model's JSON.

    Attributes:
        match_weight: log2(m / u), with Splink's defaults and clamps applied.
        tf_weight: weight of the term-frequency adjustment; 0 when the level has none.
        tf_log2_u: log2 of the u probability of the comparison's exact level, the adjustment's base.
        tf_minimum_u: the smallest term frequency the adjustment uses.
    """

    match_weight: float
    tf_weight: float = 0.0
    tf_log2_u: float = 0.0
    tf_minimum_u: float = 0.0


class ResolvedModel(msgspec.Struct, frozen=True):
    """A model's prior and per-comparison levels (by Splink's gamma), ready for plain-Python scoring."""

    prior_match_weight: float
    levels: dict[str, dict[int, ResolvedLevel]]


def resolve_model(settings: dict[str, Any], profile: KindProfile, kind: Kind) -> ResolvedModel:
    """Read a model's JSON through Splink itself, so that defaults and clamps are Splink's own.

    Splink fills untrained m and u probabilities with defaults and clamps tiny ones; rather than
    restate those rules, the scorer takes the weights from Splink's reading of the JSON once.
    """
    columns = [UNIQUE_ID, "kind", *profile_fields(profile)]
    empty = records_table(
        pd.DataFrame({column: pd.Series(dtype=object) for column in columns}), profile, kind
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(empty), copy.deepcopy(settings), log_level=None)
    # Limitation: Splink 5 exposes levels' resolved weights only on its private settings object.
    parsed = linker._settings_obj

    levels: dict[str, dict[int, ResolvedLevel]] = {}
    for comparison in parsed.comparisons:
        by_gamma: dict[int, ResolvedLevel] = {}
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            resolved = ResolvedLevel(match_weight=float(level._match_weight))
            if level._has_tf_adjustments and level._tf_adjustment_weight and not level._is_else_level:
                base = level._u_probability_corresponding_to_exact_match(comparison.comparison_levels)
                resolved = ResolvedLevel(
                    match_weight=resolved.match_weight,
                    tf_weight=float(level._tf_adjustment_weight),
                    tf_log2_u=math.log2(base),
                    tf_minimum_u=float(level._tf_minimum_u_value),
                )
            by_gamma[int(level.comparison_vector_value)] = resolved
        levels[comparison.output_column_name] = by_gamma

    prior = float(parsed._probability_two_random_records_match)
    return ResolvedModel(prior_match_weight=math.log2(prior / (1.0 - prior)), levels=levels)
