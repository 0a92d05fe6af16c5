"""Scoring one pair of standardised records in process, with the model's own weights.

Real-time matching scores a record against up to a few hundred candidates; Splink's own pair
scoring costs about 90 ms a call whatever the number of pairs, so the hub scores in plain Python.
The comparison levels come from ``matching.comparisons`` (equal to Splink's gamma), the weights
from Splink's reading of the model's JSON, and the term frequencies from the model's frozen
tables, exactly as bulk prediction uses them: a value the tables never saw gets the frequency of
a value seen once. A test holds this scorer and bulk prediction together to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from matching._splink import ResolvedLevel, ResolvedModel, resolve_model
from matching.comparisons import comparison_levels, is_missing
from matching.profile import NULL_GAMMA
from matching.training import TrainedModel

Record = Mapping[str, str | None]


class FieldScore(msgspec.Struct, frozen=True):
    """One comparison's part of a pair's score.

    Attributes:
        comparison: the compared field, or a group comparison's name.
        gamma: the comparison level, numbered as Splink's ``gamma_<field>`` (-1 for null).
        match_weight: the level's contribution, its term-frequency adjustment included.
    """

    comparison: str
    gamma: int
    match_weight: float


class PairScore(msgspec.Struct, frozen=True):
    """A pair's match weight (prior included), its probability, and the contribution of each comparison."""

    match_weight: float
    match_probability: float
    fields: tuple[FieldScore, ...]


class Scorer:
    """Scores pairs of standardised records with one trained model, without a database.

    Building a scorer reads the model's JSON through Splink once (about a second); scoring after
    that is plain Python.
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        self._resolved: ResolvedModel = resolve_model(model.splink_settings, model.profile, model.kind)
        self._term_frequency_fields = set(model.profile.term_frequency_fields)

    def score(self, record_a: Record, record_b: Record) -> PairScore:
        """Score two standardised records (missing keys count as missing values)."""
        levels = comparison_levels(self.model.profile, record_a, record_b)

        total = self._resolved.prior_match_weight
        fields = []
        for comparison in self.model.profile.comparisons:
            name = comparison.field
            gamma = levels[name]
            weight = 0.0
            if gamma != NULL_GAMMA:
                level = self._resolved.levels[name][gamma]
                weight = level.match_weight
                if level.tf_weight and name in self._term_frequency_fields:
                    weight += self._term_frequency_adjustment(name, level, record_a, record_b)
            total += weight
            fields.append(FieldScore(name, gamma, weight))
        return PairScore(total, match_probability(total), tuple(fields))

    def _term_frequency_adjustment(
        self, field: str, level: ResolvedLevel, record_a: Record, record_b: Record
    ) -> float:
        comparison = self.model.profile.comparison(field)
        frequencies = [
            self.model.term_frequency(field, value)
            for value in (record_a.get(field), record_b.get(field))
            if value is not None and not is_missing(comparison, value)
        ]
        if not frequencies:
            return 0.0
        return level.tf_weight * (level.tf_log2_u - math.log2(max(*frequencies, level.tf_minimum_u)))


def match_probability(match_weight: float) -> float:
    """The probability of a match weight, computed as Splink does to stay stable at the extremes."""
    if match_weight >= 0:
        odds_against: float = 2.0 ** (-match_weight)
        return 1.0 / (1.0 + odds_against)
    bayes_factor: float = 2.0**match_weight
    return bayes_factor / (1.0 + bayes_factor)
