"""Finding customers by name, email, web domain, phone or tax id, on the standardised fields.

The query text goes through the same standardiser as the records (``matching.standardise_record``),
so ``ACME GmbH`` finds the records whose standardised name is ``acme``, and ``+49 30 1234567``
finds ``+49301234567``; with a default region, a number in that country's national format
(``030 1234567`` with ``DE``) finds it too. Every comparison is an equality on an indexed column.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.engine import Connection

from matching import standardise_record
from mdm.storage.tables import CrosswalkEntry, Customer, GoldenRecord, StandardisedRecord


class CustomerHit(msgspec.Struct, frozen=True, kw_only=True):
    """A live customer one of whose source records matches the query.

    Attributes:
        canonical_id: the customer.
        kind: organisation or person.
        name: the golden record's name, when it has one.
        matched_on: the standardised fields that matched, sorted.
    """

    canonical_id: str
    kind: str
    name: str | None
    matched_on: list[str]


def query_values(text: str, *, region: str | None = None) -> dict[str, set[str]]:
    """The standardised values to look for in each field, read from a query text.

    Text with an ``@`` is an email address and is looked up as such only; other text may be a
    name of either kind, a web domain, a phone number or a tax id. A phone number without its
    country code is read in ``region``, when one is given.
    """
    text = text.strip()
    if "@" in text:
        email = standardise_record({"kind": "organisation", "email": text})["email"]
        return {"email": {email}} if email else {}

    organisation = standardise_record(
        {"kind": "organisation", "name": text, "website": text, "phone": text, "tax_id": text}
    )
    person = standardise_record({"kind": "person", "name": text})
    phones = {organisation["phone"]}
    if region is not None:
        phones.add(standardise_record({"kind": "organisation", "phone": text, "country": region})["phone"])
    tax_ids = {organisation["tax_id"]}
    # A VAT number as shown ("GB788004897") carries its country, which records store apart.
    prefix = standardise_record({"kind": "organisation", "country": text[:2]})["country"]
    if prefix is not None:
        tax_ids.add(standardise_record({"kind": "organisation", "tax_id": text, "country": prefix})["tax_id"])
    candidates = {
        "name": {organisation["name"], person["name"]},
        "domain": {organisation["domain"]},
        "phone": phones,
        "tax_id": tax_ids,
    }
    return {
        field: {value for value in values if value} for field, values in candidates.items() if any(values)
    }


def search_customers(
    connection: Connection, text: str, *, after: str | None = None, limit: int = 50, region: str | None = None
) -> list[CustomerHit]:
    """Live customers with a record matching ``text``, by canonical id, after a canonical id if given.

    ``region`` is the country in which a phone number without its country code is read.
    """
    values = query_values(text, region=region)
    conditions: list[ColumnElement[bool]] = [
        getattr(StandardisedRecord, field).in_(sorted(wanted)) for field, wanted in values.items()
    ]
    condition = or_(*conditions) if conditions else false()
    fields = sorted(values)

    query = (
        select(CrosswalkEntry.canonical_id, Customer.kind, *(getattr(StandardisedRecord, f) for f in fields))
        .join(StandardisedRecord, StandardisedRecord.record_id == CrosswalkEntry.record_id)
        .join(Customer, Customer.canonical_id == CrosswalkEntry.canonical_id)
        .where(CrosswalkEntry.valid_to.is_(None), Customer.status == "live", condition)
    )
    if after is not None:
        query = query.where(CrosswalkEntry.canonical_id > after)
    chosen: list[str] = list(
        connection.execute(
            select(query.subquery().c.canonical_id).distinct().order_by("canonical_id").limit(limit)
        ).scalars()
    )
    if not chosen:
        return []

    matched: dict[str, set[str]] = {canonical_id: set() for canonical_id in chosen}
    kinds: dict[str, str] = {}
    for row in connection.execute(query.where(CrosswalkEntry.canonical_id.in_(chosen))):
        kinds[row.canonical_id] = row.kind
        for field in fields:
            if getattr(row, field) in values[field]:
                matched[row.canonical_id].add(field)

    names = _golden_names(connection, chosen)
    return [
        CustomerHit(
            canonical_id=canonical_id,
            kind=kinds[canonical_id],
            name=names.get(canonical_id),
            matched_on=sorted(matched[canonical_id]),
        )
        for canonical_id in chosen
    ]


def _golden_names(connection: Connection, canonical_ids: list[str]) -> dict[str, str]:
    """The name in each customer's current golden record."""
    rows = connection.execute(
        select(GoldenRecord.canonical_id, GoldenRecord.attributes).where(
            GoldenRecord.canonical_id.in_(canonical_ids), GoldenRecord.valid_to.is_(None)
        )
    )
    names: dict[str, str] = {}
    for row in rows:
        attributes: dict[str, Any] = row.attributes
        name = attributes.get("name") or " ".join(
            part for part in (attributes.get("given_name"), attributes.get("family_name")) if part
        )
        if name:
            names[row.canonical_id] = name
    return names
