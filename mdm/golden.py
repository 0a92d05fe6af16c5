"""Keeping golden records in step with their customers' current source versions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import Engine, insert, select, update

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
    priorities = priorities or {}
    # Limitation: every live customer is rebuilt on each run; fine at a few hundred thousand
    # customers, but a large hub should rebuild only customers whose members changed.
    with engine.connect() as connection:
        rows = connection.execute(
            select(CrosswalkEntry.canonical_id, SourceRecord.system, SourceRecord.source_id,
                   SourceRecordVersion.version, SourceRecordVersion.source_updated_at,
                   SourceRecordVersion.canonical, SourceRecordVersion.extra)
            .join(SourceRecord, SourceRecord.id == CrosswalkEntry.record_id)
            .join(SourceRecordVersion, (SourceRecordVersion.record_id == SourceRecord.id)
                  & (SourceRecordVersion.version == SourceRecord.current_version))
            .join(Customer, Customer.canonical_id == CrosswalkEntry.canonical_id)
            .where(CrosswalkEntry.valid_to.is_(None), Customer.status == "live")
        ).all()  # fmt: skip
        current = {
            row.canonical_id: (row.version, row.content_sha256)
            for row in connection.execute(
                select(GoldenRecord.canonical_id, GoldenRecord.version, GoldenRecord.content_sha256).where(
                    GoldenRecord.valid_to.is_(None)
                )
            )
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

    now = utc_now()
    inserts: list[dict[str, Any]] = []
    closing: list[str] = []
    events: list[ev.Event] = []
    for canonical_id in sorted(members):
        golden = build_golden_record(members[canonical_id], rules)
        digest = golden.content_digest()
        previous = current.get(canonical_id)
        if previous is not None and previous[1] == digest:
            continue
        if previous is not None:
            closing.append(canonical_id)
        lineage = msgspec.to_builtins(golden.lineage)
        version = (previous[0] if previous else 0) + 1
        inserts.append(
            {"canonical_id": canonical_id, "version": version, "valid_from": now, "valid_to": None,
             "content_sha256": digest, "attributes": golden.attributes, "lineage": lineage}
        )  # fmt: skip
        events.append(
            ev.Event(ev.GOLDEN_RECORD_CHANGED, canonical_id,
                     {"canonical_id": canonical_id, "version": version, "attributes": golden.attributes})
        )  # fmt: skip
    ended = sorted(set(current) - set(members))

    with engine.begin() as connection:
        for start in range(0, len(closing + ended), 1000):
            chunk = (closing + ended)[start : start + 1000]
            connection.execute(
                update(GoldenRecord)
                .where(GoldenRecord.canonical_id.in_(chunk), GoldenRecord.valid_to.is_(None))
                .values(valid_to=now)
            )
        for start in range(0, len(inserts), 1000):
            connection.execute(insert(GoldenRecord), inserts[start : start + 1000])
        written_events = ev.write_events(connection, events)
    return len(inserts), written_events
