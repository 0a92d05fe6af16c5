"""Customer reads: the golden record with lineage, its source keys, its identity history, search."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import QueryParameter
from sqlalchemy import Engine, select

from api.params import (
    AS_OF,
    CANONICAL_ID,
    CURSOR,
    DEFAULT_LIMIT,
    LIMIT,
    decode_cursor,
    encode_cursor,
    parse_as_of,
)
from api.problems import PROBLEMS
from mdm.errors import InvalidRequestError, NotFoundError
from mdm.history import IdentityChangeEntry, identity_history
from mdm.identity import parse_canonical_id
from mdm.search import CustomerHit, search_customers
from mdm.storage.tables import Customer
from mdm.timeline import CustomerRecord, SourceKeyEntry, customer_keys, read_customer, resolve


class CustomerKeysPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a customer's source keys; ``next_cursor`` is None on the last page."""

    canonical_id: str
    redirected_from: str | None
    status: str
    items: list[SourceKeyEntry]
    next_cursor: str | None
    as_of: datetime | None = None


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a customer's identity changes, newest first; ``next_cursor`` is None on the last page."""

    canonical_id: str
    items: list[IdentityChangeEntry]
    next_cursor: str | None


class SearchPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of customers matching a search, by canonical id; ``next_cursor`` is None on the last page."""

    items: list[CustomerHit]
    next_cursor: str | None


CanonicalId = Annotated[str, CANONICAL_ID]
Limit = Annotated[int, LIMIT]
Cursor = Annotated[str | None, CURSOR]
AsOf = Annotated[str | None, AS_OF]


@get(
    "/customers/{canonical_id:str}",
    tags=["customers"],
    responses=PROBLEMS,
    summary="Golden record",
    sync_to_thread=True,
)
def customer(state: State, canonical_id: CanonicalId, as_of: AsOf = None) -> CustomerRecord:
    """The golden record with lineage and source keys, now or at ``as_of``.

    A merged-away id answers with its survivor and ``redirected_from``; a split id answers with
    ``status: split`` and its successors. A wrong check character is 422, an unknown id 404.
    """
    wanted, moment = parse_canonical_id(canonical_id), parse_as_of(as_of)
    engine: Engine = state.snapshots
    with engine.connect() as connection:
        return read_customer(connection, wanted, moment)


@get(
    "/customers/{canonical_id:str}/crosswalk", tags=["customers"], summary="Source keys of a customer",
    sync_to_thread=True, responses=PROBLEMS,
)  # fmt: skip
def customer_crosswalk(
    state: State,
    canonical_id: CanonicalId,
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> CustomerKeysPage:
    """The source keys of a customer (of its survivor, for a merged-away id), by system and source id."""
    wanted, moment = parse_canonical_id(canonical_id), parse_as_of(as_of)
    list_name = f"crosswalk:{wanted}:{moment.isoformat() if moment else ''}"
    after = decode_cursor(cursor, list_name)
    if after is not None and not _is_key(after):
        raise InvalidRequestError("the cursor is not one this API gave out", field="cursor")

    engine: Engine = state.snapshots
    with engine.connect() as connection:
        row, redirected_from = resolve(connection, wanted, moment)
        keys = customer_keys(
            connection, row.canonical_id, moment, after=tuple(after) if after else None, limit=limit + 1
        )
    last = keys[limit - 1] if len(keys) > limit else None
    return CustomerKeysPage(
        canonical_id=row.canonical_id, redirected_from=redirected_from, status=row.status, items=keys[:limit],
        next_cursor=encode_cursor(list_name, [last.system, last.source_id]) if last else None, as_of=moment,
    )  # fmt: skip


@get(
    "/customers/{canonical_id:str}/history", tags=["customers"], summary="Identity history of a customer",
    sync_to_thread=True, responses=PROBLEMS,
)  # fmt: skip
def customer_history(
    state: State, canonical_id: CanonicalId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> HistoryPage:
    """The identity changes that involve this id, newest first: created, linked, merged, split..."""
    wanted = parse_canonical_id(canonical_id)
    list_name = f"history:{wanted}"
    before = decode_cursor(cursor, list_name)
    if before is not None and not isinstance(before, int):
        raise InvalidRequestError("the cursor is not one this API gave out", field="cursor")

    engine: Engine = state.snapshots
    with engine.connect() as connection:
        if connection.execute(select(Customer.kind).where(Customer.canonical_id == wanted)).first() is None:
            raise NotFoundError(f"no customer has the canonical id {wanted}", field="canonical_id")
        changes = identity_history(connection, wanted, before=before, limit=limit + 1)
    more = len(changes) > limit
    return HistoryPage(
        canonical_id=wanted, items=changes[:limit],
        next_cursor=encode_cursor(list_name, changes[limit - 1].id) if more else None,
    )  # fmt: skip


@get("/customers", tags=["customers"], summary="Search customers", sync_to_thread=True, responses=PROBLEMS)
def search(
    state: State,
    q: Annotated[
        str, QueryParameter(min_length=1, max_length=256, description="name, email, domain, phone or tax id")
    ],
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> SearchPage:
    """Live customers with a source record matching ``q`` on its standardised fields."""
    list_name = "search:" + hashlib.sha256(q.encode()).hexdigest()[:16]
    after = decode_cursor(cursor, list_name)
    if after is not None and not isinstance(after, str):
        raise InvalidRequestError("the cursor is not one this API gave out", field="cursor")

    engine: Engine = state.snapshots
    with engine.connect() as connection:
        hits = search_customers(connection, q, after=after, limit=limit + 1, region=state.default_region)
    more = len(hits) > limit
    return SearchPage(
        items=hits[:limit],
        next_cursor=encode_cursor(list_name, hits[limit - 1].canonical_id) if more else None,
    )


def _is_key(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)
