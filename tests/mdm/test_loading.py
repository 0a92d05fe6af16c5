"""Loading files: bad rows set aside with reasons, versions, idempotence, snapshot retirement."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from mdm.errors import MissingColumnsError, RetirementGuardError
from mdm.loading import load_file
from mdm.mappings import SourceMapping, read_mapping
from mdm.storage.tables import LoadBatch, SourceRecord, SourceRecordVersion, StandardisedRecord

MAPPING_TOML = """
system = "crm"
source_id = "Id"
priority = 1
timezone = "Europe/Berlin"

[kind]
column = "Type"
values = { organisation = ["Company"], person = ["Individual"] }

[fields]
name = "Name"
tax_id = "VAT"
country = "Country"
phone = "Phone"
date_of_birth = "DOB"
updated_at = "Modified"

[formats]
date_of_birth = ["%d/%m/%Y"]
updated_at = ["%Y-%m-%d %H:%M"]

[extra]
columns = ["Owner"]
"""

HEADER = ["Id", "Type", "Name", "VAT", "Country", "Phone", "DOB", "Modified", "Owner"]


def row(
    source_id: str, name: str = "Acme GmbH", modified: str = "2026-01-01 10:00", **cells: str
) -> dict[str, str]:
    values = {
        "Id": source_id, "Type": "Company", "Name": name, "VAT": "DE123456789", "Country": "Germany",
        "Phone": "030 1234567", "DOB": "", "Modified": modified, "Owner": "jo",
    }  # fmt: skip
    values.update(cells)
    return values


@pytest.fixture
def mapping(tmp_path: Path) -> SourceMapping:
    path = tmp_path / "crm.toml"
    path.write_text(MAPPING_TOML, encoding="utf-8")
    return read_mapping(path)


def write_csv(
    path: Path, rows: list[dict[str, str]], *, bom: bool = False, header: list[str] = HEADER
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def table_counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(SourceRecord)).scalar_one(),
            connection.execute(select(func.count()).select_from(SourceRecordVersion)).scalar_one(),
            connection.execute(select(func.count()).select_from(StandardisedRecord)).scalar_one(),
        )


def test_bad_rows_are_reported_and_set_aside(engine: Engine, mapping: SourceMapping, tmp_path: Path) -> None:
    rows = [
        row("1"),
        row("", name="No Id Ltd"),
        row("3", DOB="31/02/1990"),
        row("4", Type="Partnership"),
        row("5", name="", VAT=""),
        row("6", name="Beta AG"),
    ]
    path = write_csv(tmp_path / "crm.csv", rows)

    report = load_file(engine, path, mapping, rejects_dir=tmp_path / "rejects")

    assert report.rows_read == 6
    assert report.inserted == 2
    found = {(r.row_number, r.field, r.code) for r in report.rejections}
    assert found == {
        (2, "source_id", "source_id.missing"),
        (3, "date_of_birth", "date.unparseable"),
        (4, "kind", "kind.unknown"),
        (5, "name", "name.missing"),
    }
    assert report.rejects_file is not None
    with Path(report.rejects_file).open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [int(r["row_number"]) for r in written] == [2, 3, 4, 5]
    assert json.loads(written[1]["row"])["DOB"] == "31/02/1990"
    assert table_counts(engine) == (2, 2, 2)


def test_an_invalid_date_set_missing_loads_the_row_and_warns(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "crm.toml"
    path.write_text(MAPPING_TOML + '\n[invalid]\ndate_of_birth = "missing"\n', encoding="utf-8")
    lenient = read_mapping(path)
    rows = [
        row("1", Type="Individual", name="Ann Lee", DOB="02/03/1980"),
        row("2", Type="Individual", name="Bo Berg", DOB="31/02/1990"),
        row("3", Type="Partnership", DOB="31/02/1990"),
    ]
    csv_file = write_csv(tmp_path / "crm.csv", rows)

    with capture_logs() as logs:
        report = load_file(engine, csv_file, lenient, rejects_dir=tmp_path / "rejects")

    assert (report.inserted, report.rejected, report.fields_set_missing) == (2, 1, 1)
    assert [(r.row_number, r.field) for r in report.rejections] == [(3, "kind")]
    [warning] = report.set_missing
    assert (warning.row_number, warning.source_id, warning.field) == (2, "2", "date_of_birth")
    assert warning.code == "date.unparseable" and "row 2" in warning.reason

    with Session(engine) as session:
        versions = session.execute(select(SourceRecordVersion).order_by(SourceRecordVersion.id)).scalars()
        stored = {v.payload["Id"]: (v.canonical["date_of_birth"], v.payload["DOB"]) for v in versions}
        counts = session.execute(select(LoadBatch.counts)).scalar_one()
    assert stored == {"1": ("1980-03-02", "02/03/1980"), "2": (None, "31/02/1990")}
    assert counts["fields_set_missing"] == 1

    assert report.warnings_file is not None and report.rejects_file is not None
    with Path(report.warnings_file).open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [(w["row_number"], w["source_id"], w["field"], w["action"]) for w in written] == [
        ("2", "2", "date_of_birth", "set_missing")
    ]

    [finished] = [event for event in logs if event["event"] == "load.finished"]
    assert finished["fields_set_missing"] == 1
    assert "31/02/1990" not in repr(logs)


def test_an_invalid_date_rejects_its_row_by_default(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    csv_file = write_csv(
        tmp_path / "crm.csv", [row("1", Type="Individual", name="Bo Berg", DOB="31/02/1990")]
    )

    report = load_file(engine, csv_file, mapping, rejects_dir=tmp_path / "rejects")

    assert (report.inserted, report.rejected, report.fields_set_missing) == (0, 1, 0)
    assert [(r.row_number, r.field, r.code) for r in report.rejections] == [
        (1, "date_of_birth", "date.unparseable")
    ]
    assert report.warnings_file is None
    assert table_counts(engine) == (0, 0, 0)


def test_raw_payload_and_canonical_fields_are_stored(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "crm.csv", [row("1", Owner="  kept as is ")])
    load_file(engine, path, mapping)

    with Session(engine) as session:
        version = session.execute(select(SourceRecordVersion)).scalars().one()
    assert version.payload["Owner"] == "  kept as is "
    assert version.extra == {"Owner": "  kept as is "}
    assert version.canonical["kind"] == "organisation"
    # Naive times are read in the mapping's zone (Berlin, UTC+1 in January) and stored in UTC.
    assert version.canonical["updated_at"] == "2026-01-01T09:00:00+00:00"
    assert version.source_updated_at is not None and version.source_updated_at.hour == 9


def test_loading_the_same_file_twice_changes_nothing(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "crm.csv", [row("1"), row("2", name="Beta AG")])
    load_file(engine, path, mapping)
    before = table_counts(engine)

    again = load_file(engine, path, mapping)

    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 2)
    assert table_counts(engine) == before


def test_formats_and_byte_order_mark_read_alike(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    rows = [row("1", name="Müller GmbH"), row("2", name="Beta AG")]
    write_csv(tmp_path / "a.csv", rows, bom=True)
    with (tmp_path / "a.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")

    load_file(engine, tmp_path / "a.csv", mapping)
    for name in ("a.jsonl", "a.parquet"):
        report = load_file(engine, tmp_path / name, mapping)
        assert (report.inserted, report.changed, report.unchanged, report.rejected) == (0, 0, 2, 0), name


def test_parquet_lists_where_one_value_belongs_are_rejected(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    good, listed_name, listed_id = row("1"), row("2"), row("3")
    table = pa.table(
        {
            **{column: [good[column], listed_name[column], listed_id[column]] for column in HEADER},
            "Name": [["Acme GmbH"], ["Acme", "Zenith"], ["Beta AG"]],
            "Id": [["1"], ["2"], ["3", "4"]],
        }
    )
    pq.write_table(table, tmp_path / "crm.parquet")

    report = load_file(engine, tmp_path / "crm.parquet", mapping)

    assert (report.inserted, report.rejected) == (0, 3)
    assert {rejection.code for rejection in report.rejections} == {"value.not_scalar", "source_id.not_scalar"}
    assert table_counts(engine) == (0, 0, 0)


def test_a_file_missing_mapped_columns_loads_nothing(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "crm.csv", [row("1")], header=[h for h in HEADER if h not in {"VAT", "Owner"}]
    )

    with pytest.raises(MissingColumnsError) as raised:
        load_file(engine, path, mapping)

    assert raised.value.missing == ["VAT", "Owner"]
    assert table_counts(engine) == (0, 0, 0)


def test_repeated_source_id_is_reported_and_last_row_wins(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "crm.csv", [row("1", name="First AG"), row("2"), row("1", name="Last AG")])

    report = load_file(engine, path, mapping)

    assert report.duplicate_source_ids == {"1": [1, 3]}
    with engine.connect() as connection:
        names = connection.execute(select(SourceRecordVersion.canonical)).scalars().all()
    assert sorted(n["name"] for n in names) == ["Acme GmbH", "Last AG"]


def test_of_repeated_rows_the_one_updated_last_wins_wherever_it_stands(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    rows = [
        row("1", name="Newer AG", modified="2026-03-01 10:00"),
        row("1", name="Older AG", modified="2025-01-01 10:00"),
    ]
    path = write_csv(tmp_path / "crm.csv", rows)

    report = load_file(engine, path, mapping)

    assert report.duplicate_source_ids == {"1": [2, 1]}
    with engine.connect() as connection:
        names = connection.execute(select(SourceRecordVersion.canonical)).scalars().all()
    assert [n["name"] for n in names] == ["Newer AG"]


def test_changed_and_older_versions(engine: Engine, mapping: SourceMapping, tmp_path: Path) -> None:
    load_file(engine, write_csv(tmp_path / "v1.csv", [row("1", modified="2026-02-01 10:00")]), mapping)

    newer = load_file(
        engine,
        write_csv(tmp_path / "v2.csv", [row("1", name="Acme Neu GmbH", modified="2026-03-01 10:00")]),
        mapping,
    )
    older = load_file(
        engine,
        write_csv(tmp_path / "v0.csv", [row("1", name="Acme Alt GmbH", modified="2025-12-01 10:00")]),
        mapping,
    )

    assert (newer.changed, newer.stale) == (1, 0)
    assert (older.changed, older.stale) == (0, 1)
    with Session(engine) as session:
        record = session.execute(select(SourceRecord)).scalars().one()
        versions = session.execute(select(SourceRecordVersion.version)).scalars().all()
        current = session.execute(select(StandardisedRecord.name)).scalar_one()
    assert sorted(versions) == [1, 2, 3]
    assert record.current_version == 2
    assert current == "acme neu"


def test_snapshot_retires_absent_records_behind_a_guard(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    everyone = [row(str(i), name=f"Firm {i} AG") for i in range(40)]
    load_file(engine, write_csv(tmp_path / "all.csv", everyone), mapping)

    two_gone = write_csv(tmp_path / "most.csv", everyone[:38])
    assert load_file(engine, two_gone, mapping, mode="snapshot").retired == 2

    ten_gone = write_csv(tmp_path / "few.csv", everyone[:28])
    with pytest.raises(RetirementGuardError):
        load_file(engine, ten_gone, mapping, mode="snapshot")
    assert load_file(engine, ten_gone, mapping, mode="snapshot", allow_retire=True).retired == 10

    back = load_file(engine, write_csv(tmp_path / "back.csv", everyone[:1] + everyone[39:]), mapping)
    assert back.reactivated == 1
    with engine.connect() as connection:
        live = connection.execute(
            select(func.count()).select_from(SourceRecord).where(SourceRecord.retired_at.is_(None))
        ).scalar_one()
    assert live == 29


def test_over_long_ids_nul_characters_and_long_values_never_fail_the_load(
    engine: Engine, mapping: SourceMapping, tmp_path: Path
) -> None:
    rows = [
        row("x" * 300),
        row("2", name="Acme\x00 GmbH"),
        row("3", VAT="DE" + "123456789" * 22, Phone="+49 30 " + "1" * 60),
        row("4"),
    ]
    path = write_csv(tmp_path / "crm.csv", rows)

    report = load_file(engine, path, mapping, rejects_dir=tmp_path / "rejects")

    assert report.inserted == 2
    assert sorted((r.row_number, r.code) for r in report.rejections) == [
        (1, "source_id.too_long"),
        (2, "value.nul"),
    ]
    with engine.connect() as connection:
        stored = connection.execute(select(StandardisedRecord.tax_id)).scalars().all()
    assert any(value is not None and len(value) > 64 for value in stored)
