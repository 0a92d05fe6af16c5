"""Outbox events: written in the same transaction as the identity change they announce."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from mdm.storage.tables import OutboxEvent
from mdm.storage.types import utc_now

CUSTOMER_CREATED: Final = "customer.created"
RECORD_LINKED: Final = "customer.record_linked"
RECORD_UNLINKED: Final = "customer.record_unlinked"
CUSTOMER_MERGED: Final = "customer.merged"
CUSTOMER_SPLIT: Final = "customer.split"
CUSTOMER_RETIRED: Final = "customer.retired"
CUSTOMER_REACTIVATED: Final = "customer.reactivated"
GOLDEN_RECORD_CHANGED: Final = "customer.golden_record_changed"


class Event(msgspec.Struct, frozen=True):
    """One event to publish: its type, the customer it is about, and its body."""

    event_type: str
    canonical_id: str
    payload: dict[str, Any]


def write_events(connection: Connection, events: Sequence[Event]) -> int:
    """Insert events into the outbox; each gets an id that consumers use to drop repeats."""
    if not events:
        return 0
    now = utc_now()
    connection.execute(
        insert(OutboxEvent),
        [
            {"event_id": str(uuid.uuid4()), "event_type": event.event_type,
             "canonical_id": event.canonical_id, "created_at": now, "payload": event.payload}
            for event in events
        ],
    )  # fmt: skip
    return len(events)
