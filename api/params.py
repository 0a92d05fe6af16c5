"""Reading the query parameters that several endpoints share: ``as_of``, ``cursor`` and ``limit``.

A cursor is opaque to clients: the URL-safe Base64 of a small JSON document naming what the page
is and the sort key of its last item. A cursor from another list is refused, not misread.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Final

import msgspec
from litestar.params import QueryParameter

from mdm.errors import InvalidRequestError

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """Where a list stopped: the list's name and the sort key of the last item given."""

    list: str
    after: Any


def parse_as_of(text: str | None) -> datetime | None:
    """An ``as_of`` timestamp: ISO 8601 with a UTC offset (``Z`` or ``+01:00``); None when absent.

    Raises:
        InvalidRequestError: not ISO 8601, or without an offset, which would leave the moment a guess.
    """
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidRequestError(f"as_of is not an ISO 8601 timestamp: {error}", field="as_of") from error
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRequestError("as_of needs a UTC offset, e.g. 2026-03-01T00:00:00Z", field="as_of")
    return moment


def encode_cursor(list_name: str, after: Any) -> str:
    """An opaque cursor that continues ``list_name`` after the item whose sort key is ``after``."""
    return (
        base64.urlsafe_b64encode(msgspec.json.encode(Page(list=list_name, after=after))).decode().rstrip("=")
    )


def decode_cursor(cursor: str | None, list_name: str) -> Any:
    """The sort key a cursor continues after; None for the first page.

    Raises:
        InvalidRequestError: the cursor is damaged or belongs to another list.
    """
    if cursor is None:
        return None
    try:
        page = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=Page)
    except (binascii.Error, ValueError, msgspec.DecodeError) as error:
        raise InvalidRequestError("the cursor is not one this API gave out", field="cursor") from error
    if page.list != list_name or page.after is None:
        raise InvalidRequestError("the cursor belongs to another list", field="cursor")
    return page.after


AS_OF = QueryParameter(
    required=False,
    description="The answer as it was at this moment: ISO 8601 with a UTC offset, e.g. 2026-03-01T00:00:00Z",
)  # fmt: skip
CURSOR = QueryParameter(required=False, description="Continue a list where its last page ended")
LIMIT = QueryParameter(ge=1, le=MAX_LIMIT, description="Items per page")
