"""API keys: 256 random bits, shown once, kept only as SHA-256 digests, each with one role.

Roles rank ``reader`` < ``writer`` < ``steward`` < ``admin``: a key may do what its own role and
every lower role may do. A writer is bound to one source system, whose records alone it may
write; reading is open to every role.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Final

import msgspec
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from mdm.errors import InvalidRequestError, NotFoundError
from mdm.storage.tables import ApiKey
from mdm.storage.types import utc_now

#: Every key starts so, which lets secret scanners and people recognise one.
KEY_PREFIX: Final = "mdm_"
KEY_BYTES: Final = 32


class Role(StrEnum):
    """What an API key may do; later members include the rights of earlier ones."""

    READER = "reader"
    WRITER = "writer"
    STEWARD = "steward"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """The role's place in the order reader < writer < steward < admin."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether a key of this role may do what ``needed`` may do."""
        return self.rank >= needed.rank


class ApiKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An API key as the hub knows it: never the key itself.

    Attributes:
        id: the key's number, used to revoke it.
        role: what the key may do.
        system: the source system a writer key is bound to; None for other roles.
        created_at: when the key was made.
        revoked_at: when it was revoked, if it was.
    """

    id: int
    role: Role
    system: str | None
    created_at: datetime
    revoked_at: datetime | None


def digest(key: str) -> str:
    """The SHA-256 digest under which a key is stored, in hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(connection: Connection, role: Role, system: str | None = None) -> tuple[ApiKeyInfo, str]:
    """Make a new key of a role; a writer key needs the system it may write, other roles take none.

    Returns:
        The key's stored description and the key itself, which is not kept and cannot be shown again.

    Raises:
        InvalidRequestError: a writer without a system, or another role with one.
    """
    if role is Role.WRITER and not system:
        raise InvalidRequestError("a writer key is bound to one source system: name it", field="system")
    if role is not Role.WRITER and system:
        raise InvalidRequestError(f"only writer keys are bound to a system, not {role} keys", field="system")

    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    created_at = utc_now()
    key_id = connection.execute(
        insert(ApiKey)
        .values(key_sha256=digest(key), role=role.value, system=system, created_at=created_at)
        .returning(ApiKey.id)
    ).scalar_one()
    info = ApiKeyInfo(id=key_id, role=role, system=system, created_at=created_at, revoked_at=None)
    return info, key


def list_keys(connection: Connection) -> list[ApiKeyInfo]:
    """Every key ever made, revoked ones included, oldest first."""
    rows = connection.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.system, ApiKey.created_at, ApiKey.revoked_at).order_by(
            ApiKey.id
        )
    ).all()
    return [
        ApiKeyInfo(id=row.id, role=Role(row.role), system=row.system, created_at=row.created_at,
                   revoked_at=row.revoked_at)
        for row in rows
    ]  # fmt: skip


def revoke_key(connection: Connection, key_id: int) -> None:
    """Revoke a key at once; revoking a revoked key changes nothing.

    Raises:
        NotFoundError: no key has this id.
    """
    found = connection.execute(select(ApiKey.revoked_at).where(ApiKey.id == key_id)).one_or_none()
    if found is None:
        raise NotFoundError(f"no API key has the id {key_id}", field="id")
    if found.revoked_at is None:
        connection.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utc_now()))


def authenticate(connection: Connection, key: str) -> ApiKeyInfo | None:
    """The live key that ``key`` is, or None when it is unknown or revoked."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = connection.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.system, ApiKey.created_at, ApiKey.revoked_at).where(
            ApiKey.key_sha256 == digest(key)
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return ApiKeyInfo(id=row.id, role=Role(row.role), system=row.system, created_at=row.created_at,
                      revoked_at=None)  # fmt: skip
