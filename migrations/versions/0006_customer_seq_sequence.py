"""customer order numbers from a sequence on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

A customer's ``seq`` (the order ids were issued in, which decides the survivor of a merge) was the
largest so far plus one, read inside the writing transaction. Two real-time writes creating
customers at the same moment read the same largest value, and the second failed on the unique
constraint. A sequence hands out each number once, whatever the concurrency. SQLite has one writer
at a time and keeps the old way.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE customer_seq AS bigint OWNED BY customer.seq")
    op.execute("SELECT setval('customer_seq', COALESCE((SELECT max(seq) FROM customer), 0) + 1, false)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP SEQUENCE customer_seq")
