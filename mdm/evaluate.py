"""Compare predicted clusters (or predicted pairs) of source records with the truth.

Records are named by their source key, ``system/source_id``. The truth maps each key to the id of
the true customer (entity); a prediction maps each key to a cluster id. Scores are computed on
the keys of the truth only:

* a key in the truth but missing from the prediction counts as a singleton cluster of its own;
* a key in the prediction but not in the truth (a rejected row, a record the truth does not
  know) is left out of every score and only counted in ``unknown_records``.

Pairwise scores count unordered pairs of records placed in one cluster. They come from the
contingency table of (cluster, entity) sizes, so a million records cost a million dictionary
updates, not a trillion pair comparisons. When nothing is predicted, precision is 1.0 (no wrong
claim was made); when the truth holds no pairs, recall is 1.0 (nothing was there to find).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import msgspec

from mdm.errors import InputFileError

TRUTH_COLUMNS = ("system", "source_id", "entity_id")


class PairwiseScores(msgspec.Struct, frozen=True, kw_only=True):
    """Precision, recall and F1 over pairs of records said to be the same customer.

    Attributes:
        precision: Share of predicted pairs that are true pairs.
        recall: Share of true pairs that were predicted.
        f1: Harmonic mean of precision and recall.
        true_positive_pairs: Predicted pairs of one entity.
        false_positive_pairs: Predicted pairs of two entities.
        false_negative_pairs: True pairs not predicted.
    """

    precision: float
    recall: float
    f1: float
    true_positive_pairs: int
    false_positive_pairs: int
    false_negative_pairs: int


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """How well predicted clusters reproduce the true customers.

    Attributes:
        precision: Pairwise precision.
        recall: Pairwise recall.
        f1: Pairwise F1.
        true_positive_pairs: Pairs in one predicted cluster and one entity.
        false_positive_pairs: Pairs in one predicted cluster but two entities.
        false_negative_pairs: Pairs of one entity split over two predicted clusters.
        cluster_precision: Share of predicted clusters that equal a true cluster exactly.
        cluster_recall: Share of true clusters that some predicted cluster equals exactly.
        cluster_f1: Harmonic mean of the two.
        predicted_clusters: Predicted clusters, counted over truth keys (singletons included).
        true_clusters: Entities in the truth.
        exact_clusters: Predicted clusters that equal a true cluster.
        records: Keys in the truth, the records that were scored.
        missing_records: Keys of the truth absent from the prediction (scored as singletons).
        unknown_records: Keys of the prediction absent from the truth (not scored).
    """

    precision: float
    recall: float
    f1: float
    true_positive_pairs: int
    false_positive_pairs: int
    false_negative_pairs: int
    cluster_precision: float
    cluster_recall: float
    cluster_f1: float
    predicted_clusters: int
    true_clusters: int
    exact_clusters: int
    records: int
    missing_records: int
    unknown_records: int

    @property
    def pairwise(self) -> PairwiseScores:
        """The pairwise part of the evaluation on its own."""
        return PairwiseScores(
            precision=self.precision,
            recall=self.recall,
            f1=self.f1,
            true_positive_pairs=self.true_positive_pairs,
            false_positive_pairs=self.false_positive_pairs,
            false_negative_pairs=self.false_negative_pairs,
        )


def evaluate(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Evaluation:
    """Score predicted clusters against the truth, pairwise and cluster by cluster.

    Args:
        predicted: Source key to predicted cluster id (e.g. a canonical id).
        truth: Source key to entity id.

    Returns:
        The scores; see the module docstring for keys present on one side only.
    """
    contingency: Counter[tuple[object, str]] = Counter()
    missing = 0
    for key, entity in truth.items():
        cluster = predicted.get(key)
        if cluster is None:
            missing += 1
            contingency[(("missing", key), entity)] += 1
        else:
            contingency[(cluster, entity)] += 1
    unknown = sum(key not in truth for key in predicted)

    cluster_sizes: Counter[object] = Counter()
    entity_sizes: Counter[str] = Counter()
    for (cluster_id, entity_id), count in contingency.items():
        cluster_sizes[cluster_id] += count
        entity_sizes[entity_id] += count

    true_positive = sum(_pairs(count) for count in contingency.values())
    predicted_pairs = sum(_pairs(size) for size in cluster_sizes.values())
    true_pairs = sum(_pairs(size) for size in entity_sizes.values())
    pairwise = _scores(true_positive, predicted_pairs - true_positive, true_pairs - true_positive)

    exact = sum(
        count == cluster_sizes[cluster] == entity_sizes[entity]
        for (cluster, entity), count in contingency.items()
    )
    cluster_precision = exact / len(cluster_sizes) if cluster_sizes else 1.0
    cluster_recall = exact / len(entity_sizes) if entity_sizes else 1.0
    return Evaluation(
        precision=pairwise.precision,
        recall=pairwise.recall,
        f1=pairwise.f1,
        true_positive_pairs=pairwise.true_positive_pairs,
        false_positive_pairs=pairwise.false_positive_pairs,
        false_negative_pairs=pairwise.false_negative_pairs,
        cluster_precision=cluster_precision,
        cluster_recall=cluster_recall,
        cluster_f1=_harmonic_mean(cluster_precision, cluster_recall),
        predicted_clusters=len(cluster_sizes),
        true_clusters=len(entity_sizes),
        exact_clusters=exact,
        records=len(truth),
        missing_records=missing,
        unknown_records=unknown,
    )


def evaluate_pairs(pairs: Iterable[tuple[str, str]], truth: Mapping[str, str]) -> PairwiseScores:
    """Score a set of predicted pairs (e.g. auto-merge links plus review items) against the truth.

    Pairs are unordered and counted once; a pair of a key with itself, or with a key the truth
    does not know, is ignored. No transitive closure is taken: recall is the share of true pairs
    named directly.

    Args:
        pairs: Predicted pairs of source keys.
        truth: Source key to entity id.

    Returns:
        Pairwise precision, recall and F1 with their counts.
    """
    distinct = {
        (left, right) if left < right else (right, left)
        for left, right in pairs
        if left != right and left in truth and right in truth
    }
    true_positive = sum(truth[left] == truth[right] for left, right in distinct)
    true_pairs = sum(_pairs(size) for size in Counter(truth.values()).values())
    return _scores(true_positive, len(distinct) - true_positive, true_pairs - true_positive)


def read_truth(path: Path) -> dict[str, str]:
    """Read a truth file (CSV with columns system, source_id, entity_id) into key -> entity id.

    Raises:
        InputFileError: When a column is missing, a value is empty, a source key repeats or there
            are no rows.
    """
    truth: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in TRUTH_COLUMNS if column not in (reader.fieldnames or ())]
        if missing:
            raise InputFileError(
                f"truth file {path.name} lacks columns: {', '.join(missing)}", field=missing[0]
            )

        for row_number, row in enumerate(reader, start=2):
            system, source_id, entity = (row[column] or "" for column in TRUTH_COLUMNS)
            if not (system and source_id and entity):
                raise InputFileError(f"empty value in truth file {path.name}", record=f"row {row_number}")
            key = f"{system}/{source_id}"
            if key in truth:
                raise InputFileError(f"source key repeats in truth file {path.name}", record=key)
            truth[key] = entity
    if not truth:
        raise InputFileError(f"truth file {path.name} has no rows: there is nothing to score against")
    return truth


def _pairs(size: int) -> int:
    return size * (size - 1) // 2


def _harmonic_mean(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _scores(true_positive: int, false_positive: int, false_negative: int) -> PairwiseScores:
    predicted = true_positive + false_positive
    actual = true_positive + false_negative
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    return PairwiseScores(
        precision=precision,
        recall=recall,
        f1=_harmonic_mean(precision, recall),
        true_positive_pairs=true_positive,
        false_positive_pairs=false_positive,
        false_negative_pairs=false_negative,
    )
