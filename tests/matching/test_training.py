"""Unsupervised training: a model that knows its parameters, its frozen frequencies and its history."""

from __future__ import annotations

import msgspec
import pandas as pd
import pytest

from matching.errors import MatchModelError
from matching.profile import MatchProfile
from matching.training import TrainedModel, train_model


def test_model_round_trips_through_json(person_model: TrainedModel) -> None:
    stored = person_model.to_json()

    loaded = TrainedModel.from_json(stored)

    assert loaded == person_model
    assert loaded.to_json() == stored


def test_broken_json_is_a_model_error() -> None:
    with pytest.raises(MatchModelError):
        TrainedModel.from_json(b'{"kind": "person"}')


def test_report_describes_training(person_model: TrainedModel, small_persons: pd.DataFrame) -> None:
    report = person_model.report

    assert report.kind == "person"
    assert report.records == len(small_persons)
    assert report.seed == 42
    assert 0 < report.probability_two_random_records_match < 0.01
    assert [em_pass.blocking for em_pass in report.em_passes] == [
        ("postal_code",),
        ("given_name", "family_name"),
    ]
    assert all(em_pass.iterations >= 1 for em_pass in report.em_passes)
    assert report.seconds > 0


def test_agreement_on_strong_fields_is_strong_evidence(person_model: TrainedModel) -> None:
    weights = {(level.comparison, level.gamma): level.match_weight for level in person_model.report.levels}

    exact_date = weights[("date_of_birth", 3)]
    other_date = weights[("date_of_birth", 0)]

    assert exact_date is not None and exact_date > 6
    assert other_date is not None and other_date < -2
    assert weights[("email", 2)] is None  # Febrl has no email: never observed, never trained


def test_term_frequencies_are_frozen_relative_frequencies(
    person_model: TrainedModel, small_persons: pd.DataFrame
) -> None:
    cities = small_persons["city"].dropna()
    common = cities.value_counts().index[0]

    frequency = person_model.term_frequency("city", common)

    assert frequency == pytest.approx(cities.value_counts().iloc[0] / len(cities))
    assert sum(person_model.term_frequencies["city"].values()) == pytest.approx(1.0)
    assert person_model.term_frequency("city", "nowhere at all") == pytest.approx(1 / len(cities))


def test_the_model_keeps_the_profile_it_was_trained_from(
    person_model: TrainedModel, profile: MatchProfile
) -> None:
    assert person_model.profile.strong == profile.person.strong
    assert person_model.auto_merge_weight == profile.person.thresholds.auto_merge_weight
    assert person_model.review_weight == profile.person.thresholds.review_weight
    assert person_model.splink_settings["link_type"] == "dedupe_only"


def test_too_few_records_cannot_train(profile: MatchProfile, small_persons: pd.DataFrame) -> None:
    with pytest.raises(MatchModelError) as raised:
        train_model(small_persons.iloc[:5], profile, "person")

    assert raised.value.field == "kind"


def test_missing_columns_are_named(profile: MatchProfile, small_persons: pd.DataFrame) -> None:
    with pytest.raises(MatchModelError) as raised:
        train_model(small_persons.drop(columns=["date_of_birth"]), profile, "person")

    assert raised.value.field == "date_of_birth"


@pytest.mark.slow
def test_training_with_one_seed_is_repeatable(profile: MatchProfile, small_persons: pd.DataFrame) -> None:
    training = msgspec.structs.replace(profile.person.training, u_max_pairs=2e5)
    kind_profile = msgspec.structs.replace(profile.person, training=training)

    first = train_model(small_persons, kind_profile, "person", seed=11)
    second = train_model(small_persons, kind_profile, "person", seed=11)

    # DuckDB sums in parallel, so floating point may differ in the last digits between runs.
    first_u = [level.u_probability or 0.0 for level in first.report.levels]
    second_u = [level.u_probability or 0.0 for level in second.report.levels]
    first_m = [level.m_probability or 0.0 for level in first.report.levels]
    second_m = [level.m_probability or 0.0 for level in second.report.levels]
    assert first_u == pytest.approx(second_u, rel=1e-9)
    assert first_m == pytest.approx(second_m, rel=1e-6)
    assert first.report.seed == 11
