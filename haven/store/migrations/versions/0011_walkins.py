"""walk-ins and numbered leaflet print batches

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "leaflet_batches",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leaflet_batches"),
        sa.UniqueConstraint("code", name="uq_leaflet_batches_code"),
    )
    op.create_index(
        "ix_leaflet_batches_campaign_number",
        "leaflet_batches",
        ["campaign", "number"],
        unique=True,
    )
    op.create_table(
        "walkins",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("sector_key", sa.String(64), nullable=False),
        sa.Column("details", sa.LargeBinary, nullable=False),
        sa.Column("recorded_by", sa.Integer, nullable=True),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], ondelete="CASCADE", name="fk_walkins_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_walkins"),
    )
    op.create_index("ix_walkins_case_id", "walkins", ["case_id"])
    op.create_index("ix_walkins_sector_key", "walkins", ["sector_key"])


def downgrade() -> None:
    op.drop_index("ix_walkins_sector_key", table_name="walkins")
    op.drop_index("ix_walkins_case_id", table_name="walkins")
    op.drop_table("walkins")
    op.drop_index("ix_leaflet_batches_campaign_number", table_name="leaflet_batches")
    op.drop_table("leaflet_batches")
