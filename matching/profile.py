"""The match profile: which fields are compared how, blocking, strong and proving identifiers, thresholds.

A profile is TOML with one table per kind (``organisation``, ``person``). The built-in default lives
in ``matching/profiles/default.toml``; a file given by the operator replaces the default kind by
kind, so a file that only tunes persons keeps the default for organisations.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from matching.errors import ProfileError
from matching.fields import KINDS, STANDARDISED_FIELDS, Kind

ComparisonMethod = Literal[
    "exact", "jaro_winkler", "levenshtein", "damerau_levenshtein", "date_difference", "group"
]
LevelMethod = Literal["exact", "jaro_winkler", "levenshtein", "damerau_levenshtein", "date_difference"]
DateUnit = Literal["day", "month", "year"]

DEFAULT_PROFILE_RESOURCE = "profiles/default.toml"

# Splink's comparison vector values: -1 for the null level, 0 for else, then upwards to exact.
NULL_GAMMA = -1
ELSE_GAMMA = 0

# As Splink converts date thresholds, so that levels computed in process agree with DuckDB's.
_SECONDS_PER_UNIT: dict[str, float] = {
    "day": 86400.0,
    "month": 86400.0 * 365.25 / 12,
    "year": 86400.0 * 365.25,
}

_VALIDATION_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


class Level(msgspec.Struct, frozen=True):
    """One non-null, non-else comparison level: how two present values must relate to fall in it.

    Attributes:
        method: ``exact`` (equal), ``jaro_winkler`` (similarity >= threshold), ``levenshtein`` and
            ``damerau_levenshtein`` (distance <= threshold), ``date_difference`` (ISO dates at most
            threshold seconds apart, the way Splink measures it).
        threshold: the bound for the method; None for ``exact``.
        field: the standardised field the level compares: the comparison's own field, or in a
            group the member's.
    """

    method: LevelMethod
    threshold: float | None = None
    field: str = ""


class FieldComparison(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How one standardised field, or one group of fields that vary together, is compared.

    The levels, best first, are: null (either value missing), exact, an optional typo level
    (Damerau-Levenshtein <= ``typo_distance``), one level per threshold of ``method``, and else.

    A ``group`` compares fields that are not independent evidence, such as street, postal code
    and city: household members and firms in one building share all three, and a stale address
    differs in all three. The group's levels are its members' levels, member after member, and
    a pair falls in the first that holds; the group is null when no member is present on both
    sides. One group counts its evidence once where separate comparisons would count it thrice.

    Attributes:
        field: the standardised field, or for a group the name of its comparison.
        method: the similarity measure of the threshold levels, or ``group``.
        thresholds: Jaro-Winkler similarities (descending), edit distances (ascending) or date
            differences in ``date_unit`` (ascending); empty for ``exact``.
        typo_distance: adds a Damerau-Levenshtein level just below exact, e.g. for ids and dates.
        date_unit: unit of date difference thresholds.
        term_frequency: adjust the exact level by how common the value is (names, cities).
        null_values: values that count as missing besides None, e.g. a placeholder tax id.
        group: the member comparisons of a ``group``, best evidence first; empty otherwise.
    """

    field: str
    method: ComparisonMethod
    thresholds: tuple[float, ...] = ()
    typo_distance: int | None = None
    date_unit: DateUnit = "day"
    term_frequency: bool = False
    null_values: tuple[str, ...] = ()
    group: tuple[FieldComparison, ...] = ()

    @property
    def is_group(self) -> bool:
        """Whether this comparison is a group of member fields."""
        return self.method == "group"

    @property
    def fields(self) -> tuple[str, ...]:
        """The standardised fields compared: the field itself, or a group's member fields."""
        return tuple(member.field for member in self.group) if self.is_group else (self.field,)

    @property
    def levels(self) -> tuple[Level, ...]:
        """The levels between null and else, best first."""
        if self.is_group:
            return tuple(level for member in self.group for level in member.levels)

        levels = [Level("exact", field=self.field)]
        if self.typo_distance is not None:
            levels.append(Level("damerau_levenshtein", float(self.typo_distance), self.field))

        for threshold in self.thresholds:
            bound = (
                threshold * _SECONDS_PER_UNIT[self.date_unit]
                if self.method == "date_difference"
                else threshold
            )
            levels.append(Level(self.method, bound, self.field))  # type: ignore[arg-type]
        return tuple(levels)

    @property
    def exact_gamma(self) -> int:
        """Splink's comparison vector value of the exact level: the highest."""
        return len(self.levels)


FieldList = tuple[str, ...]


class Thresholds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Decision thresholds as match weights (log2 Bayes factors, prior included).

    Attributes:
        auto_merge_weight: at or above, a link is made without a steward.
        review_weight: at or above (and below auto-merge), a review item is opened.
    """

    auto_merge_weight: float
    review_weight: float


class Training(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a model is trained without labels.

    Attributes:
        seed: seed of u-sampling, stored with the model so that training can be repeated.
        u_max_pairs: random pairs sampled to estimate u probabilities.
        em_blocking: one expectation-maximisation pass per entry, blocked on equal fields; the
            passes together must leave every comparison estimated at least once.
        em_max_iterations: iteration cap of each pass.
        em_convergence: largest change of a parameter at which a pass stops.
        deterministic_rules: rules (equal fields) that almost only admit true matches; their
            pair count estimates the probability that two random records match.
        deterministic_recall: the share of true matches those rules are thought to find.
    """

    seed: int = 42
    u_max_pairs: float = 2e6
    em_blocking: tuple[FieldList, ...]
    em_max_iterations: int = 25
    em_convergence: float = 1e-4
    deterministic_rules: tuple[FieldList, ...]
    deterministic_recall: float = 0.7


class IdentifierRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An identifier whose exact agreement proves two records are one customer, without a model.

    Used only while a kind has no active model: a record then joins a customer when one of its
    live members agrees with it under a rule, and otherwise becomes a new customer.

    Attributes:
        fields: present on both records and exactly equal after standardisation.
        same_where_known: must be equal when present on both records; a value missing on either
            side does not forbid the agreement (e.g. the country of a tax id).
    """

    fields: FieldList
    same_where_known: FieldList = ()


class KindProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The profile of one kind of customer: it has its own model and is never compared with the other.

    Attributes:
        comparisons: one per compared field.
        blocking: candidate pairs are those that agree on every field of at least one entry.
        strong: strong identifiers; a conflict on one forbids an automatic join.
        identifiers: identifiers that prove identity by exact agreement, the only evidence used
            while the kind has no active model; empty means every such record is a new customer.
        thresholds: auto-merge and review thresholds.
        training: unsupervised training settings.
    """

    comparisons: tuple[FieldComparison, ...]
    blocking: tuple[FieldList, ...]
    strong: tuple[str, ...] = ()
    identifiers: tuple[IdentifierRule, ...] = ()
    thresholds: Thresholds
    training: Training

    def comparison(self, field: str) -> FieldComparison:
        """The comparison of one field.

        Raises:
            ProfileError: when the field is not compared.
        """
        for comparison in self.comparisons:
            if comparison.field == field:
                return comparison
        raise ProfileError([(field, "the field is not compared in this profile")])

    @property
    def term_frequency_fields(self) -> tuple[str, ...]:
        """Fields whose exact level is adjusted by term frequency."""
        return tuple(comparison.field for comparison in self.comparisons if comparison.term_frequency)


class MatchProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole match profile: one ``KindProfile`` per kind."""

    organisation: KindProfile
    person: KindProfile

    def for_kind(self, kind: Kind) -> KindProfile:
        """The profile of one kind."""
        return self.organisation if kind == "organisation" else self.person


def load_profile(path: Path | None = None) -> MatchProfile:
    """Read a match profile, or the built-in default when no path is given.

    A kind that the file leaves out keeps the default's settings for it.

    Args:
        path: a TOML profile file, or None for the default.

    Returns:
        The validated profile.

    Raises:
        ProfileError: the file cannot be read or parsed, or is invalid; every problem found is
            listed, each with the profile key at fault (e.g. ``person.comparisons[2].thresholds``).
    """
    default = _parse_toml(
        resources.files("matching").joinpath(DEFAULT_PROFILE_RESOURCE).read_text(encoding="utf-8")
    )
    if path is None:
        return _validated(_convert(default))

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProfileError([("path", f"cannot read {path.name}: {error.strerror}")]) from error

    document = _parse_toml(text)
    unknown = sorted(set(document) - set(KINDS))
    if unknown:
        raise ProfileError([(key, "unknown kind; expected organisation or person") for key in unknown])

    merged: dict[str, object] = {kind: document.get(kind, default[kind]) for kind in KINDS}
    return _validated(_convert(merged))


def parse_profile(text: str) -> MatchProfile:
    """Parse and validate a complete profile from TOML text (every kind present).

    Raises:
        ProfileError: when the text is not valid TOML or not a valid profile.
    """
    return _validated(_convert(_parse_toml(text)))


def _parse_toml(text: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProfileError([("toml", str(error))]) from error


def _convert(document: dict[str, object]) -> MatchProfile:
    try:
        return msgspec.convert(document, MatchProfile)
    except msgspec.ValidationError as error:
        message = str(error)
        found = _VALIDATION_PATH.search(message)
        field = found.group("path") if found else "profile"
        text = _VALIDATION_PATH.sub("", message)
        raise ProfileError([(field or "profile", text)]) from error


def _validated(profile: MatchProfile) -> MatchProfile:
    problems: list[tuple[str, str]] = []
    for kind in KINDS:
        problems.extend(_kind_problems(kind, profile.for_kind(kind)))

    if problems:
        raise ProfileError(problems)
    return profile


def _kind_problems(kind: Kind, profile: KindProfile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    compared: set[str] = set()
    names: set[str] = set()
    for index, comparison in enumerate(profile.comparisons):
        where = f"{kind}.comparisons[{index}]"
        problems.extend(_comparison_problems(where, comparison))
        for field in comparison.fields:
            if field in compared:
                problems.append((f"{where}.field", f"{field!r} is compared twice"))
            compared.add(field)
        if comparison.is_group and comparison.field in names | set(STANDARDISED_FIELDS):
            problems.append((f"{where}.field", f"group name {comparison.field!r} is taken"))
        names.add(comparison.field)

    if not profile.comparisons:
        problems.append((f"{kind}.comparisons", "at least one comparison is needed"))

    problems.extend(_field_lists_problems(f"{kind}.blocking", profile.blocking))
    problems.extend(_field_lists_problems(f"{kind}.training.em_blocking", profile.training.em_blocking))
    problems.extend(
        _field_lists_problems(f"{kind}.training.deterministic_rules", profile.training.deterministic_rules)
    )
    own_fields = {comparison.field for comparison in profile.comparisons if not comparison.is_group}
    for index, field in enumerate(profile.strong):
        if field not in own_fields:
            problems.append(
                (f"{kind}.strong[{index}]", f"strong identifier {field!r} has no comparison of its own")
            )

    problems.extend(_identifier_problems(kind, profile.identifiers))

    thresholds = profile.thresholds
    if thresholds.review_weight > thresholds.auto_merge_weight:
        problems.append((f"{kind}.thresholds.review_weight", "must not exceed auto_merge_weight"))

    training = profile.training
    if training.u_max_pairs < 1:
        problems.append((f"{kind}.training.u_max_pairs", "must be at least 1"))
    if training.em_max_iterations < 1:
        problems.append((f"{kind}.training.em_max_iterations", "must be at least 1"))
    if not 0 < training.em_convergence < 1:
        problems.append((f"{kind}.training.em_convergence", "must lie between 0 and 1"))
    if not 0 < training.deterministic_recall <= 1:
        problems.append((f"{kind}.training.deterministic_recall", "must lie in (0, 1]"))

    uncovered = [
        comparison.field
        for comparison in profile.comparisons
        if all(set(comparison.fields) <= set(rule) for rule in training.em_blocking)
    ]
    if not training.em_blocking:
        problems.append((f"{kind}.training.em_blocking", "at least one pass is needed"))
    elif uncovered:
        problems.append(
            (
                f"{kind}.training.em_blocking",
                f"no pass leaves {', '.join(sorted(uncovered))} free to estimate",
            )
        )
    return problems


def _comparison_problems(where: str, comparison: FieldComparison) -> list[tuple[str, str]]:
    if comparison.is_group:
        return _group_problems(where, comparison)
    if comparison.group:
        return [(f"{where}.group", "only a comparison of method group has members")]

    problems: list[tuple[str, str]] = []
    if comparison.field not in STANDARDISED_FIELDS:
        problems.append((f"{where}.field", f"{comparison.field!r} is not a standardised field"))

    thresholds = comparison.thresholds
    method = comparison.method
    if method == "exact" and thresholds:
        problems.append((f"{where}.thresholds", "an exact comparison takes no thresholds"))
    if method != "exact" and not thresholds:
        problems.append((f"{where}.thresholds", f"a {method} comparison needs at least one threshold"))

    if method == "jaro_winkler":
        if any(not 0 < value < 1 for value in thresholds):
            problems.append((f"{where}.thresholds", "Jaro-Winkler thresholds lie strictly between 0 and 1"))
        if list(thresholds) != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
            problems.append((f"{where}.thresholds", "Jaro-Winkler thresholds must strictly decrease"))

    if method in ("levenshtein", "damerau_levenshtein", "date_difference"):
        if any(value <= 0 for value in thresholds):
            problems.append((f"{where}.thresholds", "thresholds must be positive"))
        if list(thresholds) != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            problems.append((f"{where}.thresholds", "thresholds must strictly increase"))

    if method in ("levenshtein", "damerau_levenshtein") and any(value != int(value) for value in thresholds):
        problems.append((f"{where}.thresholds", "edit distance thresholds are whole numbers"))

    if comparison.typo_distance is not None and comparison.typo_distance < 1:
        problems.append((f"{where}.typo_distance", "must be at least 1"))
    if comparison.typo_distance is not None and method in ("levenshtein", "damerau_levenshtein"):
        problems.append((f"{where}.typo_distance", f"a {method} comparison has edit distance levels already"))

    if any(not value for value in comparison.null_values):
        problems.append((f"{where}.null_values", "empty strings are missing already"))
    return problems


def _group_problems(where: str, comparison: FieldComparison) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if len(comparison.group) < 2:
        problems.append((f"{where}.group", "a group needs at least two member comparisons"))
    if comparison.thresholds or comparison.typo_distance is not None:
        problems.append((f"{where}.method", "a group's levels come from its members"))
    if comparison.term_frequency or comparison.null_values:
        problems.append((f"{where}.method", "a group takes no term frequencies or null values"))

    for index, member in enumerate(comparison.group):
        at = f"{where}.group[{index}]"
        if member.is_group:
            problems.append((f"{at}.method", "groups do not nest"))
            continue
        problems.extend(_comparison_problems(at, member))
        # Limitation: members adjust no term frequencies and list no placeholder values; the
        # group's one null level and one level list would need per-member variants of both.
        if member.term_frequency or member.null_values:
            problems.append((at, "a group member takes no term frequencies or null values"))
    return problems


def _identifier_problems(kind: Kind, rules: tuple[IdentifierRule, ...]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for index, rule in enumerate(rules):
        where = f"{kind}.identifiers[{index}]"
        if not rule.fields:
            problems.append((f"{where}.fields", "an identifier needs at least one field"))
        for key, fields in (("fields", rule.fields), ("same_where_known", rule.same_where_known)):
            problems.extend(
                (f"{where}.{key}", f"{field!r} is not a standardised field")
                for field in fields
                if field not in STANDARDISED_FIELDS
            )
        both = sorted(set(rule.fields) & set(rule.same_where_known))
        if both:
            problems.append((f"{where}.same_where_known", f"{', '.join(both)} already in fields"))
    return problems


def _field_lists_problems(where: str, rules: tuple[FieldList, ...]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for index, rule in enumerate(rules):
        if not rule:
            problems.append((f"{where}[{index}]", "a rule needs at least one field"))
        for field in rule:
            if field not in STANDARDISED_FIELDS:
                problems.append((f"{where}[{index}]", f"{field!r} is not a standardised field"))
    return problems
