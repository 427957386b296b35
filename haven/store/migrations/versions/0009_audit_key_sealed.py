"""the audit chain's key sealed under the routing key, and the chain rekeyed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The database kept the chain's next key in plaintext, and PostgreSQL keeps every earlier
version of that row (dead tuples, the write-ahead log, its archive, backups): with any of them
the database host could rewrite the events after it. This revision appends one event
(``audit.rekeyed``) with the plaintext key, and seals the key after it, which is derived with
the routing key (``haven.crypto.ChainKeys.rekey``): none of the plaintext keys left behind leads
past that event. Needs the intake keys (``haven db upgrade`` hands them in,
``config.attributes["keys"]``). A database whose chain has not started (``haven db upgrade``
starts it sealed) is left as it is.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import context, op

from haven import crypto
from haven.store import audit
from haven.store.models import utcnow

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

chain_table = sa.table(
    "audit_chain",
    sa.column("id", sa.Integer),
    sa.column("key", sa.LargeBinary),
    sa.column("head", sa.String),
    sa.column("last_id", BigId),
)
events = sa.Table(
    "audit",
    sa.MetaData(),
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime),
    sa.Column("actor", sa.String(64)),
    sa.Column("action", sa.String(64)),
    sa.Column("case_id", BigId),
    sa.Column("detail", sa.Text),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
)


def upgrade() -> None:
    bind = op.get_bind()
    row = bind.execute(sa.select(chain_table).where(chain_table.c.id == audit.CHAIN_ROW)).first()
    if row is None:
        return
    keys = context.config.attributes.get("keys")
    if keys is None:
        raise RuntimeError("sealing the audit chain's key needs the keys: run `haven db upgrade`")
    sealer: crypto.ChainKeys = keys.chain
    key = bytes(row.key)
    try:
        sealer.open(key)
        return  # sealed already
    except crypto.BadEnvelope:
        pass
    at = utcnow()
    actor, action, detail = "migration", audit.REKEY, json.dumps({"revision": revision})
    inserted = bind.execute(
        events.insert().values(
            at=at,
            actor=actor,
            action=action,
            case_id=None,
            detail=detail,
            prev_hash=row.head,
            hash="",
        )
    )
    event_id = int(inserted.inserted_primary_key[0])
    link = audit.link(key, row.head, event_id, at, actor, action, None, detail)
    bind.execute(events.update().where(events.c.id == event_id).values(hash=link))
    bind.execute(
        chain_table.update()
        .where(chain_table.c.id == audit.CHAIN_ROW)
        .values(key=sealer.seal(sealer.rekey(key)), head=link, last_id=event_id)
    )


def downgrade() -> None:  # pragma: no cover - the rekeyed chain cannot go back to plaintext
    raise RuntimeError("0009 cannot be undone: the chain was rekeyed with the routing key")
