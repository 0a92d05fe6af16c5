"""Looking a customer up by canonical id or by source key: status, golden record, lineage, crosswalk.

A merged-away id resolves to its survivor; a split id names its successors. The survivor of a
merge is live, since merges redirect in one hop (see ``mdm.crosswalk``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Connection

from mdm.errors import InvalidCanonicalIdError, NotFoundError
from mdm.identity import parse_canonical_id
from mdm.storage.tables import CrosswalkEntry, Customer, GoldenRecord, SourceRecord
from mdm.survivorship import GOLDEN_FIELDS, Lineage


class SourceKey(msgspec.Struct, frozen=True):
    """A live crosswalk entry: a source key and since when it belongs to the customer."""

    system: str
    source_id: str
    valid_from: datetime

    @property
    def key(self) -> str:
        """The key as ``system/source_id``."""
        return f"{self.system}/{self.source_id}"


class GoldenAttribute(msgspec.Struct, frozen=True, kw_only=True):
    """One golden attribute with its lineage: the source record version and the rule that chose it.

    Attributes:
        name: the canonical field.
        value: the surviving value.
        source_key: the source record that supplied it, as ``system/source_id``.
        source_version: that record's version number.
        rule: the survivorship rule that chose it.
    """

    name: str
    value: str
    source_key: str
    source_version: int
    rule: str


class CustomerView(msgspec.Struct, frozen=True, kw_only=True):
    """One customer as the hub knows it now.

    Attributes:
        canonical_id: the customer's id.
        kind: organisation or person.
        status: live, merged, split or retired.
        created_at: when the id was issued.
        ended_at: when the customer stopped being live, if it did.
        merged_into: the survivor a merged-away id redirects to.
        successors: the ids a split customer's records went to.
        golden_version: the version of the latest golden record, None when it has none.
        golden_valid_to: when that version was closed; None while it is current.
        attributes: the golden attributes that have a value, in canonical order, with lineage.
        crosswalk: the live source keys of the customer, sorted.
    """

    canonical_id: str
    kind: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    merged_into: str | None
    successors: list[str]
    golden_version: int | None
    golden_valid_to: datetime | None
    attributes: list[GoldenAttribute]
    crosswalk: list[SourceKey]


class CustomerLookup(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``show``: the customer asked for and, when it was merged away, its survivor.

    Attributes:
        source_key: the source key that was asked for, None when a canonical id was.
        customer: the customer the id (or the source key) names.
        survivor: the live customer a merged-away id redirects to.
    """

    source_key: str | None
    customer: CustomerView
    survivor: CustomerView | None


def look_up(connection: Connection, text: str) -> CustomerLookup:
    """Find a customer by canonical id (any case, Crockford aliases allowed) or ``system/source_id``.

    Raises:
        InvalidCanonicalIdError: ``text`` is neither a source key nor a well-formed canonical id.
        NotFoundError: the id was never issued to a customer, or the source key has no live customer.
    """
    source_key: str | None = None
    if "/" in text:
        source_key = text.strip()
        canonical_id = _live_id_of_key(connection, source_key)
    else:
        canonical_id = parse_canonical_id(text, field="id")

    customer = customer_view(connection, canonical_id)
    survivor = None
    if customer.merged_into is not None:
        survivor = customer_view(connection, customer.merged_into)
    return CustomerLookup(source_key=source_key, customer=customer, survivor=survivor)


def customer_view(connection: Connection, canonical_id: str) -> CustomerView:
    """A customer's status, latest golden record with lineage, and live crosswalk.

    Raises:
        NotFoundError: no customer has this id.
    """
    customer = connection.execute(select(Customer).where(Customer.canonical_id == canonical_id)).one_or_none()
    if customer is None:
        raise NotFoundError(f"no customer has the canonical id {canonical_id}", field="id")

    golden = connection.execute(
        select(GoldenRecord.version, GoldenRecord.valid_to, GoldenRecord.attributes, GoldenRecord.lineage)
        .where(GoldenRecord.canonical_id == canonical_id)
        .order_by(GoldenRecord.version.desc())
        .limit(1)
    ).one_or_none()
    keys = connection.execute(
        select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.valid_from)
        .where(CrosswalkEntry.canonical_id == canonical_id, CrosswalkEntry.valid_to.is_(None))
        .order_by(CrosswalkEntry.system, CrosswalkEntry.source_id)
    ).all()

    return CustomerView(
        canonical_id=customer.canonical_id,
        kind=customer.kind,
        status=customer.status,
        created_at=customer.created_at,
        ended_at=customer.ended_at,
        merged_into=customer.merged_into,
        successors=list((customer.successors or {}).get("ids", [])),
        golden_version=golden.version if golden else None,
        golden_valid_to=golden.valid_to if golden else None,
        attributes=golden_attributes(golden.attributes, golden.lineage) if golden else [],
        crosswalk=[SourceKey(row.system, row.source_id, row.valid_from) for row in keys],
    )


def _live_id_of_key(connection: Connection, source_key: str) -> str:
    """The canonical id a source key belongs to now."""
    system, _, source_id = source_key.partition("/")
    if not (system and source_id):
        raise InvalidCanonicalIdError(
            f"{source_key!r} is neither a canonical id nor a source key system/source_id", field="id"
        )

    row = connection.execute(
        select(SourceRecord.id, SourceRecord.retired_at, CrosswalkEntry.canonical_id)
        .outerjoin(
            CrosswalkEntry, (CrosswalkEntry.record_id == SourceRecord.id) & CrosswalkEntry.valid_to.is_(None)
        )
        .where(SourceRecord.system == system, SourceRecord.source_id == source_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError("no source record has this key", record=source_key)
    if row.canonical_id is None:
        why = "it was retired by its system" if row.retired_at is not None else "it has not been matched yet"
        raise NotFoundError(f"the source record belongs to no customer: {why}", record=source_key)
    canonical_id: str = row.canonical_id
    return canonical_id


def golden_attributes(attributes: dict[str, str | None], lineage: dict[str, object]) -> list[GoldenAttribute]:
    """The attributes of a stored golden record that have a value, in canonical order, with lineage."""
    origins = msgspec.convert(lineage, dict[str, Lineage])
    found = []
    for name in GOLDEN_FIELDS:
        value, origin = attributes.get(name), origins.get(name)
        if value is None or origin is None:
            continue
        found.append(
            GoldenAttribute(
                name=name, value=value, source_key=origin.source_key, source_version=origin.version,
                rule=origin.rule,
            )
        )  # fmt: skip
    return found
