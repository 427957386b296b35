"""translations: translators' languages, and translation requests sealed to the case key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("languages", sa.String(128), nullable=False, server_default=""))
    op.create_table(
        "translations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("step", sa.String(32), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("target", sa.String(8), nullable=False),
        sa.Column("requested_by", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.Integer, nullable=True),
        sa.Column("machine", sa.LargeBinary, nullable=True),
        sa.Column("human", sa.LargeBinary, nullable=True),
        sa.Column("translated_by", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("translated_at", sa.DateTime, nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], ondelete="CASCADE", name="fk_translations_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_translations"),
    )
    op.create_index("ix_translations_case_id", "translations", ["case_id"])
    op.create_index(
        "ix_translations_open", "translations", ["source", "translated_at", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_translations_open", table_name="translations")
    op.drop_index("ix_translations_case_id", table_name="translations")
    op.drop_table("translations")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("languages")
