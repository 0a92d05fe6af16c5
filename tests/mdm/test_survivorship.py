"""Survivorship: each rule, the tie-break, whole groups, order independence, lineage and the digest."""

import itertools
import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from mdm.errors import ConfigurationError
from mdm.survivorship import (
    DEFAULT_RULES,
    GOLDEN_FIELDS,
    GROUPS,
    RULE_TARGETS,
    RULES,
    GoldenRecord,
    Lineage,
    Rule,
    SourceVersion,
    SurvivorshipRules,
    build_golden_record,
    parse_rules,
)

PRIORITIES = {"crm": 1, "billing": 2, "erp": 3, "support": 4}
DAY = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def version(
    source_key: str, updated_days: int | None = 0, number: int = 1, **canonical: str | None
) -> SourceVersion:
    """A source version of ``system/source_id`` with the given canonical fields, updated ``DAY`` + days."""
    system = source_key.split("/", maxsplit=1)[0]
    return SourceVersion(
        source_key=source_key,
        system=system,
        priority=PRIORITIES[system],
        version=number,
        updated_at=None if updated_days is None else DAY + timedelta(days=updated_days),
        canonical=canonical,
    )


def only(target: str, rule: Rule) -> SurvivorshipRules:
    return msgspec.structs.replace(DEFAULT_RULES, **{target: rule})


def test_every_golden_field_has_exactly_one_rule_target() -> None:
    grouped = [member for group in GROUPS for member in group.members]
    lone = [target for target in RULE_TARGETS if target not in {group.name for group in GROUPS}]

    assert sorted(grouped + lone) == sorted(GOLDEN_FIELDS)
    assert "updated_at" not in GOLDEN_FIELDS


def test_attributes_name_every_golden_field_and_missing_ones_have_no_lineage() -> None:
    golden = build_golden_record([version("crm/1", email="a@example.com")])

    assert list(golden.attributes) == list(GOLDEN_FIELDS)
    assert golden.attributes["email"] == "a@example.com"
    assert golden.attributes["name"] is None
    assert set(golden.lineage) == {"email"}


def test_source_priority_takes_the_most_trusted_system() -> None:
    versions = [
        version("erp/7", name="Acme Trading"),
        version("crm/3", name="ACME Trading GmbH"),
        version("billing/9", name="Acme"),
    ]

    golden = build_golden_record(versions, only("name", "source_priority"))

    assert golden.attributes["name"] == "ACME Trading GmbH"
    assert golden.lineage["name"] == Lineage(
        source_key="crm/3", system="crm", version=1, rule="source_priority"
    )


def test_most_recent_takes_the_latest_update_and_a_missing_time_loses() -> None:
    versions = [
        version("crm/1", updated_days=1, email="old@example.com"),
        version("erp/2", updated_days=5, email="new@example.com"),
        version("billing/3", updated_days=None, email="undated@example.com"),
    ]

    golden = build_golden_record(versions, only("email", "most_recent"))

    assert golden.attributes["email"] == "new@example.com"
    assert golden.lineage["email"].source_key == "erp/2"
    assert golden.lineage["email"].rule == "most_recent"


def test_most_recent_compares_naive_times_as_utc() -> None:
    aware = version("crm/1", updated_days=1, phone="+4930111")
    naive = msgspec.structs.replace(
        version("erp/2", phone="+4930222"), updated_at=(DAY + timedelta(days=2)).replace(tzinfo=None)
    )

    golden = build_golden_record([aware, naive], only("phone", "most_recent"))

    assert golden.attributes["phone"] == "+4930222"


def test_most_recent_without_any_time_falls_back_to_priority() -> None:
    versions = [
        version("erp/2", updated_days=None, phone="2"),
        version("billing/3", updated_days=None, phone="3"),
    ]

    golden = build_golden_record(versions, only("phone", "most_recent"))

    assert golden.lineage["phone"].source_key == "billing/3"


def test_most_frequent_counts_folded_values_and_keeps_one_original_spelling() -> None:
    versions = [
        version("crm/1", tax_id="DE 111"),
        version("billing/2", tax_id="de  222 "),
        version("erp/3", tax_id="DE 222"),
        version("support/4", tax_id="De 222"),
    ]

    golden = build_golden_record(versions, only("tax_id", "most_frequent"))

    assert golden.attributes["tax_id"] == "de  222 "
    assert golden.lineage["tax_id"] == Lineage(
        source_key="billing/2", system="billing", version=1, rule="most_frequent"
    )


def test_most_complete_takes_the_longest_value() -> None:
    versions = [version("crm/1", legal_name="Acme"), version("support/4", legal_name="Acme Trading GmbH")]

    golden = build_golden_record(versions, only("legal_name", "most_complete"))

    assert golden.attributes["legal_name"] == "Acme Trading GmbH"
    assert golden.lineage["legal_name"].rule == "most_complete"


def test_most_complete_group_takes_the_record_with_most_filled_members() -> None:
    versions = [
        version("crm/1", address_line1="Hauptstr. 1", city="Berlin"),
        version("erp/2", address_line1="Hauptstr 1", city="Berlin", postal_code="10115", country="DE"),
    ]

    golden = build_golden_record(versions, only("address", "most_complete"))

    assert golden.attributes["postal_code"] == "10115"
    assert golden.attributes["address_line1"] == "Hauptstr 1"
    assert {golden.lineage[field].source_key for field in ("address_line1", "city", "country")} == {"erp/2"}


@pytest.mark.parametrize("rule", RULES)
def test_ties_break_by_priority_then_source_key(rule: Rule) -> None:
    versions = [
        version("erp/2", website="b.example"),
        version("billing/9", website="a.example"),
        version("billing/1", website="c.example"),
    ]

    golden = build_golden_record(versions, only("website", rule))

    assert golden.lineage["website"].source_key == "billing/1"
    assert golden.attributes["website"] == "c.example"


@pytest.mark.parametrize("rule", RULES)
def test_missing_never_wins_over_present(rule: Rule) -> None:
    versions = [
        version("crm/1", updated_days=9, email=None),
        version("billing/2", updated_days=8, email="   "),
        version("erp/3", updated_days=7),
        version("support/4", updated_days=None, email="x@example.com"),
    ]

    golden = build_golden_record(versions, only("email", rule))

    assert golden.attributes["email"] == "x@example.com"
    assert golden.lineage["email"].source_key == "support/4"


@pytest.mark.parametrize("rule", RULES)
def test_address_is_never_stitched(rule: Rule) -> None:
    newer_street_only = version("crm/1", updated_days=10, address_line1="Neue Str. 5", postal_code="10117")
    older_full = version(
        "erp/2",
        updated_days=1,
        address_line1="Alte Str. 9",
        city="Hamburg",
        postal_code="20095",
        country="DE",
    )

    golden = build_golden_record([newer_street_only, older_full], only("address", rule))

    address = {field: golden.attributes[field] for field in GROUPS[0].members}
    assert address == {
        "address_line1": "Alte Str. 9",
        "address_line2": None,
        "city": "Hamburg",
        "region": None,
        "postal_code": "20095",
        "country": "DE",
    }
    assert {lineage.source_key for field, lineage in golden.lineage.items() if field in address} == {"erp/2"}


def test_partial_address_survives_whole_when_no_record_has_the_key_members() -> None:
    versions = [
        version("crm/1", updated_days=1, city="Köln", country="DE"),
        version("erp/2", updated_days=3, postal_code="50667"),
    ]

    golden = build_golden_record(versions, only("address", "most_recent"))

    assert golden.attributes["postal_code"] == "50667"
    assert golden.attributes["city"] is None
    assert golden.attributes["country"] is None


def test_person_name_survives_whole_from_a_record_with_a_family_name() -> None:
    versions = [
        version("crm/1", given_name="Anna"),
        version("billing/2", given_name="A.", family_name="Schmidt"),
        version("erp/3", given_name="Anna", family_name="Schmitt"),
    ]

    golden = build_golden_record(versions, only("person_name", "source_priority"))

    assert (golden.attributes["given_name"], golden.attributes["family_name"]) == ("A.", "Schmidt")
    assert golden.lineage["given_name"] == golden.lineage["family_name"]
    assert golden.lineage["family_name"].source_key == "billing/2"


def test_most_frequent_group_compares_whole_groups() -> None:
    versions = [
        version("crm/1", given_name="Anna", family_name="Weber"),
        version("billing/2", given_name="ANNA", family_name="weber"),
        version("erp/3", given_name="Jan", family_name="Weber"),
        version("support/4", given_name="Jan", family_name="Weber"),
        version("support/5", given_name="jan ", family_name="WEBER"),
    ]

    golden = build_golden_record(versions, only("person_name", "most_frequent"))

    assert (golden.attributes["given_name"], golden.attributes["family_name"]) == ("Jan", "Weber")
    assert golden.lineage["given_name"].source_key == "erp/3"


def customer_versions() -> list[SourceVersion]:
    crm = version(
        "crm/1", 1, 2, kind="person", given_name="Anna", family_name="Weber", email="anna@crm.example",
        tax_id="DE1", address_line1="Ring 1", city="Bonn", date_of_birth="1980-02-01",
    )  # fmt: skip
    billing = version(
        "billing/2", 4, 1, kind="person", given_name="Anna", family_name="Weber-Lang",
        email="anna@billing.example", phone="+49228111", tax_id="de1", address_line1="Weg 2", city="Bonn",
        postal_code="53111", date_of_birth="1980-02-01",
    )  # fmt: skip
    erp = version(
        "erp/3", 4, 3, kind="organisation", name="Weber Consulting", phone="+49228222",
        website="weber.example", address_line1="Weg 2", city="Bonn",
    )  # fmt: skip
    support = version(
        "support/4", None, 1, kind="person", email="anna@support.example", tax_id="DE 1",
        date_of_birth="1980-01-02",
    )  # fmt: skip
    return [crm, billing, erp, support, version("support/5", 6, 1, kind="person", website="anna.example")]


@pytest.mark.parametrize("rule", RULES)
def test_golden_record_does_not_depend_on_input_order(rule: Rule) -> None:
    rules = SurvivorshipRules(**dict.fromkeys(RULE_TARGETS, rule))
    versions = customer_versions()
    expected = build_golden_record(versions, rules)
    shuffler = random.Random(7)

    for _ in range(20):
        shuffler.shuffle(versions)
        assert build_golden_record(versions, rules) == expected
    for permutation in itertools.permutations(versions):
        assert build_golden_record(permutation, rules).content_digest() == expected.content_digest()


def test_default_rules_on_a_whole_customer() -> None:
    golden = build_golden_record(customer_versions())

    assert golden.attributes["kind"] == "person"
    assert golden.attributes["name"] == "Weber Consulting"
    assert golden.attributes["tax_id"] == "DE1"
    assert golden.attributes["email"] == "anna@billing.example"
    assert golden.attributes["phone"] == "+49228111"
    assert golden.attributes["website"] == "anna.example"
    assert (golden.attributes["address_line1"], golden.attributes["postal_code"]) == ("Weg 2", "53111")
    assert (golden.attributes["given_name"], golden.attributes["family_name"]) == ("Anna", "Weber")
    assert golden.attributes["date_of_birth"] == "1980-02-01"
    assert golden.lineage["family_name"] == Lineage(
        source_key="crm/1", system="crm", version=2, rule="source_priority"
    )
    assert golden.lineage["kind"].rule == "most_frequent"


def test_no_versions_give_an_empty_golden_record() -> None:
    golden = build_golden_record([])

    assert set(golden.attributes.values()) == {None}
    assert golden.lineage == {}


def test_digest_is_stable_and_changes_with_a_value_or_its_source() -> None:
    versions = customer_versions()
    digest = build_golden_record(versions).content_digest()
    changed_value = [
        *versions[:-1],
        msgspec.structs.replace(versions[-1], canonical={"website": "anna.example.org"}),
    ]
    new_version = [*versions[:-1], msgspec.structs.replace(versions[-1], version=2)]

    assert len(digest) == 64
    assert build_golden_record(customer_versions()).content_digest() == digest
    assert build_golden_record(changed_value).content_digest() != digest
    assert build_golden_record(new_version).content_digest() != digest


def test_digest_survives_a_round_trip_through_json() -> None:
    golden = build_golden_record(customer_versions())

    decoded = msgspec.json.decode(msgspec.json.encode(golden), type=GoldenRecord)

    assert decoded.content_digest() == golden.content_digest()


def test_parse_rules_overrides_only_what_it_names() -> None:
    rules = parse_rules('email = "most_frequent"\naddress = "source_priority"\n')

    assert rules.email == "most_frequent"
    assert rules.address == "source_priority"
    assert rules.phone == DEFAULT_RULES.phone
    assert parse_rules("") == DEFAULT_RULES


@pytest.mark.parametrize(
    ("toml_text", "field", "words"),
    [
        ('emial = "most_recent"', "emial", "unknown attribute"),
        ('email = "newest"', "email", "unknown rule"),
        ("email = 3", "email", "unknown rule"),
        ('city = "most_recent"', "city", "'address'"),
        ('updated_at = "most_recent"', "updated_at", "unknown attribute"),
        ('tax_id = "oldest"\nfax = "most_recent"', "tax_id, fax", "'oldest'"),
    ],
)
def test_bad_rules_are_rejected_with_the_field_named(toml_text: str, field: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_rules(toml_text)

    assert raised.value.field == field
    assert words in raised.value.message


def test_rules_that_are_not_toml_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        parse_rules("email = ")
