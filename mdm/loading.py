"""Loading one system's file: bad rows set aside with their reasons, good rows stored as versions.

A field whose mapping says ``missing`` for invalid values does not set its row aside: the row loads
without that field (its raw payload keeps the value as received) and the field is reported.

History is append-only. A row whose content is already stored for its key is a no-op, so loading
the same file twice changes nothing. A changed row becomes a new version; it becomes current only
when it is not older (by updated-at) than the current version. A snapshot load retires the
system's live records that the file no longer holds.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from mdm.errors import MissingColumnsError, RetirementGuardError
from mdm.logs import get_logger
from mdm.mappings import SourceMapping, plain_row
from mdm.readers import columns_of, iter_rows
from mdm.standardised import standardise_records
from mdm.storage.database import refresh_statistics
from mdm.storage.tables import LoadBatch, RejectedRow, SourceRecord, SourceRecordVersion
from mdm.storage.types import utc_now

log = get_logger(__name__)

LoadMode = Literal["delta", "snapshot"]
CHUNK = 5_000
RETIRE_GUARD_SHARE = 0.05


class Rejection(msgspec.Struct, frozen=True):
    """A row set aside: where it is, what is wrong, and the row as it came."""

    row_number: int
    source_id: str | None
    field: str | None
    code: str
    reason: str
    payload: dict[str, Any] | None = None


class FieldSetMissing(msgspec.Struct, frozen=True):
    """A field of a loaded row whose invalid value was set missing, as its mapping asks."""

    row_number: int
    source_id: str
    field: str
    code: str
    reason: str


class LoadReport(msgspec.Struct, kw_only=True):
    """What a load did, in counts, plus every rejected row, field set missing and repeated source id."""

    load_id: int
    system: str
    file: str
    mode: str
    rows_read: int = 0
    inserted: int = 0
    changed: int = 0
    stale: int = 0
    unchanged: int = 0
    retired: int = 0
    reactivated: int = 0
    rejections: list[Rejection] = msgspec.field(default_factory=list)
    set_missing: list[FieldSetMissing] = msgspec.field(default_factory=list)
    duplicate_source_ids: dict[str, list[int]] = msgspec.field(default_factory=dict)
    rejects_file: str | None = None
    warnings_file: str | None = None

    @property
    def rejected(self) -> int:
        """How many rows were set aside (a row with several errors counts once)."""
        return len({rejection.row_number for rejection in self.rejections})

    @property
    def fields_set_missing(self) -> int:
        """How many fields of loaded rows were set missing because their value was invalid."""
        return len(self.set_missing)


class GoodRow(msgspec.Struct):
    """A validated row, ready to store as a version of its source record."""

    row_number: int
    source_id: str
    kind: str
    canonical: dict[str, str | None]
    extra: dict[str, Any]
    payload: dict[str, Any]
    content_sha256: str
    updated_at: datetime | None
    set_missing: list[FieldSetMissing]


def load_file(
    engine: Engine,
    path: Path,
    mapping: SourceMapping,
    *,
    mode: LoadMode = "delta",
    allow_retire: bool = False,
    rejects_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load one file of one source system.

    Args:
        engine: the system of record.
        path: a CSV, JSON Lines or Parquet file, UTF-8 with or without a byte-order mark.
        mapping: the system's source mapping.
        mode: ``delta`` adds and changes records; ``snapshot`` also retires the absent ones.
        allow_retire: let a snapshot retire more than 5% of the system's live records.
        rejects_dir: where the rejects file and the warnings file (fields set missing) are written;
            each only when it has rows.
        progress: called with the number of rows handled after each chunk.

    Raises:
        MissingColumnsError: the file lacks mapped columns; nothing was loaded.
        RetirementGuardError: the snapshot would retire too many records; nothing was loaded.
    """
    missing = mapping.missing_columns(columns_of(path))
    if missing:
        raise MissingColumnsError(mapping.system, missing)

    good, report_rows = _validate(path, mapping)
    rejections, duplicates, rows_read = report_rows

    with engine.begin() as connection:
        retire_ids: list[int] = []
        if mode == "snapshot":
            present = {row.source_id for row in good} | {r.source_id for r in rejections if r.source_id}
            retire_ids = _snapshot_absentees(connection, mapping.system, present, allow_retire)

        load_id = _start_batch(connection, path, mapping.system, mode)
        report = LoadReport(load_id=load_id, system=mapping.system, file=path.name, mode=mode)
        report.rows_read = rows_read
        report.rejections = rejections
        report.set_missing = sorted(
            (warning for row in good for warning in row.set_missing), key=lambda warning: warning.row_number
        )
        report.duplicate_source_ids = duplicates

        touched: list[int] = []
        handled = 0
        for chunk in _chunks(good, CHUNK):
            touched.extend(store_rows(connection, mapping.system, load_id, chunk, report))
            handled += len(chunk)
            if progress:
                progress(handled)

        if retire_ids:
            _retire(connection, retire_ids)
            report.retired = len(retire_ids)

        standardise_records(connection, touched)
        _finish_batch(connection, report)

    if rejections and rejects_dir is not None:
        report.rejects_file = str(_write_rejects(rejects_dir, mapping.system, load_id, rejections))
    if report.set_missing and rejects_dir is not None:
        report.warnings_file = str(_write_warnings(rejects_dir, mapping.system, load_id, report.set_missing))

    refresh_statistics(engine, ["source_record", "source_record_version", "standardised_record"])
    log.info(
        "load.finished",
        system=mapping.system,
        load_id=load_id,
        rows=rows_read,
        inserted=report.inserted,
        changed=report.changed,
        unchanged=report.unchanged,
        rejected=report.rejected,
        fields_set_missing=report.fields_set_missing,
        retired=report.retired,
    )
    return report


def _validate(
    path: Path, mapping: SourceMapping
) -> tuple[list[GoodRow], tuple[list[Rejection], dict[str, list[int]], int]]:
    """Check every row; keep the good ones.

    Of rows repeating a source id, the one updated last wins (by updated-at; the later row when
    the times tie or are missing), so an out-of-order export never puts an old state on top.
    """
    by_source_id: dict[str, GoodRow] = {}
    seen_rows: dict[str, list[int]] = {}
    rejections: list[Rejection] = []
    rows_read = 0

    for row in iter_rows(path):
        rows_read += 1
        if row.cells is None:
            text = None if row.raw is None else {"raw": row.raw}
            rejections.append(
                Rejection(row.number, None, None, "row.unreadable", f"row {row.number} {row.error}", text)
            )
            continue

        payload = plain_row(row.cells)
        outcome = good_row(row.number, row.cells, payload, mapping)
        if isinstance(outcome, list):
            rejections.extend(outcome)
            continue

        seen_rows.setdefault(outcome.source_id, []).append(row.number)
        kept = by_source_id.get(outcome.source_id)
        if kept is None or not _older(outcome, kept):
            by_source_id.pop(outcome.source_id, None)
            by_source_id[outcome.source_id] = outcome

    # The winning row comes last in each list of repeated rows.
    duplicates = {
        source_id: [*(number for number in rows if number != by_source_id[source_id].row_number),
                    by_source_id[source_id].row_number]
        for source_id, rows in seen_rows.items()
        if len(rows) > 1
    }  # fmt: skip
    return list(by_source_id.values()), (rejections, duplicates, rows_read)


def _older(row: GoodRow, than: GoodRow) -> bool:
    """Whether a row says it was updated before another row of the same source id."""
    return row.updated_at is not None and than.updated_at is not None and row.updated_at < than.updated_at


MAX_SOURCE_ID = 256


def source_id_of(raw_id: Any) -> str | None:
    """A source id cell as text: trimmed, a whole float without its ``.0``; None if empty or not a scalar."""
    if raw_id is None or isinstance(raw_id, (list, tuple, dict, set)):
        return None
    source_id = str(raw_id).strip() or None
    if source_id is not None and source_id.endswith(".0") and isinstance(raw_id, float):
        source_id = source_id[:-2]
    return source_id


def good_row(
    number: int, cells: dict[str, Any], payload: dict[str, Any], mapping: SourceMapping
) -> GoodRow | list[Rejection]:
    """Turn one parsed row into a record to store, or into every rejection that says why not."""
    raw_id = cells.get(mapping.source_id)
    scalar = not isinstance(raw_id, (list, tuple, dict, set))
    source_id = source_id_of(raw_id)

    canonical, errors = mapping.canonical(cells)
    rejections = [
        Rejection(number, source_id, error.field, error.code, f"row {number}: {error.reason}", payload)
        for error in errors
        if not error.set_missing
    ]
    too_long = source_id is not None and len(source_id) > MAX_SOURCE_ID
    if too_long:
        length = len(source_id or "")
        reason = f"row {number}: the source id is {length} characters long, more than {MAX_SOURCE_ID}"
        rejections.insert(0, Rejection(number, None, "source_id", "source_id.too_long", reason, payload))
        source_id = None
    nul_columns = [column for column, value in payload.items() if isinstance(value, str) and "\x00" in value]
    if nul_columns:
        # PostgreSQL keeps no NUL character in text or JSON, so neither the record nor its rejection
        # can hold the row as received.
        reason = f"row {number}: column {nul_columns[0]!r} holds a NUL character"
        rejections = [msgspec.structs.replace(rejection, payload=None) for rejection in rejections]
        rejections.insert(0, Rejection(number, None, nul_columns[0], "value.nul", reason, None))
        payload = {}
    if too_long:
        return rejections
    if not scalar:
        reason = f"row {number}: the source id column {mapping.source_id!r} holds a {type(raw_id).__name__}"
        rejections.insert(0, Rejection(number, None, "source_id", "source_id.not_scalar", reason, payload))
    elif source_id is None:
        reason = f"row {number}: the source id column {mapping.source_id!r} is empty"
        rejections.insert(0, Rejection(number, None, "source_id", "source_id.missing", reason, payload))
    if not rejections and not _has_name(canonical):
        reason = f"row {number}: the record has no name of any kind"
        rejections.append(Rejection(number, source_id, "name", "name.missing", reason, payload))
    if rejections:
        return rejections

    assert source_id is not None
    extra = mapping.extra_of(cells)
    digest = hashlib.sha256(
        json.dumps([canonical, extra, payload], sort_keys=True, default=str).encode()
    ).hexdigest()
    updated = canonical.get("updated_at")
    return GoodRow(
        row_number=number,
        source_id=source_id,
        kind=str(canonical["kind"]),
        canonical=canonical,
        extra=extra,
        payload=payload,
        content_sha256=digest,
        updated_at=datetime.fromisoformat(updated) if updated else None,
        set_missing=[
            FieldSetMissing(number, source_id, error.field, error.code, f"row {number}: {error.reason}")
            for error in errors
            if error.set_missing
        ],
    )


def _has_name(canonical: dict[str, str | None]) -> bool:
    return any(canonical.get(field) for field in ("name", "legal_name", "given_name", "family_name"))


def _snapshot_absentees(
    connection: Connection, system: str, present: set[str], allow_retire: bool
) -> list[int]:
    """The live records a snapshot would retire, after checking the retirement guard."""
    live = connection.execute(
        select(SourceRecord.id, SourceRecord.source_id).where(
            SourceRecord.system == system, SourceRecord.retired_at.is_(None)
        )
    ).all()
    absent = [record_id for record_id, source_id in live if source_id not in present]
    if live and len(absent) > RETIRE_GUARD_SHARE * len(live) and not allow_retire:
        share = len(absent) / len(live)
        raise RetirementGuardError(
            f"the snapshot would retire {len(absent)} of {len(live)} live {system} records ({share:.1%}), "
            f"over the {RETIRE_GUARD_SHARE:.0%} guard; nothing was loaded. Pass --allow-retire if intended"
        )
    return absent


def _start_batch(connection: Connection, path: Path, system: str, mode: str) -> int:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    result = connection.execute(
        insert(LoadBatch).values(
            system=system,
            file_name=path.name,
            file_sha256=digest.hexdigest(),
            mode=mode,
            started_at=utc_now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def store_rows(
    connection: Connection, system: str, load_id: int | None, chunk: list[GoodRow], report: LoadReport
) -> list[int]:
    """Store good rows of one system as versions, counting each in ``report``.

    Returns:
        The ids of records whose current version changed (new, changed or reactivated).
    """
    now = utc_now()
    keys = [row.source_id for row in chunk]
    found = connection.execute(
        select(SourceRecord.id, SourceRecord.source_id, SourceRecord.current_version, SourceRecord.retired_at)
        .where(SourceRecord.system == system, SourceRecord.source_id.in_(keys))
    )  # fmt: skip
    existing = {source_id: (record_id, version, retired) for record_id, source_id, version, retired in found}
    current_of = {record_id: version for record_id, version, _ in existing.values()}
    record_ids = list(current_of)
    current_hash: dict[int, str] = {}
    latest: dict[int, int] = {}
    current_updated: dict[int, datetime | None] = {}
    if record_ids:
        for record_id, version, digest, updated in connection.execute(
            select(
                SourceRecordVersion.record_id,
                SourceRecordVersion.version,
                SourceRecordVersion.content_sha256,
                SourceRecordVersion.source_updated_at,
            ).where(SourceRecordVersion.record_id.in_(record_ids))
        ):
            latest[record_id] = max(latest.get(record_id, 0), version)
            if current_of[record_id] == version:
                current_updated[record_id] = updated
                current_hash[record_id] = digest

    new_rows = [row for row in chunk if row.source_id not in existing]
    if new_rows:
        connection.execute(
            insert(SourceRecord),
            [
                {"system": system, "source_id": row.source_id, "kind": row.kind, "current_version": 1,
                 "first_seen_at": now, "retired_at": None}
                for row in new_rows
            ],
        )  # fmt: skip
        ids = dict(
            connection.execute(
                select(SourceRecord.source_id, SourceRecord.id).where(
                    SourceRecord.system == system,
                    SourceRecord.source_id.in_([row.source_id for row in new_rows]),
                )
            ).all()
        )
        for row in new_rows:
            existing[row.source_id] = (ids[row.source_id], 0, None)
            latest[ids[row.source_id]] = 0
        report.inserted += len(new_rows)

    versions: list[dict[str, Any]] = []
    touched: list[int] = []
    for row in chunk:
        record_id, current, retired_at = existing[row.source_id]
        # Only the current version counts: a record sent back to an earlier content has changed.
        if row.content_sha256 == current_hash.get(record_id):
            if retired_at is not None:
                _reactivate(connection, record_id)
                report.reactivated += 1
                touched.append(record_id)
            else:
                report.unchanged += 1
            continue

        version = latest[record_id] + 1
        versions.append(_version_values(record_id, version, row, load_id, now))
        is_new = current == 0
        older = (
            not is_new
            and row.updated_at is not None
            and (current_updated.get(record_id) or row.updated_at) > row.updated_at
        )
        if older:
            report.stale += 1
            continue
        if not is_new:
            report.changed += 1
        connection.execute(
            update(SourceRecord)
            .where(SourceRecord.id == record_id)
            .values(current_version=version, kind=row.kind, retired_at=None)
        )
        touched.append(record_id)

    if versions:
        connection.execute(insert(SourceRecordVersion), versions)
    return touched


def _version_values(
    record_id: int, version: int, row: GoodRow, load_id: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "version": version,
        "content_sha256": row.content_sha256,
        "payload": row.payload,
        "canonical": row.canonical,
        "extra": row.extra,
        "source_updated_at": row.updated_at,
        "loaded_at": now,
        "load_id": load_id,
    }


def _reactivate(connection: Connection, record_id: int) -> None:
    connection.execute(update(SourceRecord).where(SourceRecord.id == record_id).values(retired_at=None))


def _retire(connection: Connection, record_ids: list[int]) -> None:
    now = utc_now()
    for chunk in _chunks(record_ids, CHUNK):
        connection.execute(update(SourceRecord).where(SourceRecord.id.in_(chunk)).values(retired_at=now))


def _finish_batch(connection: Connection, report: LoadReport) -> None:
    counts = {
        "rows_read": report.rows_read,
        "inserted": report.inserted,
        "changed": report.changed,
        "stale": report.stale,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
        "fields_set_missing": report.fields_set_missing,
        "retired": report.retired,
        "reactivated": report.reactivated,
        "duplicate_source_ids": len(report.duplicate_source_ids),
    }
    connection.execute(
        update(LoadBatch).where(LoadBatch.id == report.load_id).values(finished_at=utc_now(), counts=counts)
    )
    if report.rejections:
        connection.execute(
            insert(RejectedRow),
            [
                {"load_id": report.load_id, "row_number": r.row_number, "source_id": r.source_id,
                 "field": r.field, "code": r.code, "reason": r.reason}
                for r in report.rejections
            ],
        )  # fmt: skip


def _write_rejects(directory: Path, system: str, load_id: int, rejections: list[Rejection]) -> Path:
    """A CSV of every rejected row with its reason and the row as received."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{system}-load{load_id}-rejects.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row_number", "source_id", "field", "code", "reason", "row"])
        for r in rejections:
            row = json.dumps(r.payload, ensure_ascii=False, default=str) if r.payload else ""
            writer.writerow([r.row_number, r.source_id or "", r.field or "", r.code, r.reason, row])
    return path


def _write_warnings(directory: Path, system: str, load_id: int, warnings: list[FieldSetMissing]) -> Path:
    """A CSV of every field set missing in a loaded row; the raw payload in the hub keeps the value."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{system}-load{load_id}-warnings.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row_number", "source_id", "field", "code", "action", "reason"])
        for w in warnings:
            writer.writerow([w.row_number, w.source_id, w.field, w.code, "set_missing", w.reason])
    return path


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
