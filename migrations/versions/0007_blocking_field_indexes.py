"""indexes on every field that starts a blocking rule of the built-in profile

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Real-time matching finds candidates by the blocking rules, one indexed lookup a rule. The rules
on family name, postal code and date of birth (persons, and organisations' street and postal
code) had no index, so each was a scan of every standardised record.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("family_name", "postal_code", "date_of_birth")


def upgrade() -> None:
    with op.batch_alter_table("standardised_record", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.create_index(batch_op.f(f"ix_standardised_record_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("standardised_record", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.drop_index(batch_op.f(f"ix_standardised_record_{column}"))
