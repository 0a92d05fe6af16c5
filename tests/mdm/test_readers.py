"""Reading files row by row: a row that cannot be read is set aside alone, with its text kept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mdm.errors import InputFileError
from mdm.loading import load_file
from mdm.mappings import read_mapping
from mdm.readers import columns_of, iter_rows


def test_a_row_that_is_not_utf8_is_set_aside_alone(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(b"Id,Name\n1,Acme\n2,M\xfcller GmbH\n3,Zenith\n")

    rows = list(iter_rows(path))

    assert [row.cells for row in rows] == [{"Id": "1", "Name": "Acme"}, None, {"Id": "3", "Name": "Zenith"}]
    assert rows[1].number == 2
    assert rows[1].error == "is not UTF-8 text in column 'Name'"
    assert rows[1].raw == "2,M\ufffdller GmbH"


def test_a_header_that_is_not_utf8_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(b"Id,N\xe4me\n1,Acme\n")

    with pytest.raises(InputFileError, match="header row is not UTF-8"):
        columns_of(path)


def test_unreadable_json_lines_keep_their_text(tmp_path: Path) -> None:
    path = tmp_path / "billing.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "b",\n[1, 2]\n{"id": "\xff"}\n{"id": "c"}\n')

    rows = list(iter_rows(path))

    assert [row.cells for row in rows] == [{"id": "a"}, None, None, None, {"id": "c"}]
    assert [row.raw for row in rows[1:4]] == ['{"id": "b",', "[1, 2]", '{"id": "\ufffd"}']
    assert rows[1].error is not None and rows[1].error.startswith("is not valid JSON (")
    assert rows[2].error == "is not a JSON object"
    assert rows[3].error == "is not UTF-8 text"


@pytest.mark.parametrize("content", [b"", b"KUNNR,NAME1\n1,Acme\n"])
def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "erp.parquet"
    path.write_bytes(content)

    with pytest.raises(InputFileError, match="not a readable Parquet file"):
        columns_of(path)
    with pytest.raises(InputFileError, match="not a readable Parquet file"):
        list(iter_rows(path))


def test_the_rejects_file_keeps_an_unreadable_rows_text(engine: Engine, tmp_path: Path) -> None:
    mapping_file = tmp_path / "billing.toml"
    mapping_file.write_text(
        'system = "billing"\nsource_id = "id"\n[kind]\nconstant = "organisation"\n[fields]\nname = "name"\n',
        encoding="utf-8",
    )
    path = tmp_path / "billing.jsonl"
    path.write_bytes(b'{"id": "1", "name": "Acme"}\n{"id": "2", "name": \n{"id": "3", "name": "Zenith"}\n')

    report = load_file(engine, path, read_mapping(mapping_file), rejects_dir=tmp_path / "rejects")

    assert (report.inserted, report.rejected) == (2, 1)
    assert report.rejects_file is not None
    with Path(report.rejects_file).open(encoding="utf-8", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert rejected[0]["row_number"] == "2"
    assert json.loads(rejected[0]["row"]) == {"raw": '{"id": "2", "name": '}


def test_a_header_naming_a_column_twice_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("Id,Email,Name,Email\n1,a@x.example,Acme,b@x.example\n", encoding="utf-8")

    with pytest.raises(InputFileError, match="'Email' twice"):
        columns_of(path)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_an_empty_json_lines_file_says_so(tmp_path: Path, content: str) -> None:
    path = tmp_path / "billing.jsonl"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(InputFileError, match="the file is empty"):
        columns_of(path)
