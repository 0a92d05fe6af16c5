"""Pairwise accuracy on Febrl at the default auto-merge threshold: deduplication and two systems."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from matching.prediction import predict_pairs
from matching.profile import MatchProfile
from matching.training import TrainedModel, train_model

from .conftest import TEST_U_MAX_PAIRS, with_u_max_pairs


def _scores(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    true_positives = len(found & truth)
    precision = true_positives / len(found) if found else 0.0
    recall = true_positives / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if true_positives else 0.0
    return precision, recall, f1


@pytest.mark.slow
def test_febrl3_deduplication(
    febrl3_model: TrainedModel, febrl3: tuple[pd.DataFrame, set[tuple[str, str]]]
) -> None:
    frame, truth = febrl3
    started = time.perf_counter()

    pairs = predict_pairs(frame, febrl3_model, threshold_weight=febrl3_model.auto_merge_weight)
    found = set(zip(pairs["unique_id_l"], pairs["unique_id_r"], strict=True))

    precision, recall, f1 = _scores(found, truth)
    print(
        f"febrl3 P={precision:.4f} R={recall:.4f} F1={f1:.4f} "
        f"train={febrl3_model.report.seconds:.1f}s predict={time.perf_counter() - started:.1f}s"
    )
    assert precision >= 0.99
    assert f1 >= 0.99


@pytest.mark.slow
def test_febrl4_linkage_of_two_systems(
    profile: MatchProfile, febrl4: tuple[pd.DataFrame, set[tuple[str, str]]]
) -> None:
    frame, truth = febrl4
    started = time.perf_counter()

    model = train_model(frame, with_u_max_pairs(profile.person, TEST_U_MAX_PAIRS), "person")
    trained = time.perf_counter()
    pairs = predict_pairs(frame, model, threshold_weight=model.auto_merge_weight)
    cross = pairs[pairs["unique_id_l"].str[:2] != pairs["unique_id_r"].str[:2]]
    found = set(zip(cross["unique_id_l"], cross["unique_id_r"], strict=True))

    precision, recall, f1 = _scores(found, truth)
    print(
        f"febrl4 P={precision:.4f} R={recall:.4f} F1={f1:.4f} "
        f"train={trained - started:.1f}s predict={time.perf_counter() - trained:.1f}s"
    )
    assert precision >= 0.99
    assert f1 >= 0.99
