from __future__ import annotations

import random
from itertools import combinations
from pathlib import Path

import pytest

from mdm.errors import InputFileError
from mdm.evaluate import evaluate, evaluate_pairs, read_truth

# Three customers: A has three records, B two, C one.
TRUTH = {"crm/1": "A", "erp/1": "A", "billing/1": "A", "crm/2": "B", "erp/2": "B", "support/9": "C"}


def test_perfect_prediction_scores_one_everywhere() -> None:
    predicted = {key: f"C-{entity}" for key, entity in TRUTH.items()}

    result = evaluate(predicted, TRUTH)

    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert (result.true_positive_pairs, result.false_positive_pairs, result.false_negative_pairs) == (4, 0, 0)
    assert (result.cluster_precision, result.cluster_recall, result.cluster_f1) == (1.0, 1.0, 1.0)
    assert (result.predicted_clusters, result.true_clusters, result.exact_clusters) == (3, 3, 3)


def test_all_singletons_find_no_pair() -> None:
    predicted = {key: key for key in TRUTH}

    result = evaluate(predicted, TRUTH)

    assert result.precision == 1.0
    assert result.recall == 0.0
    assert result.f1 == 0.0
    assert (result.true_positive_pairs, result.false_positive_pairs, result.false_negative_pairs) == (0, 0, 4)
    assert result.exact_clusters == 1  # only C, a singleton in the truth too
    assert result.cluster_precision == pytest.approx(1 / 6)
    assert result.cluster_recall == pytest.approx(1 / 3)


def test_merging_two_customers_costs_precision_only() -> None:
    predicted = {key: "X" if entity in ("A", "B") else "Y" for key, entity in TRUTH.items()}

    result = evaluate(predicted, TRUTH)

    # Cluster X holds five records: 10 pairs, of which 3 + 1 are true.
    assert (result.true_positive_pairs, result.false_positive_pairs, result.false_negative_pairs) == (4, 6, 0)
    assert result.precision == pytest.approx(0.4)
    assert result.recall == 1.0
    assert result.f1 == pytest.approx(2 * 0.4 / 1.4)
    assert (result.exact_clusters, result.predicted_clusters, result.true_clusters) == (1, 2, 3)
    assert result.cluster_precision == pytest.approx(0.5)


def test_records_missing_from_prediction_are_singletons_and_unknown_ones_are_ignored() -> None:
    predicted = {key: f"C-{entity}" for key, entity in TRUTH.items() if key != "billing/1"}
    predicted["crm/404"] = "C-A"

    result = evaluate(predicted, TRUTH)

    assert result.missing_records == 1
    assert result.unknown_records == 1
    assert result.records == 6
    assert (result.true_positive_pairs, result.false_positive_pairs, result.false_negative_pairs) == (2, 0, 2)
    assert result.exact_clusters == 2
    assert result.predicted_clusters == 4


def _brute_force(predicted: dict[str, str], truth: dict[str, str]) -> tuple[int, int, int, int]:
    keys = sorted(truth)
    cluster = {key: predicted.get(key, f"missing:{key}") for key in keys}
    tp = fp = fn = 0
    for left, right in combinations(keys, 2):
        same_predicted = cluster[left] == cluster[right]
        same_entity = truth[left] == truth[right]
        tp += same_predicted and same_entity
        fp += same_predicted and not same_entity
        fn += same_entity and not same_predicted

    members: dict[str, frozenset[str]] = {}
    for key in keys:
        members[key] = frozenset(other for other in keys if cluster[other] == cluster[key])
    predicted_sets = set(members.values())
    true_sets = {frozenset(other for other in keys if truth[other] == truth[key]) for key in keys}
    return tp, fp, fn, len(predicted_sets & true_sets)


@pytest.mark.parametrize("seed", range(25))
def test_agrees_with_brute_force_pair_enumeration(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(1, 40)
    truth = {f"s/{index}": f"E{rng.randrange(max(1, size // 3))}" for index in range(size)}
    predicted = {key: f"C{rng.randrange(max(1, size // 2))}" for key in truth if rng.random() < 0.9}

    result = evaluate(predicted, truth)
    tp, fp, fn, exact = _brute_force(predicted, truth)

    assert (result.true_positive_pairs, result.false_positive_pairs, result.false_negative_pairs) == (
        tp,
        fp,
        fn,
    )
    assert result.exact_clusters == exact
    if tp + fp:
        assert result.precision == pytest.approx(tp / (tp + fp))
    if tp + fn:
        assert result.recall == pytest.approx(tp / (tp + fn))
    assert result.pairwise.f1 == result.f1


def test_evaluate_pairs_counts_each_unordered_pair_once() -> None:
    pairs = [
        ("crm/1", "erp/1"),
        ("erp/1", "crm/1"),
        ("crm/1", "crm/2"),
        ("crm/1", "crm/1"),
        ("crm/1", "nope/1"),
    ]

    scores = evaluate_pairs(pairs, TRUTH)

    assert (scores.true_positive_pairs, scores.false_positive_pairs, scores.false_negative_pairs) == (1, 1, 3)
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(0.25)


def test_evaluate_pairs_matches_cluster_scores_for_all_pairs_of_clusters() -> None:
    predicted = {key: "X" if entity in ("A", "B") else "Y" for key, entity in TRUTH.items()}
    pairs = [(left, right) for left, right in combinations(TRUTH, 2) if predicted[left] == predicted[right]]

    assert evaluate_pairs(pairs, TRUTH) == evaluate(predicted, TRUTH).pairwise


def test_read_truth_builds_source_keys(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("system,source_id,entity_id\ncrm,001A,E1\nbilling,cus_9,E1\n", encoding="utf-8")

    assert read_truth(path) == {"crm/001A": "E1", "billing/cus_9": "E1"}


@pytest.mark.parametrize(
    "content",
    [
        "system,source_id\ncrm,1\n",
        "system,source_id,entity_id\ncrm,,E1\n",
        "system,source_id,entity_id\ncrm,1,E1\ncrm,1,E2\n",
    ],
)
def test_read_truth_rejects_bad_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "truth.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(InputFileError):
        read_truth(path)


def test_a_truth_file_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("\ufeffsystem,source_id,entity_id\ncrm,1,E1\n", encoding="utf-8")

    assert read_truth(path) == {"crm/1": "E1"}
