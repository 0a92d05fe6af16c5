"""Record linkage for the hub: standardisation, match profiles, Splink training and prediction, scoring.

This package knows nothing of ``mdm``; it works on data frames and plain structs.
"""

from matching.clustering import Clustering, ClusteringCounts, Link, ReviewItem, cluster
from matching.comparisons import comparison_level, comparison_levels, strong_identifier_conflict
from matching.errors import MatchingError, MatchModelError, ProfileError
from matching.prediction import pair_columns, predict_pairs
from matching.profile import FieldComparison, KindProfile, Level, MatchProfile, load_profile, parse_profile
from matching.scorer import FieldScore, PairScore, Scorer, match_probability
from matching.standardise import clear_caches, standardise_frame, standardise_record
from matching.training import TrainedModel, TrainingReport, train_model

__all__ = [
    "Clustering",
    "ClusteringCounts",
    "FieldComparison",
    "FieldScore",
    "KindProfile",
    "Level",
    "Link",
    "MatchModelError",
    "MatchProfile",
    "MatchingError",
    "PairScore",
    "ProfileError",
    "ReviewItem",
    "Scorer",
    "TrainedModel",
    "TrainingReport",
    "clear_caches",
    "cluster",
    "comparison_level",
    "comparison_levels",
    "load_profile",
    "match_probability",
    "pair_columns",
    "parse_profile",
    "predict_pairs",
    "standardise_frame",
    "standardise_record",
    "strong_identifier_conflict",
    "train_model",
]
