"""Errors of the record linkage package, shaped like the hub's own (a stable code and the field at fault).

``matching`` knows nothing of ``mdm``: the hub maps these onto its ``MdmError`` hierarchy at its
boundary, by ``code`` and ``field``.
"""

from __future__ import annotations


class MatchingError(Exception):
    """Base of every error that ``matching`` raises on purpose.

    Attributes:
        code: stable machine-readable identifier, e.g. ``profile.invalid``.
        field: the profile key or data column at fault, when there is one.
    """

    code = "matching.error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} (field {self.field})" if self.field else self.message


class ProfileError(MatchingError, ValueError):
    """A match profile is invalid: unknown keys, wrong types, or values that cannot work together.

    Attributes:
        problems: every problem found, as (field, message) pairs; ``field`` is the first one's.
    """

    code = "config.invalid"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        message = "; ".join(f"{field}: {text}" for field, text in problems)
        super().__init__(f"invalid match profile: {message}", field=problems[0][0] if problems else None)
        self.problems = problems


class MatchModelError(MatchingError):
    """A match model cannot be trained, loaded or used on the data it is given."""

    code = "model.unavailable"
