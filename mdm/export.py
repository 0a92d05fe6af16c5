"""Exporting the live crosswalk and the current golden records as CSV or Parquet files.

Rows are streamed from the database in batches (a server-side cursor on PostgreSQL) and written
batch by batch through pyarrow, so an export of millions of rows holds one batch in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Engine, Executable, select

from mdm.errors import OutputFileError
from mdm.storage.tables import CrosswalkEntry, Customer, GoldenRecord
from mdm.survivorship import GOLDEN_FIELDS

ExportFormat = Literal["csv", "parquet"]
BATCH_ROWS: Final = 10_000

_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
CROSSWALK_SCHEMA: Final = pa.schema(
    [("system", pa.string()), ("source_id", pa.string()), ("canonical_id", pa.string()),
     ("valid_from", _TIMESTAMP)]
)  # fmt: skip
GOLDEN_SCHEMA: Final = pa.schema(
    [("canonical_id", pa.string()), ("version", pa.int32()), ("valid_from", _TIMESTAMP)]
    + [(field, pa.string()) for field in GOLDEN_FIELDS]
    + [("lineage", pa.string())]
)
"""Golden records: one column per golden attribute; lineage as a JSON object per row."""


class _Writer(Protocol):
    def write_batch(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


def export_crosswalk(
    engine: Engine, out: Path, file_format: ExportFormat, *, batch_rows: int = BATCH_ROWS
) -> int:
    """Write the live crosswalk: system, source_id, canonical_id and valid_from of every live source key.

    Args:
        engine: the system of record.
        out: the file to write; replaced when it exists.
        file_format: ``csv`` or ``parquet``.
        batch_rows: rows fetched and written at a time.

    Returns:
        The number of rows written.
    """
    return _write(
        engine, _crosswalk_query(), _crosswalk_columns, CROSSWALK_SCHEMA, out, file_format, batch_rows
    )


def export_golden(
    engine: Engine, out: Path, file_format: ExportFormat, *, batch_rows: int = BATCH_ROWS
) -> int:
    """Write the current golden record of every live customer, with its lineage as JSON.

    Args:
        engine: the system of record.
        out: the file to write; replaced when it exists.
        file_format: ``csv`` or ``parquet``.
        batch_rows: rows fetched and written at a time.

    Returns:
        The number of rows written.
    """
    return _write(engine, _golden_query(), _golden_columns, GOLDEN_SCHEMA, out, file_format, batch_rows)


def _write(  # noqa: PLR0917
    engine: Engine,
    query: Executable,
    to_columns: Callable[[Sequence[Any]], dict[str, list[Any]]],
    schema: pa.Schema,
    out: Path,
    file_format: ExportFormat,
    batch_rows: int,
) -> int:
    if not out.parent.is_dir():
        raise OutputFileError(f"cannot write {out}: the folder {out.parent} does not exist")
    written = 0
    try:
        writer: _Writer = (
            pa_csv.CSVWriter(out, schema) if file_format == "csv" else pq.ParquetWriter(out, schema)
        )
        try:
            for rows in _batches(engine, query, batch_rows):
                writer.write_batch(pa.RecordBatch.from_pydict(to_columns(rows), schema=schema))
                written += len(rows)
        finally:
            writer.close()
    except OSError as error:
        raise OutputFileError(f"cannot write {out}: {error.strerror or error}") from error
    return written


def _batches(engine: Engine, query: Executable, batch_rows: int) -> Iterator[Sequence[Any]]:
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
        yield from result.partitions()


def _crosswalk_query() -> Executable:
    return (
        select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.canonical_id,
               CrosswalkEntry.valid_from)
        .where(CrosswalkEntry.valid_to.is_(None))
        .order_by(CrosswalkEntry.system, CrosswalkEntry.source_id)
    )  # fmt: skip


def _golden_query() -> Executable:
    return (
        select(GoldenRecord.canonical_id, GoldenRecord.version, GoldenRecord.valid_from,
               GoldenRecord.attributes, GoldenRecord.lineage)
        .join(Customer, Customer.canonical_id == GoldenRecord.canonical_id)
        .where(GoldenRecord.valid_to.is_(None), Customer.status == "live")
        .order_by(GoldenRecord.canonical_id)
    )  # fmt: skip


def _crosswalk_columns(rows: Sequence[Any]) -> dict[str, list[Any]]:
    return {
        "system": [row.system for row in rows],
        "source_id": [row.source_id for row in rows],
        "canonical_id": [row.canonical_id for row in rows],
        "valid_from": [row.valid_from for row in rows],
    }


def _golden_columns(rows: Sequence[Any]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {
        "canonical_id": [row.canonical_id for row in rows],
        "version": [row.version for row in rows],
        "valid_from": [row.valid_from for row in rows],
    }
    for field in GOLDEN_FIELDS:
        columns[field] = [row.attributes.get(field) for row in rows]
    columns["lineage"] = [json.dumps(row.lineage, sort_keys=True, ensure_ascii=False) for row in rows]
    return columns
