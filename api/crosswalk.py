"""Cross-reference reads: a source key's customer and that customer's other keys; many keys at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from sqlalchemy import Engine

from api.params import AS_OF, SOURCE_ID, SYSTEM, parse_as_of, path_tail
from api.problems import PROBLEMS
from mdm.crossref import MAX_BATCH, KeyCustomer, KeyResult, SourceKeyQuery, key_customer, look_up_keys


class LookupRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Up to 1,000 source keys, and optionally the moment to answer for (ISO 8601 with an offset)."""

    keys: Annotated[list[SourceKeyQuery], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    # A string, read as the query parameter is: a datetime field would also take a number of seconds.
    as_of: Annotated[str | None, msgspec.Meta(extra_json_schema={"extra": {"format": "date-time"}})] = None


class LookupResponse(msgspec.Struct, frozen=True, kw_only=True):
    """One result per key asked for, in the order asked; ``problem`` says why a key has no customer."""

    results: list[KeyResult]
    as_of: datetime | None = None


@get(
    "/crosswalk/{system:str}/{source_id:path}", tags=["crosswalk"], summary="Customer of a source key",
    sync_to_thread=True, responses=PROBLEMS,
)  # fmt: skip
def source_key(
    state: State,
    request: Request[Any, Any, Any],
    system: Annotated[str, SYSTEM],
    source_id: Annotated[str, SOURCE_ID],
    as_of: Annotated[str | None, AS_OF] = None,
) -> KeyCustomer:
    """The canonical id that a source key belongs to, and every other source key of that customer.

    An unknown system or key is 404; ``as_of`` answers as the crosswalk was then.
    """
    source_id, moment = path_tail(request, "source_id"), parse_as_of(as_of)
    engine: Engine = state.reads
    with engine.connect() as connection:
        return key_customer(connection, system, source_id, moment)


@post(
    "/crosswalk:lookup", tags=["crosswalk"], summary="Customers of many source keys", status_code=200,
    sync_to_thread=True, responses=PROBLEMS,
)  # fmt: skip
def lookup(state: State, data: JSONBody[LookupRequest]) -> LookupResponse:
    """The canonical ids of up to 1,000 source keys; keys without one are reported each, not fatal."""
    moment = parse_as_of(data.as_of)
    engine: Engine = state.reads
    with engine.connect() as connection:
        results = look_up_keys(connection, data.keys, moment)
    return LookupResponse(results=results, as_of=moment)
