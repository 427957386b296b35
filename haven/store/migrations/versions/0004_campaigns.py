"""campaigns and channel posts

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("langs", sa.String(64), nullable=False),
        sa.Column("sector", sa.String(100), nullable=False),
        sa.Column("starts_on", sa.Date),
        sa.Column("ends_on", sa.Date),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.UniqueConstraint("code", name="uq_campaigns_code"),
    )
    op.create_table(
        "channel_posts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("campaign", sa.String(32)),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("texts", sa.Text, nullable=False),
        sa.Column("media_path", sa.String(500), nullable=False),
        sa.Column("media_kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduled_at", sa.DateTime, nullable=False),
        sa.Column("queued_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_posts"),
    )
    op.create_index("ix_channel_posts_campaign", "channel_posts", ["campaign"])
    op.create_index("ix_channel_posts_status", "channel_posts", ["status"])


def downgrade() -> None:
    op.drop_table("channel_posts")
    op.drop_table("campaigns")
