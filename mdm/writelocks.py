"""Keeping concurrent writes of one customer from racing: advisory locks on PostgreSQL, one writer on SQLite.

Two records of one new customer arriving at the same moment must end in one customer. Each write
takes transaction-scoped advisory locks on its source key and on the values of its blocking rules
before it looks for candidates, so a second write that could find the first as a candidate waits
until the first has committed, and then finds it. Writes that share no blocking value never wait
for each other: there is no global lock. Locks are taken in sorted order, so two writes never
deadlock. SQLite has one writer per database anyway; within the one process that serves it, a
lock makes writes take turns.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from matching.profile import KindProfile

_SQLITE_WRITES = threading.Lock()


@contextmanager
def one_writer_on_sqlite(engine: Engine) -> Iterator[None]:
    """Around a write transaction: on SQLite, one at a time in this process; elsewhere, nothing."""
    if engine.dialect.name == "sqlite":
        with _SQLITE_WRITES:
            yield
    else:
        yield


def lock_keys(connection: Connection, keys: list[str]) -> None:
    """Take transaction-scoped advisory locks on keys, in sorted order; a no-op except on PostgreSQL."""
    if connection.dialect.name != "postgresql" or not keys:
        return
    # One round trip: the locks are taken row by row in the order of the sorted subquery.
    ordered = sorted({_lock_id(key) for key in keys})
    connection.execute(
        text(
            "SELECT pg_advisory_xact_lock(lock_id) "
            "FROM (SELECT unnest(CAST(:ids AS bigint[])) AS lock_id ORDER BY 1) AS ordered"
        ),
        {"ids": ordered},
    )


def source_key_lock(system: str, source_id: str) -> str:
    """The lock key of one source record."""
    return f"source\x1f{system}\x1f{source_id}"


def blocking_locks(profile: KindProfile, kind: str, values: Mapping[str, str | None]) -> list[str]:
    """The lock keys of a record's blocking values: one per rule whose fields are all present."""
    keys = []
    for rule in profile.blocking:
        parts = [values.get(field) for field in rule]
        if all(part for part in parts):
            keys.append("\x1f".join(["block", kind, *rule, *(str(part) for part in parts)]))
    return keys


def identifier_locks(profile: KindProfile, kind: str, values: Mapping[str, str | None]) -> list[str]:
    """The lock keys of a record's identifier values: one per identifier rule whose fields are present.

    Only the rule's ``fields`` make the key, not ``same_where_known``: two records that agree on a
    tax id while only one knows the country must still take the same lock.
    """
    keys = []
    for rule in profile.identifiers:
        parts = [values.get(field) for field in rule.fields]
        if all(part for part in parts):
            keys.append("\x1f".join(["identifier", kind, *rule.fields, *(str(part) for part in parts)]))
    return keys


def _lock_id(key: str) -> int:
    # PostgreSQL advisory locks take a signed 64-bit integer.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
