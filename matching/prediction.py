"""Bulk prediction of scored pairs with Splink on DuckDB, from a stored match model.

Term frequencies come from the model's frozen tables, never from the batch: a value's adjustment
is the same whether a job scores ten records or ten million, and the same as in the in-process
scorer. A value never seen in training gets the floor frequency, that of a value seen once.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pandas as pd
import pyarrow as pa
import structlog
from splink import DuckDBAPI, Linker

from matching._splink import UNIQUE_ID, records_table
from matching.training import TrainedModel

logger = structlog.get_logger(__name__)

PAIR_COLUMNS = ("unique_id_l", "unique_id_r", "match_weight", "match_probability")


def pair_columns(model: TrainedModel) -> list[str]:
    """The columns of ``predict_pairs``'s result for a model, in order.

    The ids and scores, then ``gamma_<field>`` (comparison level, -1 for null) and
    ``mw_<field>`` (the field's contribution to the match weight, term-frequency adjustment
    included) for every compared field.
    """
    fields = [comparison.field for comparison in model.profile.comparisons]
    return [*PAIR_COLUMNS, *(f"gamma_{field}" for field in fields), *(f"mw_{field}" for field in fields)]


def predict_pairs(
    frame: pd.DataFrame, model: TrainedModel, *, threshold_weight: float | None = None
) -> pd.DataFrame:
    """Score the candidate pairs of a batch of records and keep those at or above a match weight.

    Args:
        frame: standardised records (``unique_id``, ``kind`` and the profile's fields); rows of
            the other kind are ignored, so organisations and persons are never compared.
        model: the trained model of the kind.
        threshold_weight: lowest match weight kept; the model's review threshold when None.

    Returns:
        One row per pair with ``unique_id_l < unique_id_r``, columns as ``pair_columns(model)``,
        sorted by the two ids.

    Raises:
        MatchModelError: when the records lack a column that the profile needs.
    """
    started = time.perf_counter()
    threshold = model.review_weight if threshold_weight is None else threshold_weight
    table = records_table(frame, model.profile, model.kind)
    columns = pair_columns(model)
    if table.num_rows < 2:
        return pd.DataFrame({column: pd.Series(dtype=_dtype(column)) for column in columns})

    db_api = DuckDBAPI()
    records = db_api.register(table, dataset_display_name=f"{model.kind}_records")
    linker = Linker(records, _prediction_settings(model), log_level=None)
    for field in model.profile.term_frequency_fields:
        lookup = db_api.register(_frozen_lookup(table, model, field), table_name=f"__mdm_tf_{field}")
        linker.table_management.register_term_frequency_lookup(lookup, field)

    predictions = linker.inference.predict(threshold_match_weight=threshold, warning_mode="never")
    pairs: pd.DataFrame = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    pairs = _contributions(pairs, model)[columns]
    pairs = _ordered(pairs).sort_values(["unique_id_l", "unique_id_r"], ignore_index=True)

    logger.info(
        "pairs_predicted",
        kind=model.kind,
        records=table.num_rows,
        pairs=len(pairs),
        seconds=round(time.perf_counter() - started, 2),
    )
    return pairs


def _prediction_settings(model: TrainedModel) -> dict[str, Any]:
    # Splink keeps comparison levels (gamma_*) only along with the compared values, and
    # per-field weights only with the intermediate columns; we select what we need afterwards.
    settings = copy.deepcopy(model.splink_settings)
    settings["retain_matching_columns"] = True
    settings["retain_intermediate_calculation_columns"] = True
    return settings


def _frozen_lookup(table: pa.Table, model: TrainedModel, field: str) -> pa.Table:
    values = sorted({value for value in table.column(field).to_pylist() if value is not None})
    frequencies = [model.term_frequency(field, value) for value in values]
    return pa.table(
        {field: pa.array(values, type=pa.string()), f"tf_{field}": pa.array(frequencies, type=pa.float64())}
    )


def _contributions(pairs: pd.DataFrame, model: TrainedModel) -> pd.DataFrame:
    # Splink reports a term-frequency adjustment apart (mw_tf_adj_<field>); a field's
    # contribution to the explanation is both together.
    for comparison in model.profile.comparisons:
        field = comparison.field
        adjustment = f"mw_tf_adj_{field}"
        if adjustment in pairs.columns:
            pairs[f"mw_{field}"] = pairs[f"mw_{field}"] + pairs[adjustment]
    return pairs


def _ordered(pairs: pd.DataFrame) -> pd.DataFrame:
    # Splink's dedupe blocking already puts the smaller id left; kept true here whatever it does.
    swap = pairs["unique_id_l"] > pairs["unique_id_r"]
    if swap.any():
        left = pairs.loc[swap, "unique_id_l"].copy()
        pairs.loc[swap, "unique_id_l"] = pairs.loc[swap, "unique_id_r"]
        pairs.loc[swap, "unique_id_r"] = left
    return pairs


def _dtype(column: str) -> str:
    if column.startswith(UNIQUE_ID):
        return "object"
    return "int64" if column.startswith("gamma_") else "float64"
