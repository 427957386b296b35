"""Alembic environment: runs on a connection handed in by haven.store.migrate."""

from __future__ import annotations

from alembic import context

from haven.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through haven.store.migrate
    raise RuntimeError("run migrations with `haven db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
