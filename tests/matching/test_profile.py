"""The match profile: the built-in default, operator files, and errors that name the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching._splink import blocking_rule_sql, comparison_creator, settings_creator
from matching.errors import ProfileError
from matching.profile import MatchProfile, load_profile, parse_profile

DEFAULT_TOML = (Path(__file__).parents[2] / "matching" / "profiles" / "default.toml").read_text()


def test_default_profile_has_both_kinds_with_their_strong_identifiers(profile: MatchProfile) -> None:
    assert profile.organisation.strong == ("tax_id",)
    # Family members share a family name, an address and a phone: a different given name must stop
    # an automatic merge as a different date of birth does.
    assert profile.person.strong == ("date_of_birth", "given_name")
    assert profile.organisation.comparison("name").term_frequency
    assert set(profile.person.term_frequency_fields) == {"given_name", "family_name", "city"}
    assert profile.person.thresholds.review_weight < profile.person.thresholds.auto_merge_weight
    assert profile.person.training.u_max_pairs >= 1e6


def test_levels_run_from_exact_down_to_else(profile: MatchProfile) -> None:
    date_of_birth = profile.person.comparison("date_of_birth")

    methods = [level.method for level in date_of_birth.levels]

    assert methods == ["exact", "damerau_levenshtein", "date_difference"]
    assert date_of_birth.exact_gamma == 3
    assert date_of_birth.levels[2].threshold == pytest.approx(365.25 * 86400)


def test_splink_comparison_has_null_profile_levels_and_else(profile: MatchProfile) -> None:
    tax_id = profile.organisation.comparison("tax_id")

    created = comparison_creator(tax_id).get_comparison("duckdb")

    gammas = [level.comparison_vector_value for level in created.comparison_levels]
    assert gammas == [-1, 2, 1, 0]
    assert created.output_column_name == "tax_id"


def test_settings_carry_every_blocking_rule(profile: MatchProfile) -> None:
    settings = settings_creator(profile.person).create_settings_dict("duckdb")

    rules = [rule["blocking_rule"] for rule in settings["blocking_rules_to_generate_predictions"]]

    assert len(rules) == len(profile.person.blocking)
    assert rules[0] == 'l."tax_id" = r."tax_id"'
    assert [comparison["output_column_name"] for comparison in settings["comparisons"]][:2] == [
        "given_name",
        "family_name",
    ]


def test_null_values_are_missing_in_comparisons_and_blocking() -> None:
    text = DEFAULT_TOML.replace(
        'field = "tax_id"\nmethod = "exact"\ntypo_distance = 1\n',
        'field = "tax_id"\nmethod = "exact"\ntypo_distance = 1\nnull_values = ["000000000"]\n',
        1,
    )
    profile = parse_profile(text)

    rule = blocking_rule_sql(("tax_id",), profile.organisation)
    null_level = comparison_creator(profile.organisation.comparison("tax_id")).get_comparison("duckdb")

    assert "NOT IN ('000000000')" in rule
    assert "'000000000'" in null_level.comparison_levels[0].sql_condition


def test_a_file_that_tunes_one_kind_keeps_the_default_for_the_other(tmp_path: Path) -> None:
    person_part = DEFAULT_TOML[DEFAULT_TOML.index("[person]") :].replace(
        "auto_merge_weight = 8.0", "auto_merge_weight = 14.5"
    )
    path = tmp_path / "profile.toml"
    path.write_text(person_part)

    profile = load_profile(path)

    assert profile.person.thresholds.auto_merge_weight == 14.5
    assert profile.organisation == load_profile(None).organisation


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('method = "jaro_winkler"', 'method = "soundex"', "organisation.comparisons[0].method"),
        ('field = "legal_suffix"', 'field = "shoe_size"', "organisation.comparisons[1].field"),
        ("thresholds = [0.95, 0.88]", "thresholds = [0.88, 0.95]", "organisation.comparisons[0].thresholds"),
        ("thresholds = [0.95, 0.88]", "thresholds = [1.5]", "organisation.comparisons[0].thresholds"),
        ('strong = ["tax_id"]', 'strong = ["vat"]', "organisation.strong[0]"),
        ("review_weight = -3.0", "review_weight = 40.0", "organisation.thresholds.review_weight"),
        ("seed = 42", 'seed = "forty-two"', "organisation.training.seed"),
        (
            "deterministic_recall = 0.7",
            "deterministic_recall = 1.7",
            "organisation.training.deterministic_recall",
        ),
        ('["name"], ["postal_code"]]', '["name", "postal_code"]]', "organisation.training.em_blocking"),
        ('["domain"],', '["web"],', "organisation.blocking[3]"),
        ("[organisation.thresholds]", "colour = 'red'\n[organisation.thresholds]", "organisation"),
    ],
)
def test_invalid_profiles_name_the_key_at_fault(old: str, new: str, field: str) -> None:
    assert old in DEFAULT_TOML
    text = DEFAULT_TOML.replace(old, new, 1)

    with pytest.raises(ProfileError) as raised:
        parse_profile(text)

    assert raised.value.field == field
    assert raised.value.code == "config.invalid"


GROUP_MEMBER = '{ field = "city", method = "jaro_winkler", thresholds = [0.92] },'


@pytest.mark.parametrize(
    ("new", "field"),
    [
        (
            '{ field = "city", method = "exact", term_frequency = true },',
            "organisation.comparisons[6].group[2]",
        ),
        ('{ field = "city", method = "group" },', "organisation.comparisons[6].group[2].method"),
        ('{ field = "name", method = "exact" },', "organisation.comparisons[6].field"),
        ('{ field = "shoe_size", method = "exact" },', "organisation.comparisons[6].group[2].field"),
    ],
)
def test_invalid_groups_name_the_member_at_fault(new: str, field: str) -> None:
    assert GROUP_MEMBER in DEFAULT_TOML
    text = DEFAULT_TOML.replace(GROUP_MEMBER, new, 1)

    with pytest.raises(ProfileError) as raised:
        parse_profile(text)

    assert field in [where for where, _ in raised.value.problems]


ORGANISATION_IDENTIFIERS = 'identifiers = [{ fields = ["tax_id"], same_where_known = ["country"] }]'


def test_default_identifiers_prove_identity_by_tax_id_alone_never_by_contact_details(
    profile: MatchProfile,
) -> None:
    organisation = [(rule.fields, rule.same_where_known) for rule in profile.organisation.identifiers]
    person = [(rule.fields, rule.same_where_known) for rule in profile.person.identifiers]

    assert organisation == [(("tax_id",), ("country",))]
    # A shared e-mail, phone or address is not proof for people; a national id needs its birth date.
    assert person == [(("tax_id", "date_of_birth"), ("country",))]


@pytest.mark.parametrize(
    ("new", "fields"),
    [
        ('identifiers = [{ fields = [] }]', ["organisation.identifiers[0].fields"]),
        ('identifiers = [{ fields = ["vat"], same_where_known = ["land"] }]',
         ["organisation.identifiers[0].fields", "organisation.identifiers[0].same_where_known"]),
        ('identifiers = [{ fields = ["tax_id"], same_where_known = ["tax_id"] }]',
         ["organisation.identifiers[0].same_where_known"]),
        ('identifiers = [{ fields = ["tax_id"], colour = "red" }]', ["organisation.identifiers[0]"]),
    ],
)  # fmt: skip
def test_invalid_identifiers_name_the_key_at_fault(new: str, fields: list[str]) -> None:
    assert ORGANISATION_IDENTIFIERS in DEFAULT_TOML
    text = DEFAULT_TOML.replace(ORGANISATION_IDENTIFIERS, new, 1)

    with pytest.raises(ProfileError) as raised:
        parse_profile(text)

    assert [where for where, _ in raised.value.problems] == fields


def test_a_profile_without_identifiers_is_valid_and_proves_nothing() -> None:
    profile = parse_profile(DEFAULT_TOML.replace(ORGANISATION_IDENTIFIERS, "", 1))

    assert profile.organisation.identifiers == ()


def test_a_group_member_cannot_be_a_strong_identifier() -> None:
    text = DEFAULT_TOML.replace('strong = ["tax_id"]', 'strong = ["tax_id", "city"]', 1)

    with pytest.raises(ProfileError) as raised:
        parse_profile(text)

    assert raised.value.field == "organisation.strong[1]"


def test_a_group_compares_its_members_fields(profile: MatchProfile) -> None:
    address = profile.organisation.comparison("address")

    assert address.fields == ("address_line1", "postal_code", "city")
    assert [level.field for level in address.levels] == [
        "address_line1", "address_line1", "address_line1", "postal_code", "postal_code", "city", "city"
    ]  # fmt: skip


def test_every_problem_is_reported_at_once() -> None:
    text = DEFAULT_TOML.replace('strong = ["tax_id"]', 'strong = ["vat"]').replace(
        "review_weight = 0.0", "review_weight = 40.0"
    )

    with pytest.raises(ProfileError) as raised:
        parse_profile(text)

    fields = [field for field, _ in raised.value.problems]
    assert "organisation.strong[0]" in fields
    assert "person.thresholds.review_weight" in fields


def test_unreadable_and_malformed_files_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as missing:
        load_profile(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[person\n")

    with pytest.raises(ProfileError) as malformed:
        load_profile(broken)

    assert missing.value.field == "path"
    assert malformed.value.field == "toml"


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text("[household]\nstrong = []\n")

    with pytest.raises(ProfileError) as raised:
        load_profile(path)

    assert raised.value.field == "household"
