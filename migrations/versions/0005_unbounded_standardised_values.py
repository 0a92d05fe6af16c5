"""standardised values as unbounded text

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

A tax id, phone, postal code or legal form as a source sends it can be longer than the bounds
these columns had (64 and 32 characters); PostgreSQL refused such a row and the write failed.
Text costs nothing more in PostgreSQL, and SQLite never enforced the bounds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BOUNDS = {"legal_suffix": 32, "tax_id": 64, "phone": 32, "postal_code": 32}


def upgrade() -> None:
    with op.batch_alter_table("standardised_record", schema=None) as batch_op:
        for column, length in BOUNDS.items():
            batch_op.alter_column(column, existing_type=sa.String(length), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("standardised_record", schema=None) as batch_op:
        for column, length in BOUNDS.items():
            batch_op.alter_column(column, existing_type=sa.Text(), type_=sa.String(length), existing_nullable=True)
