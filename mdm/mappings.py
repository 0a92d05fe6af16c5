"""Source mappings: declarative TOML that turns a system's own columns into canonical fields."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from matching.fields import CANONICAL_FIELDS, KINDS
from mdm.errors import MappingError, UnknownSystemError

DATE_FIELDS = frozenset({"date_of_birth"})
TIME_FIELDS = frozenset({"updated_at"})
# Dates of birth outside these bounds are placeholders or typos (0001-01-01, 2199-01-01).
EARLIEST_BIRTH = date(1900, 1, 1)
# How far a source system's clock may run ahead before its updated-at counts as wrong.
CLOCK_SKEW = timedelta(days=1)
DEFAULT_DATE_FORMATS = ("%Y-%m-%d",)
DEFAULT_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")

# What an invalid value of a field does to its row: reject the row (the default), or load the row
# with that field missing. Only parsed fields can be invalid, and a row cannot load without these.
INVALID_ACTIONS = ("reject", "missing")
REQUIRED_FIELDS = ("source_id", "kind")


class FieldError(msgspec.Struct, frozen=True):
    """One field of one row that could not be turned into its canonical value.

    Attributes:
        field: the canonical field at fault.
        code: stable machine-readable reason, e.g. ``date.unparseable``.
        reason: what is wrong, for the operator; it may quote the value as received.
        set_missing: the mapping loads the row with this field missing instead of rejecting it.
    """

    field: str
    code: str
    reason: str
    set_missing: bool = False


class KindRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a record's kind comes from: a constant, or a column whose values name it."""

    column: str | None = None
    values: dict[str, list[str]] = msgspec.field(default_factory=dict)
    constant: str | None = None


class ExtraColumns(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Columns kept whole as extra attributes."""

    columns: list[str] = msgspec.field(default_factory=list)


MAX_VALUE: Final = 1_000
"""The longest value a field may hold, in characters: far beyond any real one, and within what
PostgreSQL can index (a longer tax id or name failed the write)."""
# C0 and C1 controls other than tab, line feed and carriage return (NUL has its own rejection),
# and the bidirectional overrides and isolates, which would rewrite how a screen shows the text.
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _text_fault(value: str) -> tuple[str, str] | None:
    """Why a text value cannot be stored as a field, as (code, reason); None when it can."""
    if len(value) > MAX_VALUE:
        return "value.too_long", f"holds {len(value):,} characters, more than {MAX_VALUE:,}"
    control = _CONTROL.search(value)
    if control is not None:
        return "value.control", f"holds the control character U+{ord(control.group()):04X}"
    return None


class SourceMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How one source system's files map to canonical customer fields.

    Attributes:
        system: the source system's name, lower case.
        source_id: the column holding the system's own record id.
        priority: survivorship source priority; 1 is the most trusted.
        timezone: IANA zone of timestamps in this system's files that carry no offset.
        kind: where each record's kind (organisation or person) comes from.
        fields: canonical field -> source column.
        formats: strptime formats, tried in order, for date and time fields.
        extra: other columns kept whole.
        invalid: canonical field -> what an invalid value of it does: ``reject`` the row (the
            default), or load the row with the field ``missing`` and report it as a warning.
    """

    system: str
    source_id: str
    kind: KindRule
    fields: dict[str, str]
    priority: int = 100
    timezone: str = "UTC"
    formats: dict[str, list[str]] = msgspec.field(default_factory=dict)
    extra: ExtraColumns = msgspec.field(default_factory=ExtraColumns)
    invalid: dict[str, str] = msgspec.field(default_factory=dict)

    def check(self) -> SourceMapping:
        """Check what the types alone cannot; returns the mapping, or raises MappingError."""
        unknown = sorted(set(self.fields) - set(CANONICAL_FIELDS))
        if unknown:
            raise MappingError(f"unknown canonical fields: {', '.join(unknown)}", field="fields")
        if (self.kind.column is None) == (self.kind.constant is None):
            raise MappingError("kind needs exactly one of `column` or `constant`", field="kind")
        if self.kind.constant is not None and self.kind.constant not in KINDS:
            raise MappingError(f"kind constant must be one of {', '.join(KINDS)}", field="kind.constant")
        if self.kind.column is not None and not set(self.kind.values) <= set(KINDS):
            raise MappingError(f"kind values must be keyed by {', '.join(KINDS)}", field="kind.values")
        bad_formats = sorted(set(self.formats) - DATE_FIELDS - TIME_FIELDS)
        if bad_formats:
            names = ", ".join(bad_formats)
            raise MappingError(f"formats only apply to date fields: {names}", field="formats")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise MappingError(f"unknown time zone {self.timezone!r}", field="timezone") from error
        if not self.source_id.strip():
            raise MappingError("source_id must name the column of the system's record id", field="source_id")
        self._check_invalid()
        return self

    def _check_invalid(self) -> None:
        """Check the ``[invalid]`` section; every problem in it is reported at once."""
        problems: dict[str, str] = {}
        for field, action in self.invalid.items():
            key = f"invalid.{field}"
            if field not in CANONICAL_FIELDS and field not in REQUIRED_FIELDS:
                problems[key] = f"{key}: unknown field {field!r}"
            elif action not in INVALID_ACTIONS:
                problems[key] = f'{key}: unknown action {action!r}, use "reject" (the default) or "missing"'
            elif action == "reject":
                continue
            elif field in REQUIRED_FIELDS:
                problems[key] = (
                    f'{key}: {field} is required and cannot be "missing"; a row without it is rejected'
                )
            elif field not in self.fields:
                problems[key] = f"{key}: {field} is not mapped under [fields]"
            elif field not in DATE_FIELDS | TIME_FIELDS:
                parsed = ", ".join(sorted(DATE_FIELDS | TIME_FIELDS))
                problems[key] = (
                    f'{key}: {field} is kept as text and never invalid; only {parsed} can be "missing"'
                )
        if problems:
            field_at_fault = next(iter(problems)) if len(problems) == 1 else "invalid"
            raise MappingError("; ".join(problems.values()), field=field_at_fault)

    def on_invalid(self, field: str) -> str:
        """What an invalid value of a field does: ``reject`` its row, or set the field ``missing``."""
        return self.invalid.get(field, "reject")

    @property
    def columns(self) -> list[str]:
        """Every column the mapping reads; a file that lacks one is refused."""
        names = [self.source_id, *self.fields.values(), *self.extra.columns]
        if self.kind.column:
            names.append(self.kind.column)
        return list(dict.fromkeys(names))

    def missing_columns(self, present: list[str]) -> list[str]:
        """The mapped columns a file lacks, in mapping order."""
        have = set(present)
        return [name for name in self.columns if name not in have]

    def kind_of(self, row: Mapping[str, Any]) -> str | FieldError:
        """The record's kind, or the error that says why it cannot be told."""
        if self.kind.constant is not None:
            return self.kind.constant
        assert self.kind.column is not None
        raw = _text(row.get(self.kind.column))
        if raw is None:
            return FieldError("kind", "kind.missing", f"column {self.kind.column!r} is empty")
        folded = raw.casefold()
        for kind, spellings in self.kind.values.items():
            if folded == kind or folded in (spelling.casefold() for spelling in spellings):
                return kind
        return FieldError("kind", "kind.unknown", f"{raw!r} in column {self.kind.column!r} names no kind")

    def canonical(self, row: Mapping[str, Any]) -> tuple[dict[str, str | None], list[FieldError]]:
        """Turn one row into canonical fields: strings or None, dates ISO, times UTC ISO 8601.

        Returns the fields and every error found in the row (all of them, not just the first). A
        field in error is None; its error says whether the mapping sets it missing (the row loads
        with a warning) or not (the row is rejected).
        """
        errors: list[FieldError] = []
        fields: dict[str, str | None] = dict.fromkeys(CANONICAL_FIELDS)

        kind = self.kind_of(row)
        if isinstance(kind, FieldError):
            errors.append(kind)
        else:
            fields["kind"] = kind

        for field, column in self.fields.items():
            if field == "kind":
                continue
            value = row.get(column)
            if isinstance(value, (bytes, bytearray)):
                parsed: str | FieldError | None = FieldError(
                    field, "value.binary", f"column {column} holds bytes, not text"
                )
            elif isinstance(value, (list, tuple, dict, set)):
                parsed = FieldError(
                    field,
                    "value.not_scalar",
                    f"column {column} holds a {type(value).__name__}, not one value",
                )
            elif isinstance(value, bool):
                parsed = FieldError(
                    field, "value.boolean", f"column {column} holds true or false, not a value"
                )
            elif isinstance(value, str) and (fault := _text_fault(value)) is not None:
                parsed = FieldError(field, fault[0], f"column {column} {fault[1]}")
            elif field in DATE_FIELDS:
                parsed = self._parse_date(field, value)
            elif field in TIME_FIELDS:
                parsed = self._parse_time(field, value)
            else:
                parsed = _text(value)
            if isinstance(parsed, FieldError):
                missing = self.on_invalid(field) == "missing"
                errors.append(msgspec.structs.replace(parsed, set_missing=True) if missing else parsed)
            else:
                fields[field] = parsed
        return fields, errors

    def extra_of(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The extra attributes of a row, kept as they came."""
        return {column: _plain(row.get(column)) for column in self.extra.columns}

    def _parse_date(self, field: str, value: Any) -> str | FieldError | None:
        if isinstance(value, datetime):
            return _plausible_date(field, value.isoformat(), value.date())
        if isinstance(value, date):
            return _plausible_date(field, value.isoformat(), value)
        text = _text(value)
        if text is None:
            return None
        for pattern in self.formats.get(field, DEFAULT_DATE_FORMATS):
            try:
                parsed = datetime.strptime(text, pattern).date()
            except ValueError:
                continue
            return _plausible_date(field, text, parsed)
        return FieldError(field, "date.unparseable", f"{text!r} fits none of the formats of {field}")

    def _parse_time(self, field: str, value: Any) -> str | FieldError | None:
        if isinstance(value, datetime):
            moment = value
        else:
            text = _text(value)
            if text is None:
                return None
            moment_or_none = None
            for pattern in self.formats.get(field, DEFAULT_TIME_FORMATS):
                try:
                    moment_or_none = datetime.strptime(text, pattern)
                    break
                except ValueError:
                    continue
            if moment_or_none is None:
                return FieldError(field, "time.unparseable", f"{text!r} fits none of the formats of {field}")
            moment = moment_or_none
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(self.timezone))
        # A time in the future would win "most recent" survivorship until that day came.
        if moment - datetime.now(UTC) > CLOCK_SKEW:
            return FieldError(field, "time.future", f"{moment.isoformat()} of {field} lies in the future")
        return moment.astimezone(UTC).isoformat()


def _plausible_date(field: str, text: str, parsed: date) -> str | FieldError:
    """A date of birth between 1900 and today; placeholders such as 0001-01-01 or 9999-12-31 are not."""
    if not EARLIEST_BIRTH <= parsed <= datetime.now(UTC).date():
        return FieldError(
            field, "date.implausible", f"{text!r} of {field} lies outside {EARLIEST_BIRTH.year} to today"
        )
    return parsed.isoformat()


def _text(value: Any) -> str | None:
    """A cell as trimmed text; empty cells, NaN and None are missing."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):  # NaN from pandas and Parquet
        return None
    text = str(value).strip()
    return text or None


def _plain(value: Any) -> Any:
    """A cell as a JSON-friendly value, for raw payloads and extra attributes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def plain_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A whole row as a JSON-friendly dictionary: the raw payload stored as received."""
    return {str(column): _plain(value) for column, value in row.items()}


def read_mapping(path: Path) -> SourceMapping:
    """Read and check one mapping file; errors name the file and the field at fault."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        return msgspec.convert(document, SourceMapping).check()
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{path.name}: not valid TOML: {error}") from error
    except msgspec.ValidationError as error:
        raise MappingError(f"{path.name}: {error}") from error
    except MappingError as error:
        raise MappingError(f"{path.name}: {error.message}", field=error.field) from error


def read_mappings(directory: Path) -> dict[str, SourceMapping]:
    """Every mapping of a folder, by system name.

    Raises:
        MappingError: the folder does not exist, a mapping is invalid, or two map one system.
    """
    if not directory.is_dir():
        raise MappingError(f"the mappings folder {directory} does not exist", field="MDM_MAPPINGS_DIR")
    mappings: dict[str, SourceMapping] = {}
    for path in sorted(directory.glob("*.toml")):
        mapping = read_mapping(path)
        if mapping.system in mappings:
            raise MappingError(f"{path.name}: system {mapping.system!r} is mapped twice", field="system")
        mappings[mapping.system] = mapping
    return mappings


def configured_mappings_dir(configured: Path | None) -> Path:
    """The mappings folder the settings name (``MDM_MAPPINGS_DIR``), else the sample's own mappings."""
    if configured is not None:
        return configured
    from mdm.sample import sample_mappings_dir  # noqa: PLC0415  (the sample generator is heavy: faker)

    return sample_mappings_dir()


def mapping_for(mappings: Mapping[str, SourceMapping], system: str) -> SourceMapping:
    """The mapping of one system, or an error listing the configured ones."""
    try:
        return mappings[system]
    except KeyError:
        known = ", ".join(sorted(mappings)) or "none"
        raise UnknownSystemError(f"no mapping for system {system!r} (configured: {known})") from None
