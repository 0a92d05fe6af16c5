"""Cross-reference: which customer a source key belongs to, now or at a moment, one key or many.

These are the hub's hottest reads, so they run as plain SQL on the crosswalk's key index and build
msgspec structs directly, without ORM objects.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Final

import msgspec
from sqlalchemy import Select, and_, bindparam, exists, or_, select, tuple_
from sqlalchemy.engine import Connection, Dialect

from mdm.errors import NotFoundError, UnknownSystemError
from mdm.storage.tables import CrosswalkEntry, SourceRecord
from mdm.timeline import SourceKeyEntry, valid_at

MAX_BATCH: Final = 1000
"""The most keys one batch lookup may ask for."""

WITHOUT_NUL: Final = "^[^\\x00]*$"
"""No stored system or source id holds a NUL character (PostgreSQL keeps none in text)."""

KeyPart = Annotated[str, msgspec.Meta(pattern=WITHOUT_NUL)]


class KeyCustomer(msgspec.Struct, frozen=True, kw_only=True):
    """A source key, the customer it belongs to, and that customer's other source keys.

    Attributes:
        system: the source system.
        source_id: the record's id in that system.
        canonical_id: the customer the key belongs to.
        valid_from: since when it belongs to that customer.
        other_keys: the customer's other source keys, sorted.
        as_of: the moment asked about; None for now.
    """

    system: str
    source_id: str
    canonical_id: str
    valid_from: datetime
    other_keys: list[SourceKeyEntry]
    as_of: datetime | None = None


class SourceKeyQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One source key to look up."""

    system: KeyPart
    source_id: KeyPart


class KeyResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer for one key of a batch: its customer, or why it has none.

    Attributes:
        system: the source system asked for.
        source_id: the source id asked for.
        canonical_id: the customer the key belongs to; None when it belongs to none.
        problem: None when found; ``not_found`` for an unknown or unlinked key, ``system.unknown``
            for a system the hub has never had records of.
    """

    system: str
    source_id: str
    canonical_id: str | None
    problem: str | None = None


def key_customer(connection: Connection, system: str, source_id: str, as_of: datetime | None) -> KeyCustomer:
    """The customer a source key belongs to now or at ``as_of``, with the customer's other keys.

    Raises:
        UnknownSystemError: the hub has no record of this system.
        NotFoundError: the key is unknown, or belonged to no customer then.
    """
    parameters: dict[str, Any] = {"system": system, "source_id": source_id}
    if as_of is not None:
        parameters["as_of"] = as_of
    rows = _run_prebuilt(connection, _key_customer_statement(then=as_of is not None), parameters)
    own = next((row for row in rows if (row[1], row[2]) == (system, source_id)), None)
    if own is None:
        if not system_is_known(connection, system):
            raise UnknownSystemError(f"the hub has no records of the system {system!r}", field="system")
        raise NotFoundError("the source key belongs to no customer", record=f"{system}/{source_id}")

    others = [
        SourceKeyEntry(system=key_system, source_id=key_id, valid_from=since)
        for _, key_system, key_id, since in rows
        if (key_system, key_id) != (system, source_id)
    ]
    return KeyCustomer(
        system=system, source_id=source_id, canonical_id=own[0], valid_from=own[3],
        other_keys=others, as_of=as_of,
    )  # fmt: skip


@cache
def _key_customer_statement(*, then: bool) -> Select[str, str, str, datetime]:
    """The keys of the customer that a source key belongs to, now or at ``:as_of``, in one statement.

    One round trip and one snapshot. Built once: a lookup then costs no statement construction and
    no cache-key computation, which together cost several times the query itself.
    """
    moment = bindparam("as_of", type_=CrosswalkEntry.__table__.c.valid_from.type) if then else None
    current = (
        and_(CrosswalkEntry.valid_from <= moment,
             or_(CrosswalkEntry.valid_to.is_(None), CrosswalkEntry.valid_to > moment))
        if moment is not None else CrosswalkEntry.valid_to.is_(None)
    )  # fmt: skip
    owner = (
        select(CrosswalkEntry.canonical_id)
        .where(CrosswalkEntry.system == bindparam("system"),
               CrosswalkEntry.source_id == bindparam("source_id"), current)
        .limit(1)
        .scalar_subquery()
    )  # fmt: skip
    return (
        select(CrosswalkEntry.canonical_id, CrosswalkEntry.system, CrosswalkEntry.source_id,
               CrosswalkEntry.valid_from)
        .where(CrosswalkEntry.canonical_id == owner, current)
        .order_by(CrosswalkEntry.system, CrosswalkEntry.source_id)
    )  # fmt: skip


def _run_prebuilt(
    connection: Connection, statement: Select[str, str, str, datetime], parameters: dict[str, Any]
) -> list[tuple[str, str, str, datetime]]:
    """The rows of a prebuilt key-customer statement.

    On PostgreSQL the statement, compiled once, runs straight on the psycopg connection: SQLAlchemy's
    execution and result set-up cost about twice the query's own client time, and this is the hub's
    hottest read (see bench/api.py). The one typed column, a timestamp, is normalised to UTC as
    ``UtcDateTime`` would. Elsewhere SQLAlchemy runs it.
    """
    if connection.dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(statement, parameters)]  # type: ignore[misc]
    sql, defaults = _compiled(statement, connection.dialect)
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, {**defaults, **parameters})
        return [(canonical_id, system, source_id, since.astimezone(UTC))
                for canonical_id, system, source_id, since in cursor.fetchall()]  # fmt: skip


@cache
def _compiled(statement: Select[Any], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=dialect)
    return compiled.string, dict(compiled.params)


def look_up_keys(
    connection: Connection, keys: list[SourceKeyQuery], as_of: datetime | None
) -> list[KeyResult]:
    """The customer of each key, in the order asked; a key without one is reported, not fatal."""
    wanted = list(dict.fromkeys((key.system, key.source_id) for key in keys))
    found: dict[tuple[str, str], str] = {}
    if wanted:
        rows = connection.execute(
            select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.canonical_id).where(
                tuple_(CrosswalkEntry.system, CrosswalkEntry.source_id).in_(wanted),
                valid_at(CrosswalkEntry.valid_from, CrosswalkEntry.valid_to, as_of),
            )
        )
        found = {(row.system, row.source_id): row.canonical_id for row in rows}

    missing_systems = {system for system, source_id in wanted if (system, source_id) not in found}
    unknown = {system for system in missing_systems if not system_is_known(connection, system)}
    results = []
    for key in keys:
        canonical_id = found.get((key.system, key.source_id))
        problem = None
        if canonical_id is None:
            problem = UnknownSystemError.code if key.system in unknown else NotFoundError.code
        results.append(
            KeyResult(system=key.system, source_id=key.source_id, canonical_id=canonical_id, problem=problem)
        )
    return results


def system_is_known(connection: Connection, system: str) -> bool:
    """Whether the hub holds any record of a source system."""
    return bool(connection.execute(select(exists().where(SourceRecord.system == system))).scalar())
