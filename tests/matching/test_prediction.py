"""Bulk prediction: scored pairs from a stored model, term frequencies frozen, kinds kept apart."""

from __future__ import annotations

from math import log2

import pandas as pd
import pytest

from matching.prediction import pair_columns, predict_pairs
from matching.training import TrainedModel


@pytest.fixture(scope="module")
def pairs(person_model: TrainedModel, small_persons: pd.DataFrame) -> pd.DataFrame:
    return predict_pairs(small_persons, person_model, threshold_weight=-10.0)


def test_pairs_have_ordered_ids_and_documented_columns(
    pairs: pd.DataFrame, person_model: TrainedModel
) -> None:
    assert list(pairs.columns) == pair_columns(person_model)
    assert len(pairs) > 0
    assert (pairs["unique_id_l"] < pairs["unique_id_r"]).all()
    assert not pairs.duplicated(["unique_id_l", "unique_id_r"]).any()


def test_only_pairs_at_or_above_the_threshold_are_kept(
    pairs: pd.DataFrame, person_model: TrainedModel, small_persons: pd.DataFrame
) -> None:
    threshold = float(pairs["match_weight"].median())

    kept = predict_pairs(small_persons, person_model, threshold_weight=threshold)

    assert (kept["match_weight"] >= threshold).all()
    assert len(kept) == int((pairs["match_weight"] >= threshold).sum())


def test_field_contributions_and_prior_add_up_to_the_match_weight(
    pairs: pd.DataFrame, person_model: TrainedModel
) -> None:
    prior = person_model.report.probability_two_random_records_match
    contributions = pairs[[column for column in pairs.columns if column.startswith("mw_")]].sum(axis=1)

    expected = contributions + log2(prior / (1 - prior))

    assert (expected - pairs["match_weight"]).abs().max() < 1e-9


def test_null_values_are_level_minus_one(pairs: pd.DataFrame) -> None:
    assert set(pairs["gamma_email"]) == {-1}
    assert (pairs.loc[pairs["gamma_email"] == -1, "mw_email"] == 0).all()


def test_term_frequency_adjustments_do_not_depend_on_the_batch(
    pairs: pd.DataFrame, person_model: TrainedModel, small_persons: pd.DataFrame
) -> None:
    pair = pairs.sort_values("match_weight").iloc[-1]
    batch = small_persons[small_persons["unique_id"].isin([pair["unique_id_l"], pair["unique_id_r"]])]

    alone = predict_pairs(batch, person_model, threshold_weight=-100.0)

    assert len(alone) == 1
    assert alone["match_weight"].iloc[0] == pytest.approx(pair["match_weight"])
    assert alone["mw_given_name"].iloc[0] == pytest.approx(pair["mw_given_name"])


def test_other_kinds_are_never_compared(person_model: TrainedModel, small_persons: pd.DataFrame) -> None:
    mixed = small_persons.copy()
    mixed.loc[mixed.index[::2], "kind"] = "organisation"

    persons_only = predict_pairs(mixed, person_model, threshold_weight=-100.0)
    person_ids = set(mixed.loc[mixed["kind"] == "person", "unique_id"])

    assert set(persons_only["unique_id_l"]) | set(persons_only["unique_id_r"]) <= person_ids


def test_a_batch_without_pairs_gives_an_empty_frame(
    person_model: TrainedModel, small_persons: pd.DataFrame
) -> None:
    single = predict_pairs(small_persons.iloc[:1], person_model, threshold_weight=0.0)

    assert single.empty
    assert list(single.columns) == pair_columns(person_model)


def test_organisations_from_two_systems_are_linked(
    organisation_model: TrainedModel, organisations: tuple[pd.DataFrame, set[tuple[str, str]]]
) -> None:
    frame, truth = organisations

    predicted = predict_pairs(
        frame, organisation_model, threshold_weight=organisation_model.auto_merge_weight
    )
    found = set(zip(predicted["unique_id_l"], predicted["unique_id_r"], strict=True))

    assert len(found & truth) / len(truth) >= 0.95
    assert len(found & truth) / len(found) >= 0.98
