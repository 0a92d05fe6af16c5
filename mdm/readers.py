"""Reading source files (CSV, JSON Lines, Parquet) as numbered rows, without losing a bad one."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.parquet as pq

from mdm.errors import InputFileError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


class Row(msgspec.Struct, frozen=True):
    """One data row of a file: its 1-based number among the data rows, and its cells or its error."""

    number: int
    cells: dict[str, Any] | None
    error: str | None = None


def file_format(path: Path) -> str:
    """The format of a file by its extension."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise InputFileError(f"{path.name}: unknown file type {path.suffix!r} (known: {known})") from None


def columns_of(path: Path) -> list[str]:
    """The columns a file has: its header, its schema, or every key seen in its JSON lines."""
    kind = file_format(path)
    if kind == "csv":
        with _open_text(path) as handle:
            header = next(csv.reader(handle), None)
        if header is None:
            raise InputFileError(f"{path.name}: the file is empty, it has no header row")
        return [name.strip() for name in header]
    if kind == "parquet":
        return list(pq.read_schema(path).names)

    seen: dict[str, None] = {}
    for row in iter_rows(path):
        if row.cells is not None:
            seen.update(dict.fromkeys(row.cells))
    return list(seen)


def iter_rows(path: Path) -> Iterator[Row]:
    """Every data row of a file, in order; a row that cannot be parsed comes with its error."""
    kind = file_format(path)
    if kind == "csv":
        yield from _csv_rows(path)
    elif kind == "jsonl":
        yield from _jsonl_rows(path)
    else:
        yield from _parquet_rows(path)


def _open_text(path: Path) -> Any:
    # utf-8-sig reads files with and without a byte-order mark alike.
    return path.open(encoding="utf-8-sig", newline="")


def _csv_rows(path: Path) -> Iterator[Row]:
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            for number, cells in enumerate(reader, start=1):
                if not cells:
                    continue
                if len(cells) != len(header):
                    error = f"has {len(cells)} cells where the header has {len(header)}"
                    yield Row(number, None, error)
                    continue
                yield Row(number, dict(zip(header, cells, strict=True)))
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path.name}: not UTF-8 text ({error.reason} at byte {error.start})") from error


def _jsonl_rows(path: Path) -> Iterator[Row]:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    cells = json.loads(line)
                except json.JSONDecodeError as error:
                    yield Row(number, None, f"is not valid JSON: {error.msg} at column {error.colno}")
                    continue
                if not isinstance(cells, dict):
                    yield Row(number, None, "is not a JSON object")
                    continue
                yield Row(number, cells)
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path.name}: not UTF-8 text ({error.reason} at byte {error.start})") from error


def _parquet_rows(path: Path) -> Iterator[Row]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:
        raise InputFileError(f"{path.name}: not a readable Parquet file: {error}") from error

    number = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for cells in batch.to_pylist():
            number += 1
            yield Row(number, cells)
