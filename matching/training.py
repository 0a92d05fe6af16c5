"""Unsupervised training of one kind's match model with Splink on DuckDB.

The probability that two random records match comes from deterministic rules, u probabilities from
random pairs drawn with a stored seed, m probabilities from expectation maximisation over two or
more blocking passes. The result is a ``TrainedModel``: Splink's settings JSON, the term-frequency
tables frozen at training time, the kind's profile (thresholds, strong identifiers) and a report.
"""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import splink
import structlog
from splink import DuckDBAPI, Linker
from splink.internals.exceptions import EMTrainingException

from matching._splink import blocking_rule_sql, records_table, settings_creator
from matching.errors import MatchModelError
from matching.fields import Kind
from matching.profile import ELSE_GAMMA, KindProfile, MatchProfile

logger = structlog.get_logger(__name__)

MIN_TRAINING_RECORDS = 10


class LevelParameters(msgspec.Struct, frozen=True):
    """The trained parameters of one comparison level.

    Attributes:
        comparison: the compared field.
        gamma: Splink's comparison vector value of the level (0 is else).
        label: Splink's description of the level.
        m_probability: share of true matches in the level, None when EM never saw it.
        u_probability: share of non-matches in the level, None when u-sampling never saw it.
        match_weight: log2(m / u), None when either is unknown.
    """

    comparison: str
    gamma: int
    label: str
    m_probability: float | None
    u_probability: float | None
    match_weight: float | None


class ExpectationMaximisationPass(msgspec.Struct, frozen=True):
    """One EM pass: the fields it blocked on, how long it took to converge, and why it stopped early.

    Attributes:
        blocking: the fields the pass blocked on.
        iterations: iterations run; 0 when the pass was abandoned.
        seconds: wall time of the pass.
        abandoned: why the pass's estimates were not kept (Splink refused a parameter that
            underflowed); the parameters stay as the earlier passes left them. None when kept.
    """

    blocking: tuple[str, ...]
    iterations: int
    seconds: float
    abandoned: str | None = None


class TrainingReport(msgspec.Struct, frozen=True, kw_only=True):
    """What happened while training, kept with the model for operators and audits.

    Attributes:
        kind: the kind of customer the model is for.
        records: records trained on.
        seed: seed of u-sampling.
        u_max_pairs: random pairs drawn for u.
        probability_two_random_records_match: the prior (lambda) from deterministic rules.
        em_passes: the EM passes, in order.
        levels: trained parameters per comparison level.
        seconds: wall time of the whole training.
        splink_version: the Splink release that trained the model.
    """

    kind: Kind
    records: int
    seed: int
    u_max_pairs: float
    probability_two_random_records_match: float
    em_passes: tuple[ExpectationMaximisationPass, ...]
    levels: tuple[LevelParameters, ...]
    seconds: float
    splink_version: str


class TrainedModel(msgspec.Struct, frozen=True, kw_only=True):
    """A trained match model of one kind, ready to be stored, activated and used for prediction.

    Attributes:
        kind: the kind it matches.
        profile: the kind's profile it was trained from (comparisons, thresholds, strong ids).
        splink_settings: Splink's model JSON (``linker.misc.save_model_to_json()``).
        term_frequencies: per term-frequency field, value -> relative frequency at training time.
        term_frequency_floor: per term-frequency field, the frequency given to a value never seen
            in training: that of a value seen once.
        report: the training report.
    """

    kind: Kind
    profile: KindProfile
    splink_settings: dict[str, Any]
    term_frequencies: dict[str, dict[str, float]]
    term_frequency_floor: dict[str, float]
    report: TrainingReport

    @property
    def auto_merge_weight(self) -> float:
        """At or above this match weight a link is made automatically."""
        return self.profile.thresholds.auto_merge_weight

    @property
    def review_weight(self) -> float:
        """At or above this match weight (and below auto-merge) a pair goes to review."""
        return self.profile.thresholds.review_weight

    def term_frequency(self, field: str, value: str) -> float:
        """The frozen relative frequency of a value, or the floor for a value never seen.

        Raises:
            KeyError: when the field has no term-frequency adjustment.
        """
        return self.term_frequencies[field].get(value, self.term_frequency_floor[field])

    def to_json(self) -> bytes:
        """The model as JSON, for storage in the database."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> TrainedModel:
        """Read a model written by ``to_json``.

        Raises:
            MatchModelError: when the JSON is not a model.
        """
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.DecodeError as error:
            raise MatchModelError(f"stored match model cannot be read: {error}", field="model") from error


def train_model(
    frame: pd.DataFrame, profile: MatchProfile | KindProfile, kind: Kind, *, seed: int | None = None
) -> TrainedModel:
    """Train the match model of one kind without labels.

    Args:
        frame: standardised records (``unique_id``, ``kind`` and the profile's fields); rows of
            the other kind are ignored.
        profile: the whole match profile, or the kind's part of it.
        kind: ``organisation`` or ``person``.
        seed: seed of u-sampling; the profile's when None.

    Returns:
        The trained model.

    Raises:
        MatchModelError: when the records lack needed columns, are too few, or a rule or EM pass
            finds no pairs to learn from.
    """
    started = time.perf_counter()
    kind_profile = profile.for_kind(kind) if isinstance(profile, MatchProfile) else profile
    training = kind_profile.training
    seed = training.seed if seed is None else seed

    table = records_table(frame, kind_profile, kind)
    if table.num_rows < MIN_TRAINING_RECORDS:
        raise MatchModelError(f"{table.num_rows} {kind} records are too few to train on", field="kind")

    db_api = DuckDBAPI()
    records = db_api.register(table, dataset_display_name=f"{kind}_training")
    linker = Linker(records, settings_creator(kind_profile), log_level=None)

    prior = _estimate_prior(linker, kind_profile)
    linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=seed)
    passes = []
    for rule in training.em_blocking:
        # Splink set aside the pass's own comparisons while it runs; an abandoned pass leaves them
        # out, so the linker is rebuilt from the parameters as they stood before it.
        before = linker.misc.save_model_to_json()
        em_pass = _expectation_maximisation(linker, kind_profile, rule)
        if em_pass.abandoned is not None:
            linker = Linker(records, before, log_level=None)
        passes.append(em_pass)

    settings = linker.misc.save_model_to_json()
    frequencies, floors = _term_frequency_tables(table, kind_profile)
    seconds = time.perf_counter() - started
    report = TrainingReport(
        kind=kind,
        records=table.num_rows,
        seed=seed,
        u_max_pairs=training.u_max_pairs,
        probability_two_random_records_match=prior,
        em_passes=tuple(passes),
        levels=level_parameters(settings),
        seconds=seconds,
        splink_version=splink.__version__,
    )
    logger.info("match_model_trained", kind=kind, records=table.num_rows, seconds=round(seconds, 2))
    return TrainedModel(
        kind=kind,
        profile=kind_profile,
        splink_settings=settings,
        term_frequencies=frequencies,
        term_frequency_floor=floors,
        report=report,
    )


def _estimate_prior(linker: Linker, profile: KindProfile) -> float:
    rules = [blocking_rule_sql(rule, profile) for rule in profile.training.deterministic_rules]
    try:
        linker.training.estimate_probability_two_random_records_match(
            rules,  # type: ignore[arg-type]
            recall=profile.training.deterministic_recall,
        )
    except ValueError as error:
        raise MatchModelError(str(error), field="training.deterministic_recall") from error

    # Limitation: Splink 5 has no public getter for the estimated prior before the model is saved.
    prior = float(linker._settings_obj._probability_two_random_records_match)
    if prior <= 0:
        raise MatchModelError(
            "no pair satisfies any deterministic rule", field="training.deterministic_rules"
        )
    return prior


def _expectation_maximisation(
    linker: Linker, profile: KindProfile, rule: tuple[str, ...]
) -> ExpectationMaximisationPass:
    started = time.perf_counter()
    try:
        session = linker.training.estimate_parameters_using_expectation_maximisation(
            blocking_rule_sql(rule, profile)
        )
    except EMTrainingException as error:
        raise MatchModelError(
            f"EM pass blocked on {', '.join(rule)} found no pairs", field="training.em_blocking"
        ) from error
    except ValueError as error:
        # Splink refuses a parameter that underflows, e.g. a level that the pass's pairs show only
        # among non-matches. One such level must not fail the whole job: the pass is abandoned,
        # the earlier passes' estimates stand, and the report says so.
        logger.warning("em_pass_abandoned", blocking=",".join(rule), reason=str(error)[:200])
        return ExpectationMaximisationPass(
            blocking=rule, iterations=0, seconds=time.perf_counter() - started, abandoned=str(error)
        )

    # Limitation: Splink 5 keeps the per-iteration history only on a private attribute.
    iterations = len(session._core_model_settings_history)
    return ExpectationMaximisationPass(
        blocking=rule, iterations=iterations, seconds=time.perf_counter() - started
    )


def _term_frequency_tables(
    table: pa.Table, profile: KindProfile
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    frequencies: dict[str, dict[str, float]] = {}
    floors: dict[str, float] = {}
    for field in profile.term_frequency_fields:
        column = table.column(field).drop_null()
        present = len(column)
        counts = pc.value_counts(column).to_pylist()
        frequencies[field] = {entry["values"]: entry["counts"] / present for entry in counts}
        floors[field] = 1.0 / max(present, 1)
    return frequencies, floors


def level_parameters(settings: dict[str, Any]) -> tuple[LevelParameters, ...]:
    """The m, u and match weight of every non-null level of a Splink settings dictionary."""
    parameters: list[LevelParameters] = []
    for comparison in settings["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        for index, level in enumerate(levels):
            m = level.get("m_probability")
            u = level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            parameters.append(
                LevelParameters(
                    comparison=comparison["output_column_name"],
                    gamma=len(levels) - 1 - index + ELSE_GAMMA,
                    label=level.get("label_for_charts", level["sql_condition"]),
                    m_probability=m,
                    u_probability=u,
                    match_weight=weight,
                )
            )
    return tuple(parameters)


__all__ = [
    "ExpectationMaximisationPass",
    "LevelParameters",
    "TrainedModel",
    "TrainingReport",
    "train_model",
]
