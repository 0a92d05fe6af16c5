"""Customers and their source keys as they are now or as they were at a moment (``as_of``).

A customer existed from ``created_at``; it was live until ``ended_at``, then merged, split or
retired. Crosswalk entries and golden record versions carry validity periods: the one valid at a
moment began at or before it and had not ended by it. A merged-away id answers with its survivor.
A customer retired when it emptied and revived when one of its records returned was retired in
between: the identity-change log tells when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, or_, select, tuple_
from sqlalchemy.engine import Connection

from mdm.errors import NotFoundError
from mdm.lookup import GoldenAttribute, golden_attributes
from mdm.storage.tables import CrosswalkEntry, Customer, GoldenRecord, IdentityChange


class SourceKeyEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A source key of a customer and since when it belongs to it."""

    system: str
    source_id: str
    valid_from: datetime


class GoldenView(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a golden record with lineage per attribute; ``valid_to`` is None while current."""

    version: int
    valid_from: datetime
    valid_to: datetime | None
    attributes: list[GoldenAttribute]


class CustomerState(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's identity row, its status as it was at the moment asked about."""

    canonical_id: str
    kind: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    merged_into: str | None
    successors: list[str]


class CustomerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A customer as it is now, or was at ``as_of``.

    Attributes:
        canonical_id: the customer answered for: the survivor when the id asked for was merged away.
        redirected_from: the merged-away id that was asked for, when there was a redirect.
        kind: organisation or person.
        status: live, split or retired (merged ids redirect, so a survivor's status shows).
        created_at: when the id was issued.
        ended_at: when the customer stopped being live, if it had by then.
        successors: the customers a split id's records went to.
        golden: the golden record version valid then; None when none was.
        source_keys: the source keys that belonged to the customer then, sorted.
        as_of: the moment asked about; None for now.
    """

    canonical_id: str
    redirected_from: str | None = None
    kind: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    successors: list[str]
    golden: GoldenView | None
    source_keys: list[SourceKeyEntry]
    as_of: datetime | None = None


def valid_at(valid_from: Any, valid_to: Any, as_of: datetime | None) -> ColumnElement[bool]:
    """The condition that a validity period covers ``as_of``, or is open when ``as_of`` is None."""
    if as_of is None:
        return valid_to.is_(None)  # type: ignore[no-any-return]
    return and_(valid_from <= as_of, or_(valid_to.is_(None), valid_to > as_of))


def resolve(
    connection: Connection, canonical_id: str, as_of: datetime | None
) -> tuple[CustomerState, str | None]:
    """The customer row an id stands for then, following a merge to its survivor.

    Returns:
        The customer (with its status then) and the merged-away id when there was a redirect.

    Raises:
        NotFoundError: the id was never issued, or not yet at ``as_of``.
    """
    row = _customer_row(connection, canonical_id, as_of)
    if row.status == "merged" and row.merged_into is not None:
        return _customer_row(connection, row.merged_into, as_of), canonical_id
    return row, None


def read_customer(connection: Connection, canonical_id: str, as_of: datetime | None = None) -> CustomerRecord:
    """A customer's status, golden record with lineage and source keys, now or at ``as_of``.

    Args:
        connection: the hub's database.
        canonical_id: a well-formed canonical id (see ``mdm.identity.parse_canonical_id``).
        as_of: a moment with a time zone; None for now.

    Raises:
        NotFoundError: the id was never issued, or not yet at ``as_of``.
    """
    row, redirected_from = resolve(connection, canonical_id, as_of)
    golden_query = select(
        GoldenRecord.version, GoldenRecord.valid_from, GoldenRecord.valid_to, GoldenRecord.attributes,
        GoldenRecord.lineage,
    ).where(GoldenRecord.canonical_id == row.canonical_id)  # fmt: skip
    if as_of is not None:
        golden_query = golden_query.where(GoldenRecord.valid_from <= as_of)
    golden = connection.execute(golden_query.order_by(GoldenRecord.version.desc()).limit(1)).one_or_none()

    return CustomerRecord(
        canonical_id=row.canonical_id,
        redirected_from=redirected_from,
        kind=row.kind,
        status=row.status,
        created_at=row.created_at,
        ended_at=row.ended_at,
        successors=row.successors,
        golden=None
        if golden is None
        else GoldenView(
            version=golden.version,
            valid_from=golden.valid_from,
            valid_to=golden.valid_to,
            attributes=golden_attributes(golden.attributes, golden.lineage),
        ),
        source_keys=customer_keys(connection, row.canonical_id, as_of),
        as_of=as_of,
    )


def customer_keys(
    connection: Connection,
    canonical_id: str,
    as_of: datetime | None,
    *,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[SourceKeyEntry]:
    """The source keys of a customer then, sorted by system and source id, after a key if given."""
    query = select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.valid_from).where(
        CrosswalkEntry.canonical_id == canonical_id,
        valid_at(CrosswalkEntry.valid_from, CrosswalkEntry.valid_to, as_of),
    )
    if after is not None:
        query = query.where(tuple_(CrosswalkEntry.system, CrosswalkEntry.source_id) > tuple_(*after))
    query = query.order_by(CrosswalkEntry.system, CrosswalkEntry.source_id)
    if limit is not None:
        query = query.limit(limit)
    return [
        SourceKeyEntry(system=row.system, source_id=row.source_id, valid_from=row.valid_from)
        for row in connection.execute(query)
    ]


def _customer_row(connection: Connection, canonical_id: str, as_of: datetime | None) -> CustomerState:
    """The customer, its status set to what it was at ``as_of``."""
    row = connection.execute(
        select(
            Customer.canonical_id, Customer.kind, Customer.status, Customer.created_at, Customer.ended_at,
            Customer.merged_into, Customer.successors,
        ).where(Customer.canonical_id == canonical_id)
    ).one_or_none()  # fmt: skip
    if row is None:
        raise NotFoundError(f"no customer has the canonical id {canonical_id}", field="canonical_id")
    if as_of is not None and row.created_at > as_of:
        raise NotFoundError(f"the customer {canonical_id} did not exist yet at {as_of}", field="as_of")

    state = CustomerState(
        canonical_id=row.canonical_id, kind=row.kind, status=row.status, created_at=row.created_at,
        ended_at=row.ended_at, merged_into=row.merged_into,
        successors=list((row.successors or {}).get("ids", [])) if row.status == "split" else [],
    )  # fmt: skip
    if as_of is not None and row.ended_at is not None and row.ended_at > as_of:
        return msgspec.structs.replace(state, status="live", ended_at=None, merged_into=None, successors=[])
    if as_of is not None and row.status == "live":
        return _retired_then(connection, state, as_of)
    return state


def _retired_then(connection: Connection, state: CustomerState, as_of: datetime) -> CustomerState:
    """A live customer as it was at ``as_of``: retired then, if it was retired and not yet revived."""
    last = connection.execute(
        select(IdentityChange.change, IdentityChange.at)
        .where(IdentityChange.canonical_id == state.canonical_id,
               IdentityChange.change.in_(["retired", "reactivated"]), IdentityChange.at <= as_of)
        .order_by(IdentityChange.at.desc(), IdentityChange.id.desc())
        .limit(1)
    ).first()  # fmt: skip
    if last is not None and last.change == "retired":
        return msgspec.structs.replace(state, status="retired", ended_at=last.at)
    return state
