"""Applying identity changes to the crosswalk, with the identity-change log and outbox events.

Each function here runs inside the caller's transaction, so a change, its log entries and its
events commit together or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Engine, and_, func, insert, select, update
from sqlalchemy.engine import Connection

from mdm import events as ev
from mdm.reconcile import ReconciliationPlan
from mdm.storage.tables import CanonicalIdIssue, CrosswalkEntry, Customer, IdentityChange, SourceRecord
from mdm.storage.types import utc_now

ACTOR = "match_job"


def _change(
    change: str,
    canonical_id: str,
    *,
    other_id: str | None = None,
    key: str | None = None,
    job_id: int | None = None,
    actor: str = ACTOR,
) -> dict[str, Any]:
    system, _, source_id = key.partition("/") if key else (None, "", None)
    return {
        "at": utc_now(),
        "change": change,
        "canonical_id": canonical_id,
        "other_id": other_id,
        "system": system,
        "source_id": source_id or None,
        "job_id": job_id,
        "actor": actor,
    }


def _customer_seqs(connection: Connection, count: int) -> list[int]:
    """The next ``count`` customer order numbers, increasing.

    PostgreSQL draws them from a sequence, so concurrent writers never draw the same one; SQLite
    has one writer at a time, so the largest so far plus one is safe there.
    """
    if connection.dialect.name == "postgresql":
        drawn = select(func.nextval("customer_seq", type_=BigInteger)).select_from(
            func.generate_series(1, count)
        )
        numbers: list[int] = list(connection.execute(drawn).scalars())
        return sorted(numbers)
    largest = int(connection.execute(select(func.coalesce(func.max(Customer.seq), 0))).scalar_one())
    return list(range(largest + 1, largest + 1 + count))


def apply_batch(  # noqa: PLR0917
    connection: Connection,
    plan: ReconciliationPlan,
    job_id: int | None,
    record_ids: dict[str, int],
    kind_of_key: dict[str, str],
    model_of_kind: dict[str, int],
    *,
    actor: str = ACTOR,
) -> int:
    """Apply one self-contained batch of a reconciliation plan; returns the events written.

    A real-time write applies a plan of one record with no job and names its API key as ``actor``.
    """
    now = utc_now()
    changes: list[dict[str, Any]] = []
    events: list[ev.Event] = []

    if plan.created:
        seqs = _customer_seqs(connection, len(plan.created))
        connection.execute(
            insert(CanonicalIdIssue),
            [{"canonical_id": c.canonical_id, "issued_at": now} for c in plan.created],
        )
        customers = []
        for seq, created in zip(seqs, plan.created, strict=True):
            kind = kind_of_key[created.source_keys[0]]
            customers.append(
                {"canonical_id": created.canonical_id, "seq": seq, "kind": kind, "status": "live",
                 "created_at": now, "ended_at": None, "merged_into": None, "successors": None}
            )  # fmt: skip
            changes.append(_change("created", created.canonical_id, job_id=job_id, actor=actor))
            events.append(
                ev.Event(ev.CUSTOMER_CREATED, created.canonical_id,
                         {"canonical_id": created.canonical_id, "kind": kind,
                          "source_keys": list(created.source_keys)})
            )  # fmt: skip
        connection.execute(insert(Customer), customers)
    created_ids = {created.canonical_id for created in plan.created}
    for canonical_id in plan.revived:
        revive_customer(connection, canonical_id, actor=actor, job_id=job_id)

    moving = [record_ids[move.source_key] for move in plan.moves]
    if moving:
        connection.execute(
            update(CrosswalkEntry)
            .where(CrosswalkEntry.record_id.in_(moving), CrosswalkEntry.valid_to.is_(None))
            .values(valid_to=now)
        )
        entries = []
        for move in plan.moves:
            system, _, source_id = move.source_key.partition("/")
            entries.append(
                {"record_id": record_ids[move.source_key], "system": system, "source_id": source_id,
                 "canonical_id": move.to_id, "valid_from": now, "valid_to": None, "job_id": job_id,
                 "model_id": model_of_kind.get(kind_of_key[move.source_key]), "reason": "match"}
            )  # fmt: skip
            if move.from_id is not None:
                changes.append(
                    _change(
                        "unlinked",
                        move.from_id,
                        other_id=move.to_id,
                        key=move.source_key,
                        job_id=job_id,
                        actor=actor,
                    )
                )
                events.append(
                    ev.Event(ev.RECORD_UNLINKED, move.from_id,
                             {"canonical_id": move.from_id, "source_key": move.source_key, "to": move.to_id})
                )  # fmt: skip
            changes.append(
                _change(
                    "linked",
                    move.to_id,
                    other_id=move.from_id,
                    key=move.source_key,
                    job_id=job_id,
                    actor=actor,
                )
            )
            if move.from_id is not None or move.to_id not in created_ids:
                body = {"canonical_id": move.to_id, "source_key": move.source_key, "from": move.from_id}
                events.append(ev.Event(ev.RECORD_LINKED, move.to_id, body))
        connection.execute(insert(CrosswalkEntry), entries)

    for merge in plan.merges:
        connection.execute(
            update(Customer)
            .where(Customer.canonical_id == merge.loser)
            .values(status="merged", merged_into=merge.survivor, ended_at=now)
        )
        # Ids merged into the loser earlier now redirect to the survivor in one hop.
        connection.execute(
            update(Customer).where(Customer.merged_into == merge.loser).values(merged_into=merge.survivor)
        )
        changes.append(_change("merged", merge.survivor, other_id=merge.loser, job_id=job_id, actor=actor))
        payload = {"survivor": merge.survivor, "merged": merge.loser}
        events.append(ev.Event(ev.CUSTOMER_MERGED, merge.survivor, payload))
        events.append(ev.Event(ev.CUSTOMER_MERGED, merge.loser, payload))

    for split in plan.splits:
        connection.execute(
            update(Customer)
            .where(Customer.canonical_id == split.canonical_id)
            .values(status="split", successors={"ids": list(split.successors)}, ended_at=now)
        )
        changes.append(_change("split", split.canonical_id, job_id=job_id, actor=actor))
        events.append(
            ev.Event(ev.CUSTOMER_SPLIT, split.canonical_id,
                     {"canonical_id": split.canonical_id, "successors": list(split.successors)})
        )  # fmt: skip

    if changes:
        connection.execute(insert(IdentityChange), changes)
    return ev.write_events(connection, events)


def retire_gone_records(engine: Engine) -> tuple[int, int]:
    """Close the crosswalk entries of retired source records and retire customers left empty.

    Returns the numbers of records unlinked and of customers retired.
    """
    with engine.begin() as connection:
        unlinked, emptied = unlink_retired_records(connection)
    return len(unlinked), len(emptied)


def unlink_retired_records(
    connection: Connection, record_ids: Sequence[int] | None = None, *, actor: str = ACTOR
) -> tuple[list[str], list[str]]:
    """Unlink retired source records (all, or those given) and retire the customers left empty.

    Never splits a customer: the members that remain stay together, whatever linked them.

    Returns:
        The canonical ids that lost a record, and those of them that were retired.
    """
    now = utc_now()
    query = (
        select(
            CrosswalkEntry.id, CrosswalkEntry.canonical_id, CrosswalkEntry.system, CrosswalkEntry.source_id
        )
        .join(SourceRecord, SourceRecord.id == CrosswalkEntry.record_id)
        .where(CrosswalkEntry.valid_to.is_(None), SourceRecord.retired_at.is_not(None))
    )
    if record_ids is not None:
        query = query.where(CrosswalkEntry.record_id.in_(list(record_ids)))
    gone = connection.execute(query).all()
    if not gone:
        return [], []
    connection.execute(
        update(CrosswalkEntry).where(CrosswalkEntry.id.in_([row.id for row in gone])).values(valid_to=now)
    )
    changes: list[dict[str, Any]] = []
    events: list[ev.Event] = []
    by_customer: dict[str, list[str]] = defaultdict(list)
    for row in gone:
        key = f"{row.system}/{row.source_id}"
        by_customer[row.canonical_id].append(key)
        changes.append(_change("unlinked", row.canonical_id, key=key, actor=actor))
        events.append(
            ev.Event(ev.RECORD_UNLINKED, row.canonical_id,
                     {"canonical_id": row.canonical_id, "source_key": key, "reason": "record_retired"})
        )  # fmt: skip

    still_linked = set(
        connection.execute(
            select(CrosswalkEntry.canonical_id).where(
                and_(CrosswalkEntry.canonical_id.in_(list(by_customer)), CrosswalkEntry.valid_to.is_(None))
            )
        ).scalars()
    )
    emptied = sorted(set(by_customer) - still_linked)
    if emptied:
        connection.execute(
            update(Customer).where(Customer.canonical_id.in_(emptied)).values(status="retired", ended_at=now)
        )
    for canonical_id in emptied:
        changes.append(_change("retired", canonical_id, actor=actor))
        events.append(ev.Event(ev.CUSTOMER_RETIRED, canonical_id, {"canonical_id": canonical_id}))

    connection.execute(insert(IdentityChange), changes)
    ev.write_events(connection, events)
    return sorted(by_customer), emptied


def revive_customer(
    connection: Connection, canonical_id: str, *, actor: str = ACTOR, job_id: int | None = None
) -> None:
    """Bring a customer retired for emptiness back to life, for one of its own records returning.

    The id is not reused for another customer: the same customer is back. The caller links the
    returning record to it in the same transaction, so the customer is never live and empty.
    """
    connection.execute(
        update(Customer)
        .where(Customer.canonical_id == canonical_id, Customer.status == "retired")
        .values(status="live", ended_at=None)
    )
    connection.execute(
        insert(IdentityChange), [_change("reactivated", canonical_id, actor=actor, job_id=job_id)]
    )
    ev.write_events(
        connection, [ev.Event(ev.CUSTOMER_REACTIVATED, canonical_id, {"canonical_id": canonical_id})]
    )
