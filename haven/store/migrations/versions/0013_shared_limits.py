"""several intake processes as one: shared rate counters and shared values (webhook secret)

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_counters"),
    )
    op.create_index("ix_rate_counters_expires", "rate_counters", ["expires"])
    op.create_table(
        "shared_values",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=True),
        sa.Column("holder", sa.String(32), nullable=True),
        sa.Column("until", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_shared_values"),
    )


def downgrade() -> None:
    op.drop_table("shared_values")
    op.drop_index("ix_rate_counters_expires", "rate_counters")
    op.drop_table("rate_counters")
