"""outbox, outbox pacer, processed channel updates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("chat", sa.String(64), nullable=False),
        sa.Column("address", sa.LargeBinary, nullable=False),
        sa.Column(
            "contact_id",
            BigId,
            sa.ForeignKey("contacts.id", ondelete="SET NULL", name="fk_outbox_contact_id_contacts"),
        ),
        sa.Column("case_id", BigId),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary),
        sa.Column("keep", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.DateTime, nullable=False),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("worker", sa.String(32)),
        sa.Column("error", sa.String(64)),
        sa.Column("remote_id", sa.BigInteger),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_contact_id", "outbox", ["contact_id"])
    op.create_index("ix_outbox_case_id", "outbox", ["case_id"])
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_at", "id"])
    op.create_index("ix_outbox_chat_id", "outbox", ["chat", "id"])
    op.create_table(
        "outbox_pacer",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("channel", name="pk_outbox_pacer"),
    )
    op.create_table(
        "processed_updates",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_processed_updates"),
    )
    op.create_index("ix_processed_updates_at", "processed_updates", ["at"])


def downgrade() -> None:
    for table in ("processed_updates", "outbox_pacer", "outbox"):
        op.drop_table(table)
