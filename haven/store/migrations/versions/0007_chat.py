"""chat messages the bot may still delete, and the chats due to be emptied

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat", sa.String(64), nullable=False),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
    )
    op.create_index("ix_chat_messages_chat_id", "chat_messages", ["chat", "id"])
    op.create_index("ix_chat_messages_at", "chat_messages", ["at"])
    op.create_table(
        "chat_wipes",
        sa.Column("chat", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.LargeBinary, nullable=False),
        sa.Column("reason", sa.String(8), nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("chat", name="pk_chat_wipes"),
    )
    op.create_index("ix_chat_wipes_due_at", "chat_wipes", ["due_at"])


def downgrade() -> None:
    op.drop_table("chat_wipes")
    op.drop_table("chat_messages")
