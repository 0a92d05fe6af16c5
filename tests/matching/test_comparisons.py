"""In-process comparison levels: the same as Splink's gamma, and the strong-identifier guard."""

from __future__ import annotations

import msgspec
import pandas as pd
import pytest

from matching.comparisons import (
    comparison_level,
    comparison_levels,
    group_level,
    strong_identifier_conflict,
)
from matching.prediction import predict_pairs
from matching.profile import FieldComparison, MatchProfile
from matching.training import TrainedModel


@pytest.mark.parametrize(
    ("value_a", "value_b", "gamma"),
    [
        ("1956-04-09", "1956-04-09", 3),
        ("1956-04-09", "1956-04-08", 2),
        ("1956-04-09", "1965-04-09", 2),
        ("1956-04-09", "1956-10-09", 1),
        ("1956-04-09", "1957-02-01", 1),
        ("1956-04-09", "1961-04-03", 0),
        ("1956-04-09", "1956-14-09", 2),
        ("1956-04-09", "not a date", 0),
        ("1956-04-09", None, -1),
        ("", "1956-04-09", -1),
    ],
)
def test_date_of_birth_levels(
    profile: MatchProfile, value_a: str | None, value_b: str | None, gamma: int
) -> None:
    assert comparison_level(profile.person.comparison("date_of_birth"), value_a, value_b) == gamma


@pytest.mark.parametrize(
    ("value_a", "value_b", "gamma"),
    [("martha", "martha", 3), ("martha", "marhta", 2), ("martha", "marta", 2), ("martha", "mary", 1)],
)
def test_name_levels(profile: MatchProfile, value_a: str, value_b: str, gamma: int) -> None:
    assert comparison_level(profile.person.comparison("given_name"), value_a, value_b) == gamma


def test_strong_identifier_conflicts_only_in_the_else_level(profile: MatchProfile) -> None:
    conflict = strong_identifier_conflict(profile, "organisation")

    assert conflict("tax_id", "DE123456789", "DE987654321")
    assert not conflict("tax_id", "DE123456789", "DE123456789")
    assert not conflict("tax_id", "DE123456789", "DE123456798")
    assert not conflict("tax_id", "DE123456789", None)
    assert not conflict("name", "acme", "zenith")


def test_date_of_birth_is_the_strong_identifier_of_persons(profile: MatchProfile) -> None:
    conflict = strong_identifier_conflict(profile.person, "person")

    assert conflict("date_of_birth", "1956-04-09", "1971-11-30")
    assert not conflict("date_of_birth", "1956-04-09", "1956-09-04")
    assert not conflict("tax_id", "1234567", "7654321")


def test_in_process_levels_equal_splink_gammas(
    person_model: TrainedModel, small_persons: pd.DataFrame
) -> None:
    pairs = predict_pairs(small_persons, person_model, threshold_weight=-1e9)
    records = small_persons.set_index("unique_id").to_dict("index")
    fields = [comparison.field for comparison in person_model.profile.comparisons]

    differences = []
    for pair in pairs.to_dict("records"):
        levels = comparison_levels(
            person_model.profile, records[pair["unique_id_l"]], records[pair["unique_id_r"]]
        )
        differences.extend(field for field in fields if levels[field] != pair[f"gamma_{field}"])

    assert len(pairs) > 300
    assert set(pairs["gamma_date_of_birth"]) >= {0, 2, 3}
    assert set(pairs["gamma_tax_id"]) >= {0, 1, 2}
    assert differences == []


def test_in_process_group_levels_equal_splink_gammas(
    organisation_model: TrainedModel, organisations: tuple[pd.DataFrame, set[tuple[str, str]]]
) -> None:
    frame = organisations[0].copy()
    # Some records without any address field, some with a city only: the null level must occur.
    frame.loc[frame.index[::7], ["address_line1", "postal_code", "city"]] = None
    frame.loc[frame.index[1::7], ["address_line1", "postal_code"]] = None
    pairs = predict_pairs(frame, organisation_model, threshold_weight=-1e9)
    records = frame.set_index("unique_id").to_dict("index")
    address = organisation_model.profile.comparison("address")

    in_process = [
        group_level(address, records[left], records[right])
        for left, right in zip(pairs["unique_id_l"], pairs["unique_id_r"], strict=True)
    ]

    assert address.is_group
    assert in_process == pairs["gamma_address"].tolist()
    # The null level, the else level, and levels of more than one member occur.
    assert {-1, 0, len(address.levels)} <= set(in_process)
    assert {gamma for gamma in in_process if 0 < gamma <= 4}


GROUP = FieldComparison(
    field="address",
    method="group",
    group=(
        FieldComparison(field="address_line1", method="jaro_winkler", thresholds=(0.9,)),
        FieldComparison(field="postal_code", method="exact"),
        FieldComparison(field="city", method="exact"),
    ),
)


@pytest.mark.parametrize(
    ("record_a", "record_b", "gamma"),
    [
        ({"address_line1": "1 high st", "city": "york"}, {"address_line1": "1 high st"}, 4),
        ({"address_line1": "1 high st", "city": "york"}, {"address_line1": "1 hihg st"}, 3),
        (
            {"address_line1": "1 high st", "postal_code": "Y1"},
            {"address_line1": "9 low rd", "postal_code": "Y1"},
            2,
        ),
        ({"address_line1": "1 high st", "city": "york"}, {"postal_code": "Y1", "city": "york"}, 1),
        ({"address_line1": "1 high st", "city": "york"}, {"address_line1": "9 low rd", "city": "leeds"}, 0),
        ({"address_line1": "1 high st"}, {"city": "york"}, -1),
        ({}, {}, -1),
    ],
)
def test_a_group_takes_the_first_member_level_that_holds(
    profile: MatchProfile, record_a: dict[str, str], record_b: dict[str, str], gamma: int
) -> None:
    only_group = msgspec.structs.replace(profile.organisation, comparisons=(GROUP,))

    assert group_level(GROUP, record_a, record_b) == gamma
    assert comparison_levels(only_group, record_a, record_b) == {"address": gamma}


def test_a_group_has_no_level_of_two_values() -> None:
    with pytest.raises(ValueError, match="group"):
        comparison_level(GROUP, "1 high st", "1 high st")


DATES = [
    "1956-04-09",
    "1956-04-09",
    "1956-04-08",
    "1965-04-09",
    "1956-10-09",
    "1957-04-09",
    "1957-04-10",
    "1956-14-09",
    "x",
]


def test_date_levels_equal_splink_on_every_pair_of_tricky_dates(
    person_model: TrainedModel, small_persons: pd.DataFrame
) -> None:
    template = small_persons.iloc[0].to_dict()
    frame = pd.DataFrame(
        [dict(template, unique_id=f"p{index}", date_of_birth=date) for index, date in enumerate(DATES)]
    )
    comparison = person_model.profile.comparison("date_of_birth")

    pairs = predict_pairs(frame, person_model, threshold_weight=-1e9)
    dates = dict(zip(frame["unique_id"], frame["date_of_birth"], strict=True))
    in_process = [
        comparison_level(comparison, dates[left], dates[right])
        for left, right in zip(pairs["unique_id_l"], pairs["unique_id_r"], strict=True)
    ]

    assert len(pairs) == len(DATES) * (len(DATES) - 1) // 2
    assert in_process == pairs["gamma_date_of_birth"].tolist()
    assert set(in_process) == {0, 1, 2, 3}


def test_strong_conflicts_agree_with_splink(
    organisation_model: TrainedModel, organisations: tuple[pd.DataFrame, set[tuple[str, str]]]
) -> None:
    frame = organisations[0]
    pairs = predict_pairs(frame, organisation_model, threshold_weight=-1e9)
    records = frame.set_index("unique_id").to_dict("index")
    conflict = strong_identifier_conflict(organisation_model.profile, "organisation")

    for pair in pairs.to_dict("records"):
        left, right = records[pair["unique_id_l"]], records[pair["unique_id_r"]]
        expected = pair["gamma_tax_id"] == 0
        assert conflict("tax_id", left["tax_id"], right["tax_id"]) == expected

    assert (pairs["gamma_tax_id"] == 0).any()
