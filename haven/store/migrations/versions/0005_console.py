"""console: users, sessions, hand-offs, and the indexes of the queue

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("sectors", sa.String(256), nullable=False),
        sa.Column("password_hash", sa.String(256)),
        sa.Column("totp_secret", sa.LargeBinary),
        sa.Column("totp_enrolled", sa.Boolean, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger),
        sa.Column("setup_token", sa.String(64)),
        sa.Column("setup_expires", sa.DateTime),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.UniqueConstraint("setup_token", name="uq_users_setup_token"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column(
            "user_id",
            BigId,
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_console_sessions_user_id_users"),
            nullable=False,
        ),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "handoffs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            BigId,
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_handoffs_case_id_cases"),
            nullable=False,
        ),
        sa.Column("sector", sa.String(100), nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("window_end", sa.DateTime, nullable=False),
        sa.Column("group_size", sa.Integer),
        sa.Column("wounded", sa.Boolean),
        sa.Column("details", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("outcome_reason", sa.String(32)),
        sa.Column("issued_by", sa.Integer),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("outcome_by", sa.Integer),
        sa.Column("outcome_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
    )
    op.create_index("ix_handoffs_case_id", "handoffs", ["case_id"])
    op.create_index("ix_handoffs_sector", "handoffs", ["sector"])
    op.create_index("ix_handoffs_status", "handoffs", ["status"])
    # The queue: open cases by state, who holds them and how long they wait; the filters.
    # Covering: the count and the urgency order of a queue page read this index only.
    op.create_index(
        "ix_cases_queue",
        "cases",
        ["state", "assigned_to", "submitted_at", "wounded", "group_size", "created_at", "id"],
    )
    op.create_index("ix_cases_state_lang", "cases", ["state", "lang", "submitted_at"])
    op.create_index("ix_cases_state_channel", "cases", ["state", "channel", "submitted_at"])
    # A case's conversation in order, and its newest message (live updates).
    op.create_index("ix_messages_case_id_id", "messages", ["case_id", "id"])
    # The audit log page: by actor, by time.
    op.create_index("ix_audit_actor_id", "audit", ["actor", "id"])
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    for name, table in (
        ("ix_audit_at", "audit"),
        ("ix_audit_actor_id", "audit"),
        ("ix_messages_case_id_id", "messages"),
        ("ix_cases_state_channel", "cases"),
        ("ix_cases_state_lang", "cases"),
        ("ix_cases_queue", "cases"),
    ):
        op.drop_index(name, table_name=table)
    op.drop_table("handoffs")
    op.drop_table("console_sessions")
    op.drop_table("users")
