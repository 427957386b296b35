"""split trust: hand-off placement sealed, sector found by keyed hash; the keyed audit chain

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Existing hand-offs have their sector, window, group size and wounded sealed to the case public
key (which needs the intake keys: ``haven db upgrade`` hands them in,
``config.attributes["keys"]``); their sector key stays empty, and the console checks their
scope on the opened placement.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("last_id", BigId),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain"),
    )
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("sector_key", sa.String(64)))
        batch.add_column(sa.Column("placement", sa.LargeBinary))
    handoffs = sa.table(
        "handoffs",
        sa.column("id", BigId),
        sa.column("sector", sa.String),
        sa.column("window_start", sa.DateTime),
        sa.column("window_end", sa.DateTime),
        sa.column("group_size", sa.Integer),
        sa.column("wounded", sa.Boolean),
        sa.column("sector_key", sa.String),
        sa.column("placement", sa.LargeBinary),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(handoffs)).all()
    if rows:
        keys = context.config.attributes.get("keys")
        if keys is None:
            raise RuntimeError("sealing existing hand-offs needs the keys: run `haven db upgrade`")
        for row in rows:
            placement = {
                "sector": row.sector,
                "window_start": row.window_start.isoformat(),
                "window_end": row.window_end.isoformat(),
                "group_size": row.group_size,
                "wounded": row.wounded,
            }
            bind.execute(
                handoffs.update()
                .where(handoffs.c.id == row.id)
                .values(
                    sector_key="",  # checked on the opened placement (LEGACY_SECTOR)
                    placement=keys.seal(json.dumps(placement, ensure_ascii=False).encode()),
                )
            )
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_index("ix_handoffs_sector")
        batch.drop_column("sector")
        batch.drop_column("window_start")
        batch.drop_column("window_end")
        batch.drop_column("group_size")
        batch.drop_column("wounded")
        batch.alter_column("sector_key", existing_type=sa.String(64), nullable=False)
        batch.alter_column("placement", existing_type=sa.LargeBinary, nullable=False)
        batch.create_index("ix_handoffs_sector_key", ["sector_key"])


def downgrade() -> None:  # pragma: no cover - sealed placement cannot be unsealed here
    raise RuntimeError("0006 cannot be undone: the hand-offs' placement is sealed")
