"""Alembic migrations, applied by ``haven db upgrade`` (and ``make run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection: Any, target: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, target)


async def upgrade(engine: AsyncEngine, target: str = "heads") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, target)


def _current(connection: Any) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def pending(engine: AsyncEngine) -> set[str]:
    """Heads of the migration scripts the database has not reached yet."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    return heads - current
