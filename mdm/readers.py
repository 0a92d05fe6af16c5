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
    """One data row of a file: its 1-based number among the data rows, and its cells or its error.

    A row whose cells cannot be read keeps its text as received in ``raw``, for the rejects file.
    A JSON line that is not an object has ``not_object`` set: it is well-formed, but not a record.
    """

    number: int
    cells: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None
    not_object: bool = False


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
        undecodable = [name for name in header if _undecodable(name)]
        if undecodable:
            raise InputFileError(f"{path.name}: the header row is not UTF-8 text")
        names = [name.strip() for name in header]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InputFileError(
                f"{path.name}: the header names {', '.join(map(repr, repeated))} twice or more"
            )
        return names
    if kind == "parquet":
        return list(_parquet_file(path).schema_arrow.names)

    seen: dict[str, None] = {}
    rows = 0
    for row in iter_rows(path):
        rows += 1
        if row.cells is not None:
            seen.update(dict.fromkeys(row.cells))
    if rows == 0:
        raise InputFileError(f"{path.name}: the file is empty, it has no JSON lines")
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
    # utf-8-sig reads files with and without a byte-order mark alike. Bytes that are not UTF-8
    # come through as lone surrogates, so that only their row is set aside, not the whole file.
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _undecodable(text: str) -> bool:
    return any("\udc80" <= character <= "\udcff" for character in text)


def _readable(text: str) -> str:
    # What a rejects file can hold: each byte that was not UTF-8 shown as U+FFFD.
    return "".join("\ufffd" if "\udc80" <= character <= "\udcff" else character for character in text)


def _not_utf8(header: list[str], cells: list[str]) -> str | None:
    for name, cell in zip(header, cells, strict=False):
        if _undecodable(cell):
            return f"is not UTF-8 text in column {_readable(name)!r}"
    return None


def _csv_rows(path: Path) -> Iterator[Row]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        for number, cells in enumerate(reader, start=1):
            if not cells:
                continue
            raw = _readable(",".join(cells))
            if len(cells) != len(header):
                yield Row(number, None, f"has {len(cells)} cells where the header has {len(header)}", raw)
                continue
            not_utf8 = _not_utf8(header, cells)
            if not_utf8 is not None:
                yield Row(number, None, not_utf8, raw)
                continue
            yield Row(number, dict(zip(header, cells, strict=True)))


def json_line(number: int, line: str) -> Row | None:
    """One line of JSON Lines text as a row, None for a blank line.

    The text is decoded with ``surrogateescape``, so that bytes that are not UTF-8 set aside their
    own line only.
    """
    if not line.strip():
        return None
    raw = _readable(line.rstrip("\r\n"))
    if _undecodable(line):
        return Row(number, None, "is not UTF-8 text", raw)
    try:
        cells = json.loads(line)
    except json.JSONDecodeError as error:
        return Row(number, None, f"is not valid JSON ({error.msg}, column {error.colno})", raw)
    except RecursionError:
        return Row(number, None, "nests deeper than the hub reads", raw)
    if not isinstance(cells, dict):
        return Row(number, None, "is not a JSON object", raw, not_object=True)
    return Row(number, cells)


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            row = json_line(number, line)
            if row is not None:
                yield row


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise InputFileError(f"{path.name}: not a readable Parquet file: {error}") from error


def _parquet_rows(path: Path) -> Iterator[Row]:
    parquet = _parquet_file(path)
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=10_000):
            for cells in batch.to_pylist():
                number += 1
                yield Row(number, cells)
    except OSError as error:  # a corrupt page: the rows before it were read, nothing after it can be
        raise InputFileError(f"{path.name}: Parquet data unreadable after row {number}: {error}") from error
