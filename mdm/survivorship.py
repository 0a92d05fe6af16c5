"""Survivorship: a customer's golden record, built from its current source versions by rules.

Each golden attribute survives from one source version, chosen by the attribute's rule. Groups of
attributes that only make sense together (an address, a person's name) survive whole from a single
source version, never stitched from several. Every choice ends in the same tie-break, source
priority and then source key, so a golden record is a pure function of its source versions and the
rules, whatever order the versions come in.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

import msgspec

from matching.fields import CANONICAL_FIELDS
from mdm.errors import ConfigurationError

Rule = Literal["source_priority", "most_recent", "most_frequent", "most_complete"]
RULES: Final[tuple[Rule, ...]] = get_args(Rule)

GOLDEN_FIELDS: Final[tuple[str, ...]] = tuple(field for field in CANONICAL_FIELDS if field != "updated_at")
"""The attributes of every golden record: the canonical fields but ``updated_at``."""


class AttributeGroup(msgspec.Struct, frozen=True):
    """Attributes that survive together from one source version.

    Attributes:
        name: the group's name, as used in survivorship rules.
        members: the canonical fields of the group, in canonical order.
        key_members: the members a source version must give to hold the group fully.
    """

    name: str
    members: tuple[str, ...]
    key_members: tuple[str, ...]


ADDRESS: Final = AttributeGroup(
    "address",
    ("address_line1", "address_line2", "city", "region", "postal_code", "country"),
    ("address_line1", "city"),
)
PERSON_NAME: Final = AttributeGroup("person_name", ("given_name", "family_name"), ("family_name",))
GROUPS: Final[tuple[AttributeGroup, ...]] = (ADDRESS, PERSON_NAME)


class SurvivorshipRules(msgspec.Struct, frozen=True, kw_only=True):
    """The rule for each golden attribute, or for each group of attributes that survive together.

    The defaults trust the most reliable system for names, the latest update for contact details and
    addresses, and the majority for identifiers and the kind.
    """

    kind: Rule = "most_frequent"
    name: Rule = "source_priority"
    legal_name: Rule = "source_priority"
    tax_id: Rule = "most_frequent"
    email: Rule = "most_recent"
    website: Rule = "most_recent"
    phone: Rule = "most_recent"
    date_of_birth: Rule = "most_frequent"
    address: Rule = "most_recent"
    person_name: Rule = "source_priority"

    def rule_for(self, target: str) -> Rule:
        """The rule of an attribute or group, by its name in these rules."""
        rule: Rule = getattr(self, target)
        return rule


DEFAULT_RULES: Final = SurvivorshipRules()
RULE_TARGETS: Final[tuple[str, ...]] = SurvivorshipRules.__struct_fields__
"""The names that rules are set for: lone attributes and group names."""


class SourceVersion(msgspec.Struct, frozen=True, kw_only=True):
    """The current version of one source record of a customer, as survivorship reads it.

    Attributes:
        source_key: the record's key as ``system/source_id``.
        system: the source system that sent the record.
        priority: the system's trust rank; 1 is the most trusted.
        version: the source record's version number.
        updated_at: when the source system last changed the record (UTC), when it says so.
        canonical: the canonical fields; a missing key, None or a blank string is a missing value.
        extra: the record's other columns, kept but not used for survivorship.
    """

    source_key: str
    system: str
    priority: int
    version: int
    updated_at: datetime | None
    canonical: dict[str, str | None]
    extra: dict[str, Any] = {}


class Lineage(msgspec.Struct, frozen=True, kw_only=True):
    """Where a golden attribute came from: the source version and the rule that chose it."""

    source_key: str
    system: str
    version: int
    rule: Rule


class GoldenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's best view of one customer.

    Attributes:
        attributes: every golden field (``GOLDEN_FIELDS``), None where no source version gives it.
        lineage: for each attribute that has a value, the source version and rule that supplied it;
            an attribute without a value has no lineage entry.
    """

    attributes: dict[str, str | None]
    lineage: dict[str, Lineage]

    def content_digest(self) -> str:
        """SHA-256 (hex) of a canonical JSON of the attributes and lineage, to tell changes apart."""
        content = {"attributes": self.attributes, "lineage": msgspec.to_builtins(self.lineage)}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_golden_record(
    versions: Sequence[SourceVersion], rules: SurvivorshipRules | None = None
) -> GoldenRecord:
    """Build a customer's golden record from the current versions of its source records.

    Args:
        versions: one current version per source record of the customer, in any order.
        rules: the rule per attribute or group; the default rules when None.

    Returns:
        The golden record; with no versions at all, every attribute is None.
    """
    rules = rules or DEFAULT_RULES
    attributes: dict[str, str | None] = dict.fromkeys(GOLDEN_FIELDS)
    lineage: dict[str, Lineage] = {}

    for group in _survivorship_units():
        rule = rules.rule_for(group.name)
        survivor = _survivor(versions, group, rule)
        if survivor is None:
            continue
        for member in group.members:
            value = _present(survivor, member)
            if value is None:
                continue
            attributes[member] = value
            lineage[member] = Lineage(
                source_key=survivor.source_key, system=survivor.system, version=survivor.version, rule=rule
            )

    return GoldenRecord(attributes=attributes, lineage=dict(sorted(lineage.items())))


def parse_rules(toml_text: str) -> SurvivorshipRules:
    """Read survivorship rules from TOML: one ``target = "rule"`` line per attribute or group.

    Targets not named keep their default rule. Group members cannot have rules of their own.

    Raises:
        ConfigurationError: the text is not TOML, or names an unknown target or rule; every problem
            is reported at once, and ``field`` names the targets at fault.
    """
    try:
        document = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"survivorship rules are not valid TOML: {error}") from error

    group_of = {member: group.name for group in GROUPS for member in group.members}
    problems: list[tuple[str, str]] = []
    overrides: dict[str, Rule] = {}
    for target, rule in document.items():
        if target in group_of:
            problem = f"{target!r} survives with its group; set a rule for {group_of[target]!r}"
        elif target not in RULE_TARGETS:
            problem = f"unknown attribute {target!r}; expected one of {', '.join(RULE_TARGETS)}"
        elif rule not in RULES:
            problem = f"unknown rule {rule!r} for {target!r}; expected one of {', '.join(RULES)}"
        else:
            overrides[target] = rule
            continue
        problems.append((target, problem))

    if problems:
        raise ConfigurationError(
            "invalid survivorship rules: " + "; ".join(message for _, message in problems),
            field=", ".join(target for target, _ in problems),
        )
    return SurvivorshipRules(**overrides)


def _survivorship_units() -> tuple[AttributeGroup, ...]:
    """Every rule target as a group; a lone attribute is a group of one that is its own key."""
    groups = {group.name: group for group in GROUPS}
    return tuple(groups.get(target, AttributeGroup(target, (target,), (target,))) for target in RULE_TARGETS)


def _present(version: SourceVersion, field: str) -> str | None:
    """The version's value of a field as sent, or None when it is missing or blank."""
    value = version.canonical.get(field)
    return value if value is not None and value.strip() else None


def _fold(value: str) -> str:
    """The form in which values count as the same for most_frequent: casefolded, spaces collapsed."""
    return " ".join(value.casefold().split())


def _rank(version: SourceVersion) -> tuple[int, str, int]:
    """The universal tie-break: lowest priority number, then source key, then latest version."""
    return version.priority, version.source_key, -version.version


def _holders(versions: Sequence[SourceVersion], group: AttributeGroup) -> list[SourceVersion]:
    """The versions that compete for a group: those with every key member, else those with any member.

    A version without a value never competes while another has one.
    """
    full = [v for v in versions if all(_present(v, member) is not None for member in group.key_members)]
    if full:
        return full
    return [v for v in versions if any(_present(v, member) is not None for member in group.members)]


def _survivor(versions: Sequence[SourceVersion], group: AttributeGroup, rule: Rule) -> SourceVersion | None:
    """The one source version that supplies a whole group under a rule, or None when none has it."""
    holders = _holders(versions, group)
    if not holders:
        return None
    return _CHOOSERS[rule](holders, group)


def _by_source_priority(holders: list[SourceVersion], group: AttributeGroup) -> SourceVersion:
    return min(holders, key=_rank)


def _by_most_recent(holders: list[SourceVersion], group: AttributeGroup) -> SourceVersion:
    def recency(version: SourceVersion) -> tuple[bool, float, tuple[int, str, int]]:
        if version.updated_at is None:
            return True, 0.0, _rank(version)
        return False, -_as_utc(version.updated_at).timestamp(), _rank(version)

    return min(holders, key=recency)


def _by_most_frequent(holders: list[SourceVersion], group: AttributeGroup) -> SourceVersion:
    supporters: dict[tuple[str, ...], list[SourceVersion]] = {}
    for version in holders:
        folded = tuple(_fold(_present(version, member) or "") for member in group.members)
        supporters.setdefault(folded, []).append(version)

    best_of = {folded: min(group_versions, key=_rank) for folded, group_versions in supporters.items()}
    winner = min(supporters, key=lambda folded: (-len(supporters[folded]), _rank(best_of[folded])))
    return best_of[winner]


def _by_most_complete(holders: list[SourceVersion], group: AttributeGroup) -> SourceVersion:
    def completeness(version: SourceVersion) -> int:
        values = [_present(version, member) for member in group.members]
        if len(values) == 1:
            return len(" ".join((values[0] or "").split()))
        return sum(value is not None for value in values)

    return min(holders, key=lambda version: (-completeness(version), _rank(version)))


def _as_utc(moment: datetime) -> datetime:
    """A moment in UTC; a naive one (as SQLite returns them) is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_CHOOSERS: Final[dict[Rule, Callable[[list[SourceVersion], AttributeGroup], SourceVersion]]] = {
    "source_priority": _by_source_priority,
    "most_recent": _by_most_recent,
    "most_frequent": _by_most_frequent,
    "most_complete": _by_most_complete,
}
