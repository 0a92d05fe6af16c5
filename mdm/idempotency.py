"""Idempotency keys: a repeated write answers as the first one did, a reused key with other content fails.

Keys are kept per API key, with the digest of the request they answered and that first answer,
in the write's own transaction: a write that fails leaves no key behind. A key is honoured for
``KEEP_FOR`` (a day, as clients retry within minutes); after that it is forgotten and may be used
again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from mdm.errors import IdempotencyKeyInProgressError, IdempotencyKeyReusedError
from mdm.storage.tables import IdempotencyKey
from mdm.storage.types import utc_now

KEEP_FOR: Final = timedelta(days=1)


def request_digest(*parts: Any) -> str:
    """The SHA-256 of a request's method, path, parameters and body; key order in objects is ignored."""
    return hashlib.sha256(msgspec.json.encode(parts, order="sorted")).hexdigest()


def recall(
    connection: Connection, api_key_id: int, key: str, digest: str, *, now: datetime | None = None
) -> tuple[int, Any] | None:
    """The status and answer first given under ``key``, or None for a key not seen, or seen too long ago.

    Raises:
        IdempotencyKeyReusedError: the key answered a request with other content.
    """
    found = connection.execute(
        select(IdempotencyKey.id, IdempotencyKey.request_sha256, IdempotencyKey.status_code,
               IdempotencyKey.response, IdempotencyKey.created_at)
        .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
    ).first()  # fmt: skip
    if found is None:
        return None
    if found.created_at < (now or utc_now()) - KEEP_FOR:
        connection.execute(delete(IdempotencyKey).where(IdempotencyKey.id == found.id))
        return None
    if found.request_sha256 != digest:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used for a different request", field="Idempotency-Key"
        )
    return found.status_code, found.response["body"]


def remember(  # noqa: PLR0917
    connection: Connection,
    api_key_id: int,
    key: str,
    digest: str,
    status: int,
    body: Any,
    *,
    now: datetime | None = None,
) -> None:
    """Keep the answer given under ``key``."""
    connection.execute(
        insert(IdempotencyKey).values(
            api_key_id=api_key_id, key=key, request_sha256=digest, status_code=status,
            response={"body": msgspec.to_builtins(body)}, created_at=now or utc_now(),
        )
    )  # fmt: skip


IN_PROGRESS: Final = 102
"""The status kept under a key while its request runs (HTTP's "Processing")."""
ABANDONED_AFTER: Final = timedelta(minutes=10)
"""A key still in progress after this long belongs to a request that died: the next may take it."""


def reserve(connection: Connection, api_key_id: int, key: str, digest: str) -> tuple[int, Any] | None:
    """Claim ``key`` for a request that runs in several transactions (a batch), or recall its answer.

    Call it in a transaction of its own that holds the key's lock, and commit: a request under the
    same key arriving while this one runs then sees the claim. Answer with ``complete`` at the end,
    or ``release`` the claim when the request fails as a whole.

    Returns:
        The first answer when the key already has one; None when the claim is this request's.

    Raises:
        IdempotencyKeyReusedError: the key answered, or is running, a request with other content.
        IdempotencyKeyInProgressError: the same request is running under the key.
    """
    now = utc_now()
    found = connection.execute(
        select(IdempotencyKey.id, IdempotencyKey.status_code, IdempotencyKey.created_at).where(
            IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key
        )
    ).first()
    if found is not None and found.status_code == IN_PROGRESS and found.created_at >= now - ABANDONED_AFTER:
        recall(connection, api_key_id, key, digest, now=now)  # a different request: 422
        raise IdempotencyKeyInProgressError(
            "a request under this Idempotency-Key is still running; retry when it has answered",
            field="Idempotency-Key",
        )
    if found is not None and found.status_code == IN_PROGRESS:
        connection.execute(delete(IdempotencyKey).where(IdempotencyKey.id == found.id))
    elif found is not None:
        first = recall(connection, api_key_id, key, digest, now=now)
        if first is not None:
            return first
    remember(connection, api_key_id, key, digest, IN_PROGRESS, None, now=now)
    return None


def complete(connection: Connection, api_key_id: int, key: str, status: int, body: Any) -> None:
    """Keep the answer of a request that ``reserve`` claimed the key for."""
    connection.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
        .values(status_code=status, response={"body": msgspec.to_builtins(body)})
    )


def release(connection: Connection, api_key_id: int, key: str) -> None:
    """Give up a claim that ``reserve`` made, for a request that failed as a whole."""
    connection.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.api_key_id == api_key_id,
            IdempotencyKey.key == key,
            IdempotencyKey.status_code == IN_PROGRESS,
        )
    )


# Limitation: forgotten keys are deleted only when they are sent again; a periodic purge of the
# rest belongs to the worker's housekeeping (issue 5).
