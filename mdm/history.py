"""A customer's identity history from the identity-change log, newest first.

A customer's history holds the changes made to it (created, linked, unlinked, merged as survivor,
split, retired) and those that name it as the other side: a merge into another customer, or a
record moved in from it or out to it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from mdm.storage.tables import IdentityChange


class IdentityChangeEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One identity change.

    Attributes:
        id: the change's number in the log; later changes have higher numbers.
        at: when it was made.
        change: created, linked, unlinked, merged, split, retired or reactivated (a
            retired customer back with a returning record).
        canonical_id: the customer changed (the survivor of a merge).
        other_id: the other customer involved: a merge's merged-away id, a move's other end.
        source_key: the source key linked or unlinked, as ``system/source_id``.
        actor: who made it: ``match_job``, or the steward or API key.
        job_id: the match job that made it, if one did.
    """

    id: int
    at: datetime
    change: str
    canonical_id: str
    other_id: str | None
    source_key: str | None
    actor: str
    job_id: int | None


def identity_history(
    connection: Connection, canonical_id: str, *, before: int | None = None, limit: int = 50
) -> list[IdentityChangeEntry]:
    """The changes that involve a customer, newest first, older than change ``before`` if given."""
    query = select(
        IdentityChange.id,
        IdentityChange.at,
        IdentityChange.change,
        IdentityChange.canonical_id,
        IdentityChange.other_id,
        IdentityChange.system,
        IdentityChange.source_id,
        IdentityChange.actor,
        IdentityChange.job_id,
    ).where(or_(IdentityChange.canonical_id == canonical_id, IdentityChange.other_id == canonical_id))
    if before is not None:
        query = query.where(IdentityChange.id < before)

    rows = connection.execute(query.order_by(IdentityChange.id.desc()).limit(limit))
    return [
        IdentityChangeEntry(
            id=row.id,
            at=row.at,
            change=row.change,
            canonical_id=row.canonical_id,
            other_id=row.other_id,
            source_key=f"{row.system}/{row.source_id}" if row.system and row.source_id else None,
            actor=row.actor,
            job_id=row.job_id,
        )
        for row in rows
    ]
