"""Alembic migrations, applied by ``haven db upgrade`` (and ``make run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from haven.crypto import IntakeKeys

from . import audit

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection: Any, target: str, keys: IntakeKeys | None) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    cfg.attributes["keys"] = keys
    command.upgrade(cfg, target)


async def upgrade(
    engine: AsyncEngine,
    target: str = "heads",
    *,
    keys: IntakeKeys | None = None,
    audit_key: bytes | None = None,
) -> None:
    """Apply the migrations, then start the audit chain if it has not started (with
    ``audit_key``, the chain's first key; ``haven db upgrade`` finds it). ``keys``: for the
    migrations that seal existing rows, and for the chain's key."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, target, keys)
    if audit_key is not None:
        if keys is None:
            raise ValueError("starting the audit chain needs the intake keys")
        await start_audit_chain(engine, audit_key, keys)


def _start_chain(connection: Any, first_key: bytes, keys: IntakeKeys) -> bool:
    session = Session(bind=connection)
    if audit.has_chain(session):
        return False
    audit.start_chain(session, first_key, keys.chain)
    session.flush()
    return True


async def start_audit_chain(engine: AsyncEngine, first_key: bytes, keys: IntakeKeys) -> bool:
    """Start the audit chain with its first key unless it has started (its next key sealed
    under the routing key of ``keys``); True if it did."""
    async with engine.begin() as conn:
        return bool(await conn.run_sync(_start_chain, first_key, keys))


def _has_chain(connection: Any) -> bool:
    return audit.has_chain(Session(bind=connection))


async def has_audit_chain(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.run_sync(_has_chain))


def _current(connection: Any) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def pending(engine: AsyncEngine) -> set[str]:
    """Heads of the migration scripts the database has not reached yet."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    if not current:
        return heads
    # A head another revision depends on (``depends_on``) is reached without being current.
    reached = {r.revision for r in script.iterate_revisions(tuple(current), "base")}
    return heads - reached
