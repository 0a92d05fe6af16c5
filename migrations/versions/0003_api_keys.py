"""API keys, and the identity-change log indexed by the other id of a change

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Keys are stored as SHA-256 digests only. The index on ``identity_change.other_id`` lets a
customer's history include the merges in which it was the merged-away side.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mdm.storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("created_at", mdm.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", mdm.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_key_key_sha256")),
    )
    with op.batch_alter_table("identity_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_change_other_id"), ["other_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("identity_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_change_other_id"))
    op.drop_table("api_key")
