"""Every Alembic revision, one at a time, on a database that holds data: on SQLite and on
PostgreSQL. After each step, every table that existed holds a row more (one is written at
every step, with a value in every column), no row is lost, and the end matches the models."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from haven import crypto
from haven.settings import load_settings
from haven.store import migrate
from haven.store.db import Store
from haven.store.models import Base
from tests.conftest import PASSPHRASE, make_environ
from tests.pg import PgServer

WHEN = datetime(2026, 11, 30, 12, 0)
#: A plain sector written before hand-offs were sealed; it must come out of the seal.
SECTOR = "Kursk sector, before the seal"


def revisions_in_order() -> list[str]:
    """Base first; a revision after everything it revises or depends on."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def _value(column: sa.Column[Any], n: int) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return n
    if isinstance(kind, sa.DateTime):
        return WHEN
    if isinstance(kind, sa.Date):
        return WHEN.date()
    if isinstance(kind, (sa.Float, sa.Numeric)):
        return 1.0
    if isinstance(kind, sa.LargeBinary):
        return b"\x01bytes-" + str(n).encode()
    if isinstance(kind, sa.String):
        text = f"{column.name[:6]}-{n}"
        if column.name == "sector":
            text = SECTOR
        return text[: kind.length] if kind.length else text
    if isinstance(kind, sa.JSON):
        return {"n": n}
    raise AssertionError(f"no test value for {column.table.name}.{column.name}: {kind!r}")


def _fill(sync: sa.Connection, counter: Iterator[int]) -> dict[str, int]:
    """One row in every table (parents first, a value in every column), then the row
    count of each table."""
    meta = sa.MetaData()
    meta.reflect(sync)
    latest: dict[tuple[str, str], Any] = {}  # the row this step wrote, by table and column
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        row: dict[str, Any] = {}
        for column in table.columns:
            fk = next(iter(column.foreign_keys), None)
            if fk is not None:
                parent = (fk.column.table.name, fk.column.name)
                if parent not in latest:
                    assert column.nullable, f"{table.name}.{column.name}: no parent row"
                    continue
                row[column.name] = latest[parent]
            elif column.primary_key and isinstance(column.type, sa.Integer):
                continue  # autoincrement
            else:
                row[column.name] = _value(column, next(counter))
        key = sync.execute(table.insert().values(row)).inserted_primary_key
        where = [c == v for c, v in zip(table.primary_key.columns, key, strict=True)]
        inserted = sync.execute(sa.select(table).where(*where)).mappings().one()
        for column in table.columns:
            latest[(table.name, column.name)] = inserted[column.name]
    return {
        t.name: int(sync.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
        for t in meta.sorted_tables
        if t.name != "alembic_version"
    }


def _differences(sync: sa.Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(sync), Base.metadata))


def _open_sector(sync: sa.Connection, keyring: crypto.CaseKeyring) -> set[str]:
    """The sectors of the hand-offs that the migrations sealed (the rows written after the
    seal hold test bytes, not envelopes)."""
    sectors = set()
    for blob in sync.execute(sa.text("SELECT placement FROM handoffs")).scalars():
        if crypto.is_sealed(bytes(blob)):
            sectors.add(json.loads(keyring.open(bytes(blob)))["sector"])
    return sectors


async def _walk(url: str, keys_dir: Path) -> None:
    keys = crypto.init_keys(keys_dir, PASSPHRASE, "interactive")
    store = Store(url)
    counter = itertools.count(1)
    counts: dict[str, int] = {}
    try:
        for revision in revisions_in_order():
            await migrate.upgrade(store.engine, revision, keys=keys)
            conn: AsyncConnection
            async with store.engine.begin() as conn:
                after = await conn.run_sync(_fill, counter)
            for table, before in counts.items():
                if table in after:
                    assert after[table] == before + 1, (revision, table, before, after[table])
            counts = after
        async with store.engine.begin() as conn:
            assert await conn.run_sync(_differences) == []
            sectors = await conn.run_sync(_open_sector, crypto.unlock(keys_dir, PASSPHRASE))
        assert SECTOR in sectors  # the hand-off written before the seal, sealed by 0006
    finally:
        await store.close()


def test_every_revision_in_order_is_a_real_order() -> None:
    order = revisions_in_order()
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(order) == len(set(order)) == len(list(script.walk_revisions()))
    for index, name in enumerate(order):
        revision = script.get_revision(name)
        assert revision is not None
        for needed in (*revision._all_down_revisions, *revision._resolved_dependencies):
            assert order.index(needed) < index, (name, needed)


async def test_every_revision_upgrades_a_database_with_data_on_sqlite(tmp_path: Path) -> None:
    settings = load_settings(make_environ(tmp_path / "var"))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await _walk(settings.db_url, settings.keys_dir)


@pytest.mark.usefixtures("pg")
async def test_every_revision_upgrades_a_database_with_data_on_postgresql(
    tmp_path: Path, pg: PgServer
) -> None:
    settings = load_settings(make_environ(tmp_path / "var", pg.url(pg.new_database())))
    await _walk(settings.db_url, settings.keys_dir)
