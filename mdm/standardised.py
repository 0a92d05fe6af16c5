"""Keeping the standardised fields of current source versions, which matching reads, up to date."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.engine import Connection

from matching.fields import CANONICAL_FIELDS, STANDARDISED_FIELDS
from matching.standardise import standardise_frame, standardise_kind, standardise_record
from mdm.storage.tables import SourceRecord, SourceRecordVersion, StandardisedRecord

CHUNK = 5_000
FEW = 8
"""Up to this many records are standardised one by one; more go through the frame and its caches."""


def standardise_records(connection: Connection, record_ids: Sequence[int]) -> int:
    """Rebuild the standardised rows of the given records from their current versions.

    Returns how many rows were written.
    """
    written = 0
    for start in range(0, len(record_ids), CHUNK):
        written += len(_standardise_chunk(connection, list(record_ids[start : start + CHUNK])))
    return written


def standardise_one(connection: Connection, record_id: int) -> dict[str, str | None]:
    """Rebuild one record's standardised row, as a real-time write does; its standardised fields."""
    (values,) = _standardise_chunk(connection, [record_id])
    return {field: values[field] for field in STANDARDISED_FIELDS}


def _standardise_chunk(connection: Connection, chunk: list[int]) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(SourceRecord.id, SourceRecord.system, SourceRecord.source_id, SourceRecordVersion.version,
               SourceRecordVersion.canonical)
        .join(SourceRecordVersion, (SourceRecordVersion.record_id == SourceRecord.id)
              & (SourceRecordVersion.version == SourceRecord.current_version))
        .where(SourceRecord.id.in_(chunk))
    ).all()  # fmt: skip
    connection.execute(delete(StandardisedRecord).where(StandardisedRecord.record_id.in_(chunk)))
    values = list(_standardised_values(rows))
    if values:
        connection.execute(insert(StandardisedRecord), values)
    return values


def restandardise(engine: Engine) -> int:
    """Rebuild every standardised row from the stored canonical fields (after a rules change)."""
    with engine.begin() as connection:
        record_ids = list(connection.execute(select(SourceRecord.id).order_by(SourceRecord.id)).scalars())
        return standardise_records(connection, record_ids)


def _standardised_values(rows: Sequence[Any]) -> Iterator[dict[str, Any]]:
    if len(rows) <= FEW:
        # A real-time write standardises one record: building a frame would cost more than the rules.
        for record_id, _, _, version, canonical in rows:
            fields = standardise_record({field: canonical.get(field) for field in CANONICAL_FIELDS})
            kind = standardise_kind(canonical.get("kind"))
            yield {"record_id": record_id, "version": version, "kind": kind, **fields}
        return
    frame = pd.DataFrame(
        [
            {"unique_id": f"{system}/{source_id}", "source_system": system,
             **{field: canonical.get(field) for field in CANONICAL_FIELDS}}
            for _, system, source_id, _, canonical in rows
        ]
    )  # fmt: skip
    standardised = standardise_frame(frame)
    by_key = {row.unique_id: row for row in standardised.itertuples(index=False)}
    for record_id, system, source_id, version, _ in rows:
        found = by_key[f"{system}/{source_id}"]
        values: dict[str, Any] = {"record_id": record_id, "version": version, "kind": found.kind}
        for field in STANDARDISED_FIELDS:
            value = getattr(found, field)
            values[field] = None if value is None or (isinstance(value, float) and pd.isna(value)) else value
        yield values
