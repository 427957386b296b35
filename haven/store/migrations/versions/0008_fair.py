"""fair under overload: the outbox's classes and replaceable replies; the updates inbox

Revision ID: 0008
Revises: 0006 (and needs 0002, the outbox)
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = "0002"  # the outbox table

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("rank", sa.SmallInteger, nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("replaceable", sa.Boolean, nullable=False, server_default=sa.false())
        )
    # Rows queued before: operator messages first, notices and posts last.
    op.execute("UPDATE outbox SET rank = 0 WHERE kind = 'operator'")
    op.execute("UPDATE outbox SET rank = 3 WHERE kind IN ('notice', 'post')")
    op.create_table(
        "inbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("chat", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("key", name="uq_inbox_key"),
    )
    op.create_index("ix_inbox_chat", "inbox", ["chat"])


def downgrade() -> None:
    op.drop_table("inbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("replaceable")
        batch.drop_column("rank")
