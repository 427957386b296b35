"""the audit chain's key sealed under the routing key, and the chain rekeyed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

The database kept the chain's next key in plaintext, and PostgreSQL keeps every earlier
version of that row (dead tuples, the write-ahead log, its archive, backups): with any of them
the database host could rewrite the events after it. This revision seals the key, and first
rekeys it with the routing key (``haven.crypto.ChainKeys.rekey``), noting after which event
(``rekeyed_after``; 0: before the first): none of the plaintext keys left behind leads past that
event. Needs the intake keys (``haven db upgrade`` hands them in, ``config.attributes["keys"]``).
A database whose chain has not started (``haven db upgrade`` starts it sealed) only gets the
column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from haven import crypto

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = "0006"  # the audit_chain table

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CHAIN_ROW = 1

chain_table = sa.table(
    "audit_chain",
    sa.column("id", sa.Integer),
    sa.column("key", sa.LargeBinary),
    sa.column("last_id", BigId),
    sa.column("rekeyed_after", BigId),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_chain") as batch:
        batch.add_column(sa.Column("rekeyed_after", BigId))
    bind = op.get_bind()
    row = bind.execute(sa.select(chain_table).where(chain_table.c.id == CHAIN_ROW)).first()
    if row is None:
        return
    keys = context.config.attributes.get("keys")
    if keys is None:
        raise RuntimeError("sealing the audit chain's key needs the keys: run `haven db upgrade`")
    sealer: crypto.ChainKeys = keys.chain
    bind.execute(
        chain_table.update()
        .where(chain_table.c.id == CHAIN_ROW)
        .values(key=sealer.seal(sealer.rekey(bytes(row.key))), rekeyed_after=row.last_id or 0)
    )


def downgrade() -> None:  # pragma: no cover - the rekeyed chain cannot go back to plaintext
    raise RuntimeError("0010 cannot be undone: the chain was rekeyed with the routing key")
