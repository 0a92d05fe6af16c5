"""Keeping golden records in step with their customers' current source versions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

import msgspec
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection

from mdm import events as ev
from mdm.storage.tables import CrosswalkEntry, Customer, GoldenRecord, SourceRecord, SourceRecordVersion
from mdm.storage.types import utc_now
from mdm.survivorship import SourceVersion, SurvivorshipRules, build_golden_record

DEFAULT_PRIORITY = 100


def refresh_golden_records(
    engine: Engine, priorities: Mapping[str, int] | None = None, rules: SurvivorshipRules | None = None
) -> tuple[int, int]:
    """Rebuild every live customer's golden record and store those that changed, as new versions.

    A golden record is a pure function of its current source versions and the rules, so one whose
    content digest is unchanged is left alone and announces nothing. Golden records of customers
    that are no longer live are closed.

    Returns:
        The numbers of golden record versions written and of events written.
    """
    # Limitation: every live customer is rebuilt on each run; fine at a few hundred thousand
    # customers, but a large hub should rebuild only customers whose members changed.
    with engine.connect() as connection:
        changes = _golden_changes(connection, None, priorities or {}, rules)
    with engine.begin() as connection:
        return _write_golden_changes(connection, changes)


def refresh_customers(
    connection: Connection,
    canonical_ids: Collection[str],
    priorities: Mapping[str, int] | None = None,
    rules: SurvivorshipRules | None = None,
) -> tuple[int, int]:
    """Rebuild the golden records of some customers inside the caller's transaction.

    Used by real-time writes, which touch one or two customers: the same rules as the full
    refresh, applied to the given ids only (a customer no longer live has its record closed).

    Returns:
        The numbers of golden record versions written and of events written.
    """
    if not canonical_ids:
        return 0, 0
    changes = _golden_changes(connection, sorted(canonical_ids), priorities or {}, rules)
    return _write_golden_changes(connection, changes)


class _GoldenChanges(msgspec.Struct):
    inserts: list[dict[str, Any]]
    closing: list[str]
    events: list[ev.Event]


def _golden_changes(
    connection: Connection,
    canonical_ids: list[str] | None,
    priorities: Mapping[str, int],
    rules: SurvivorshipRules | None,
) -> _GoldenChanges:
    """The golden record versions to write and to close, for some customers or for all of them."""
    members_query = (
        select(CrosswalkEntry.canonical_id, SourceRecord.system, SourceRecord.source_id,
               SourceRecordVersion.version, SourceRecordVersion.source_updated_at,
               SourceRecordVersion.canonical, SourceRecordVersion.extra)
        .join(SourceRecord, SourceRecord.id == CrosswalkEntry.record_id)
        .join(SourceRecordVersion, (SourceRecordVersion.record_id == SourceRecord.id)
              & (SourceRecordVersion.version == SourceRecord.current_version))
        .join(Customer, Customer.canonical_id == CrosswalkEntry.canonical_id)
        .where(CrosswalkEntry.valid_to.is_(None), Customer.status == "live")
    )  # fmt: skip
    current_query = select(
        GoldenRecord.canonical_id, GoldenRecord.version, GoldenRecord.content_sha256
    ).where(GoldenRecord.valid_to.is_(None))
    if canonical_ids is not None:
        members_query = members_query.where(CrosswalkEntry.canonical_id.in_(canonical_ids))
        current_query = current_query.where(GoldenRecord.canonical_id.in_(canonical_ids))
    rows = connection.execute(members_query).all()
    current = {
        row.canonical_id: (row.version, row.content_sha256) for row in connection.execute(current_query)
    }

    members: dict[str, list[SourceVersion]] = defaultdict(list)
    for row in rows:
        members[row.canonical_id].append(
            SourceVersion(
                source_key=f"{row.system}/{row.source_id}",
                system=row.system,
                priority=priorities.get(row.system, DEFAULT_PRIORITY),
                version=row.version,
                updated_at=row.source_updated_at,
                canonical=row.canonical,
                extra=row.extra or {},
            )
        )

    # A customer revived after it was retired has closed versions only: number on after them.
    latest = _latest_versions(
        connection, [canonical_id for canonical_id in members if canonical_id not in current]
    )
    now = utc_now()
    changes = _GoldenChanges(inserts=[], closing=[], events=[])
    for canonical_id in sorted(members):
        golden = build_golden_record(members[canonical_id], rules)
        digest = golden.content_digest()
        previous = current.get(canonical_id)
        if previous is not None and previous[1] == digest:
            continue
        if previous is not None:
            changes.closing.append(canonical_id)
        lineage = msgspec.to_builtins(golden.lineage)
        version = (previous[0] if previous else latest.get(canonical_id, 0)) + 1
        changes.inserts.append(
            {"canonical_id": canonical_id, "version": version, "valid_from": now, "valid_to": None,
             "content_sha256": digest, "attributes": golden.attributes, "lineage": lineage}
        )  # fmt: skip
        changes.events.append(
            ev.Event(ev.GOLDEN_RECORD_CHANGED, canonical_id,
                     {"canonical_id": canonical_id, "version": version, "attributes": golden.attributes})
        )  # fmt: skip
    changes.closing.extend(sorted(set(current) - set(members)))
    return changes


def _latest_versions(connection: Connection, canonical_ids: list[str]) -> dict[str, int]:
    """The highest golden record version of each customer that has one, open or closed."""
    latest: dict[str, int] = {}
    for start in range(0, len(canonical_ids), 1000):
        rows = connection.execute(
            select(GoldenRecord.canonical_id, func.max(GoldenRecord.version).label("version"))
            .where(GoldenRecord.canonical_id.in_(canonical_ids[start : start + 1000]))
            .group_by(GoldenRecord.canonical_id)
        )
        latest.update({row.canonical_id: int(row.version) for row in rows})
    return latest


def _write_golden_changes(connection: Connection, changes: _GoldenChanges) -> tuple[int, int]:
    now = utc_now()
    for start in range(0, len(changes.closing), 1000):
        connection.execute(
            update(GoldenRecord)
            .where(GoldenRecord.canonical_id.in_(changes.closing[start : start + 1000]),
                   GoldenRecord.valid_to.is_(None))
            .values(valid_to=now)
        )  # fmt: skip
    for start in range(0, len(changes.inserts), 1000):
        connection.execute(insert(GoldenRecord), changes.inserts[start : start + 1000])
    return len(changes.inserts), ev.write_events(connection, changes.events)
