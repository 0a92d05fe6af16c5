"""The schema: migrations match the declared tables, and times come back in UTC on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from mdm.storage.tables import Base, CanonicalIdIssue


def test_migrations_create_exactly_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_times_are_stored_and_read_in_utc(engine: Engine) -> None:
    berlin_noon = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as connection:
        connection.execute(
            insert(CanonicalIdIssue).values(canonical_id="C000000000000X", issued_at=berlin_noon)
        )
        stored = connection.execute(select(CanonicalIdIssue.issued_at)).scalar_one()
    assert stored == berlin_noon
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 10


def test_naive_times_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError), engine.begin() as connection:
        connection.execute(insert(CanonicalIdIssue).values(canonical_id="C1", issued_at=datetime(2026, 1, 1)))


def test_an_issued_canonical_id_cannot_be_issued_again(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(insert(CanonicalIdIssue).values(canonical_id="C2", issued_at=now))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(CanonicalIdIssue).values(canonical_id="C2", issued_at=now))
