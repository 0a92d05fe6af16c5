"""Bearer API keys: one guard checks the key and the role the route needs.

A route names the least role it needs in its ``opt`` (``min_role``); without it, ``reader``. Keys
found valid are remembered by digest for a few seconds, so that the hot read paths do not pay a
query for the key; a revoked key is refused once that time has passed. The key itself is never
logged, nor kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from sqlalchemy import Engine

from mdm.errors import AuthenticationError, PermissionDeniedError
from mdm.keys import ApiKeyInfo, Role, authenticate, digest

ROLE_OPT: Final = "min_role"
KEY_STATE: Final = "api_key"


@dataclass
class KeyCache:
    """Valid keys by digest, each until a moment on the monotonic clock; at most ``size`` of them."""

    seconds: float
    size: int = 10_000
    entries: dict[str, tuple[float, ApiKeyInfo]] = field(default_factory=dict)

    def get(self, key_digest: str) -> ApiKeyInfo | None:
        """The key remembered under a digest, while it is fresh."""
        entry = self.entries.get(key_digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_digest: str, info: ApiKeyInfo) -> None:
        """Remember a valid key for ``seconds``."""
        if self.seconds <= 0:
            return
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[key_digest] = (time.monotonic() + self.seconds, info)


def bearer_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The key in the ``Authorization: Bearer`` header.

    Raises:
        AuthenticationError: no such header, or another scheme.
    """
    header = connection.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("an API key is needed: send it as Authorization: Bearer <key>")
    return key.strip()


async def require_role(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Let a request through only with a valid key whose role allows the route.

    ``OPTIONS`` needs no key: it tells only which methods a path serves.

    Raises:
        AuthenticationError: no key, or an unknown or revoked one (401).
        PermissionDeniedError: the key's role is below the route's (403).
    """
    if connection.scope.get("method") == "OPTIONS":
        return
    key = bearer_key(connection)
    key_digest = digest(key)
    cache: KeyCache = connection.app.state.key_cache
    info = cache.get(key_digest)
    if info is None:
        engine: Engine = connection.app.state.reads
        info = await anyio.to_thread.run_sync(_authenticate, engine, key)
        if info is None:
            raise AuthenticationError("the API key is unknown or revoked")
        cache.put(key_digest, info)

    needed = Role(handler.opt.get(ROLE_OPT, Role.READER))
    if not info.role.allows(needed):
        raise PermissionDeniedError(
            f"this operation needs the role {needed} or higher; the key is {info.role}"
        )
    connection.state[KEY_STATE] = info


def _authenticate(engine: Engine, key: str) -> ApiKeyInfo | None:
    with engine.connect() as connection:
        return authenticate(connection, key)


def require_writer_of(connection: ASGIConnection[Any, Any, Any, Any], system: str) -> ApiKeyInfo:
    """The request's key, when it may write the records of ``system``: its writer, or an admin.

    Raises:
        PermissionDeniedError: a writer of another system, or a role without a system (403).
    """
    info: ApiKeyInfo = connection.state[KEY_STATE]
    if info.role is Role.ADMIN or (info.role is Role.WRITER and info.system == system):
        return info
    if info.role is Role.WRITER:
        raise PermissionDeniedError(f"this writer key may write {info.system} records only, not {system}")
    raise PermissionDeniedError(f"writing {system} records needs a writer key of {system} or an admin key")
