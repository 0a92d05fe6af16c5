"""Idempotency keys: honoured for a day, then forgotten and free to be used again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from mdm.errors import IdempotencyKeyReusedError
from mdm.idempotency import KEEP_FOR, recall, remember
from mdm.keys import Role, create_key
from mdm.storage.tables import IdempotencyKey
from mdm.storage.types import utc_now


def test_a_key_is_honoured_for_a_day_and_then_forgotten(engine: Engine) -> None:
    now = utc_now()
    with engine.begin() as connection:
        info, _ = create_key(connection, Role.ADMIN)
        remember(connection, info.id, "retry-1", "digest-a", 200, {"answer": 1}, now=now - KEEP_FOR / 2)
        remember(connection, info.id, "retry-2", "digest-b", 200, {"answer": 2}, now=now - KEEP_FOR * 2)

    with engine.begin() as connection:
        assert recall(connection, info.id, "retry-1", "digest-a", now=now) == (200, {"answer": 1})
        with pytest.raises(IdempotencyKeyReusedError):
            recall(connection, info.id, "retry-1", "digest-other", now=now)

    with engine.begin() as connection:
        assert recall(connection, info.id, "retry-2", "digest-other", now=now) is None
        remember(connection, info.id, "retry-2", "digest-other", 200, {"answer": 3}, now=now)

    with engine.begin() as connection:
        assert recall(connection, info.id, "retry-2", "digest-other", now=now + timedelta(minutes=1)) == (
            200,
            {"answer": 3},
        )
        assert connection.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == 2
