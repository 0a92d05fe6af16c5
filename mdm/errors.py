"""One error hierarchy for the hub: every error carries a stable code and what is at fault."""

from __future__ import annotations


class MdmError(Exception):
    """Base of every error the hub raises on purpose.

    Attributes:
        code: stable machine-readable identifier, e.g. ``mapping.missing_columns``.
        record: the record at fault as ``system/source_id`` (or a row number), when there is one.
        field: the canonical field or source column at fault, when there is one.
    """

    code = "mdm.error"

    def __init__(self, message: str, *, record: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record = record
        self.field = field

    def __str__(self) -> str:
        parts = [f"record {self.record}" if self.record else "", f"field {self.field}" if self.field else ""]
        where = ", ".join(part for part in parts if part)
        return f"{self.message} ({where})" if where else self.message


class ConfigurationError(MdmError, ValueError):
    """A mapping, profile or setting is invalid."""

    code = "config.invalid"


class MappingError(ConfigurationError):
    """A source mapping file is invalid or does not fit the file it should read."""

    code = "mapping.invalid"


class MissingColumnsError(MappingError):
    """A file lacks columns that its mapping names: nothing is loaded."""

    code = "mapping.missing_columns"

    def __init__(self, system: str, missing: list[str]) -> None:
        super().__init__(f"file for system {system!r} lacks mapped columns: {', '.join(missing)}")
        self.missing = missing


class UnknownSystemError(MdmError, LookupError):
    """No mapping is configured for the named source system."""

    code = "system.unknown"


class InputFileError(MdmError, ValueError):
    """An input file cannot be read at all (format, encoding)."""

    code = "input.unreadable"


class RetirementGuardError(MdmError):
    """A snapshot load would retire more records than allowed without explicit consent."""

    code = "load.retire_guard"


class NotFoundError(MdmError, LookupError):
    """A canonical id, source key or model version does not exist."""

    code = "not_found"


class InvalidCanonicalIdError(MdmError, ValueError):
    """A canonical id is malformed or its check character is wrong."""

    code = "canonical_id.invalid"


class ModelError(MdmError):
    """No usable match model, or a model that cannot be trained or loaded."""

    code = "model.unavailable"


class MissingDependencyError(MdmError, ImportError):
    """An optional dependency that a command needs is not installed."""

    code = "dependency.missing"


class DatabaseUnavailableError(MdmError):
    """The configured database cannot be reached or its URL is not understood."""

    code = "database.unavailable"


class OutputFileError(MdmError, OSError):
    """A file the hub was asked to write cannot be written."""

    code = "output.unwritable"


class InvalidRequestError(MdmError, ValueError):
    """A request parameter is malformed: a cursor, a timestamp without offset, a limit out of range."""

    code = "request.invalid"


class RequestTooLargeError(MdmError, ValueError):
    """A request holds more than the hub takes at once, such as a batch of too many records."""

    code = "request.too_large"


class AuthenticationError(MdmError):
    """No API key was presented, or the key presented is unknown or revoked."""

    code = "auth.unauthenticated"


class PermissionDeniedError(MdmError):
    """The API key is valid but its role does not allow the operation."""

    code = "auth.forbidden"


class InvalidRecordError(MdmError, ValueError):
    """A record sent to the API cannot be stored: every field at fault is named.

    Attributes:
        faults: each field at fault (as the sender named it) with what is wrong.
    """

    code = "record.invalid"

    def __init__(self, message: str, *, record: str, faults: list[tuple[str, str]]) -> None:
        super().__init__(message, record=record, field=faults[0][0] if len(faults) == 1 else None)
        self.faults = faults


class IdempotencyKeyReusedError(MdmError, ValueError):
    """An ``Idempotency-Key`` already answered a different request."""

    code = "idempotency.key_reused"


class IdempotencyKeyInProgressError(MdmError):
    """A request under the same ``Idempotency-Key`` is still running: retry once it has answered."""

    code = "idempotency.in_progress"
