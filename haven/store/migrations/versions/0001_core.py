"""core: cases, contacts, messages, attachments, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("close_reason", sa.String(16)),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("campaign", sa.String(64)),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("flow_version", sa.Integer, nullable=False),
        sa.Column("group_size", sa.Integer),
        sa.Column("wounded", sa.Boolean),
        sa.Column("risk_flags", sa.String(256), nullable=False),
        sa.Column("answers", sa.LargeBinary),
        sa.Column("code_phrase", sa.LargeBinary),
        sa.Column("assigned_to", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("submitted_at", sa.DateTime),
        sa.Column("closed_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("reference", name="uq_cases_reference"),
    )
    op.create_index("ix_cases_state", "cases", ["state"])
    op.create_index("ix_cases_campaign", "cases", ["campaign"])
    op.create_index("ix_cases_assigned_to", "cases", ["assigned_to"])
    op.create_index("ix_cases_state_submitted", "cases", ["state", "submitted_at"])
    op.create_table(
        "contacts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("lookup", sa.String(64), nullable=False),
        sa.Column("address", sa.LargeBinary, nullable=False),
        sa.Column("flow_state", sa.LargeBinary),
        sa.Column(
            "case_id",
            BigId,
            sa.ForeignKey("cases.id", ondelete="SET NULL", name="fk_contacts_case_id_cases"),
        ),
        sa.Column("lang", sa.String(8)),
        sa.Column("unreachable", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("lookup", name="uq_contacts_lookup"),
    )
    op.create_index("ix_contacts_case_id", "contacts", ["case_id"])
    op.create_table(
        "messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            BigId,
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_messages_case_id_cases"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("author", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index("ix_messages_case_id", "messages", ["case_id"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column(
            "case_id",
            BigId,
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_attachments_case_id_cases"),
            nullable=False,
        ),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    op.create_index("ix_attachments_case_id", "attachments", ["case_id"])
    op.create_table(
        "audit",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("case_id", BigId),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_action", "audit", ["action"])
    op.create_index("ix_audit_case_id", "audit", ["case_id"])


def downgrade() -> None:
    for table in ("audit", "attachments", "messages", "contacts", "cases"):
        op.drop_table(table)
