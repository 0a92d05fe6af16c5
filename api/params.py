"""Reading the query parameters that several endpoints share: ``as_of``, ``cursor`` and ``limit``.

A cursor is opaque to clients: the URL-safe Base64 of a small JSON document naming what the page
is and the sort key of its last item. A cursor from another list is refused, not misread.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException
from litestar.params import PathParameter, QueryParameter

from mdm.crossref import WITHOUT_NUL
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
        # RFC 3339 (as OpenAPI's date-time, lower-case ``t`` and ``z`` too), else Python's ISO 8601.
        moment = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise InvalidRequestError(
                f"as_of is not an ISO 8601 timestamp: {error}", field="as_of"
            ) from error
    return checked_as_of(moment)


def checked_as_of(moment: datetime | None) -> datetime | None:
    """An ``as_of`` moment that names one instant: with a UTC offset, and within the years UTC can show.

    Raises:
        InvalidRequestError: without an offset, or a moment that falls outside years 1 to 9999 in UTC.
    """
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRequestError("as_of needs a UTC offset, e.g. 2026-03-01T00:00:00Z", field="as_of")
    try:
        moment.astimezone(UTC)
    except OverflowError as error:
        raise InvalidRequestError("as_of falls outside the years 1 to 9999 in UTC", field="as_of") from error
    return moment


def path_tail(connection: ASGIConnection[Any, Any, Any, Any], name: str) -> str:
    """The exact value of a route's last path parameter, declared ``{name:path}``, slashes and all.

    Litestar routes on the decoded path, where ``%2F`` is a slash like any other and repeated,
    leading and trailing slashes are dropped. A source id may hold any of these, so it is read
    again from the raw path: everything after the parameter's place, percent-decoded once.

    Raises:
        InvalidRequestError: the raw value is not UTF-8 once decoded.
    """
    template: str = connection.scope["path_template"]
    before = template.split("{" + name + "}", 1)[0].count("/")
    raw: bytes | None = connection.scope.get("raw_path")
    root = connection.scope.get("root_path", "").encode()
    if raw is None:
        # A server that gives no raw path leaves only the routed value, less the slash it starts with.
        value: str = connection.path_params[name]
        return value[1:] if value.startswith("/") else value

    # Some servers (Litestar's test client among them) leave the query string on the raw path.
    raw = raw.partition(b"?")[0]
    if root and raw.startswith(root + b"/"):
        raw = raw[len(root) :]
    parts = raw.split(b"/", before)
    try:
        return unquote_to_bytes(parts[-1]).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequestError(f"{name} is not UTF-8 once percent-decoded", field=name) from error


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
    format="date-time",
    description="The answer as it was at this moment: ISO 8601 with a UTC offset, e.g. 2026-03-01T00:00:00Z",
)  # fmt: skip
CURSOR = QueryParameter(
    required=False, min_length=1, pattern="^[A-Za-z0-9_-]+$",
    description="Continue a list where its last page ended: the `next_cursor` of the page before",
)  # fmt: skip
CANONICAL_ID = PathParameter(
    description="A canonical id: `C`, 12 Crockford base-32 characters and a check character; case is ignored",
    # Documented, not enforced here: parse_canonical_id says which part is wrong, the check character too.
    schema_extra={"pattern": "^\\s*[Cc][0-9A-Za-z]{13}\\s*$"},
)
LIMIT = QueryParameter(ge=1, le=MAX_LIMIT, description="Items per page")
SYSTEM = PathParameter(description="A source system's name, as in its mapping", pattern=WITHOUT_NUL)
SOURCE_ID = PathParameter(
    pattern=WITHOUT_NUL,
    description="The record's id in its system: the rest of the path, exactly. Percent-encode `/` as `%2F`,"
    " `%` as `%25` and `?` as `%3F`; leading, trailing and repeated slashes are kept.",
)


def require_media_type(
    connection: ASGIConnection[Any, Any, Any, Any], accepted: tuple[str, ...], what: str
) -> None:
    """Refuse a body sent as another media type than ``accepted`` (415), parameters aside.

    A form or text body that happens to parse as JSON is still refused: the sender meant something
    else, and a proxy or client library may have changed it on the way.

    Raises:
        ClientException: 415, saying which types ``what`` is sent as.
    """
    media_type = connection.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in accepted:
        raise ClientException(f"{what} is sent as {' or '.join(accepted)}", status_code=415)


JSON: Final = ("application/json",)
