"""Exporting the live crosswalk and the current golden records as CSV and Parquet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine
from typer.testing import Result

from mdm.export import ExportFormat, export_crosswalk, export_golden
from mdm.survivorship import GOLDEN_FIELDS


def read_back(path: Path, file_format: ExportFormat) -> pa.Table:
    if file_format == "parquet":
        return pq.read_table(path)
    return pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(strings_can_be_null=True))


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_the_crosswalk_export_holds_every_live_source_key(
    engine: Engine, small_hub: dict[str, str], tmp_path: Path, file_format: ExportFormat
) -> None:
    path = tmp_path / f"crosswalk.{file_format}"

    rows = export_crosswalk(engine, path, file_format, batch_rows=4)

    table = read_back(path, file_format)
    assert rows == table.num_rows == 6
    assert table.column_names == ["system", "source_id", "canonical_id", "valid_from"]
    keys = {f"{row['system']}/{row['source_id']}": row["canonical_id"] for row in table.to_pylist()}
    acme, bolt, crane = small_hub["acme"], small_hub["bolt"], small_hub["crane"]
    assert keys == {
        "crm/1": acme,
        "crm/3": acme,
        "crm/2": bolt,
        "crm/4": bolt,
        "erp/1": crane,
        "erp/2": crane,
    }
    assert all(row["valid_from"].tzinfo is not None for row in table.to_pylist())


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_the_golden_export_holds_live_customers_with_lineage(
    engine: Engine, small_hub: dict[str, str], tmp_path: Path, file_format: ExportFormat
) -> None:
    path = tmp_path / f"golden.{file_format}"

    rows = export_golden(engine, path, file_format, batch_rows=2)

    table = read_back(path, file_format)
    assert rows == table.num_rows == 3
    assert table.column_names == ["canonical_id", "version", "valid_from", *GOLDEN_FIELDS, "lineage"]
    by_id = {row["canonical_id"]: row for row in table.to_pylist()}
    assert sorted(by_id) == sorted([small_hub["acme"], small_hub["bolt"], small_hub["crane"]])
    crane = by_id[small_hub["crane"]]
    assert (crane["name"], crane["email"], crane["website"]) == ("Crane Ltd", "hello@crane.example", None)
    lineage = json.loads(crane["lineage"])
    assert lineage["name"] == {
        "source_key": "erp/1",
        "system": "erp",
        "version": 1,
        "rule": "source_priority",
    }
    assert lineage["email"]["source_key"] == "erp/2"


def test_an_empty_hub_exports_a_file_with_only_its_columns(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "golden.parquet"

    assert export_golden(engine, path, "parquet") == 0
    assert pq.read_table(path).num_rows == 0


def test_the_export_command_writes_the_file(
    run_cli: Callable[..., Result], small_hub: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "crosswalk.parquet"

    result = run_cli("export", "--what", "crosswalk", "--format", "parquet", "--out", str(path))

    assert result.exit_code == 0, result.output
    assert "6 crosswalk rows written" in result.output
    assert pq.read_table(path).num_rows == 6
