"""web intake: applicants' passphrase hashes and their sealed conversation

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_access",
        sa.Column(
            "case_id",
            BigId,
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_web_access_case_id_cases"),
            nullable=False,
        ),
        sa.Column("passphrase_hash", sa.String(256), nullable=False),
        sa.Column("key_salt", sa.LargeBinary, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_web_access"),
    )
    op.create_table(
        "web_thread",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            BigId,
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_web_thread_case_id_cases"),
            nullable=False,
        ),
        sa.Column(
            "message_id",
            BigId,
            sa.ForeignKey(
                "messages.id", ondelete="CASCADE", name="fk_web_thread_message_id_messages"
            ),
        ),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_thread"),
    )
    op.create_index("ix_web_thread_case_id", "web_thread", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_web_thread_case_id", table_name="web_thread")
    op.drop_table("web_thread")
    op.drop_table("web_access")
