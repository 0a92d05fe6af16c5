"""organisation web domain on standardised records

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Existing rows get the column empty; ``mdm restandardise`` fills it from the stored raw records.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("standardised_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("domain", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_standardised_record_domain"), ["domain"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("standardised_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_standardised_record_domain"))
        batch_op.drop_column("domain")
