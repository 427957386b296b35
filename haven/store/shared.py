"""What every intake process must agree on (``shared_values``): a value made once by whichever
process comes first, and leases that let one process at a time act for all."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .db import Store
from .models import SharedValue


def _insert(store: Store) -> Any:
    return pg_insert if store.dialect == "postgresql" else sqlite_insert


async def value(store: Store, name: str, make: Callable[[], bytes]) -> bytes:
    """The value stored under ``name``; made by ``make`` and stored if there is none yet (two
    processes starting at once both get the first one stored)."""
    async with store.transaction() as session:
        found = await session.scalar(select(SharedValue.value).where(SharedValue.name == name))
        if found is not None:
            return found
        await session.execute(
            _insert(store)(SharedValue)
            .values(name=name, value=make(), until=0.0)
            .on_conflict_do_nothing()
        )
    async with store.transaction() as session:
        stored = await session.scalar(select(SharedValue.value).where(SharedValue.name == name))
    if stored is None:  # the row is there without a value (a lease of the same name)
        raise ValueError(f"shared value {name} has no value")
    return stored


async def lease(store: Store, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``holder`` for ``seconds``: whether it holds it
    now (it did not while another holder's lease runs)."""
    now = time.time()
    async with store.transaction() as session:
        await session.execute(
            _insert(store)(SharedValue)
            .values(name=name, value=None, holder=None, until=0.0)
            .on_conflict_do_nothing()
        )
        taken = await session.execute(
            update(SharedValue)
            .where(SharedValue.name == name)
            .where((SharedValue.holder == holder) | (SharedValue.until < now))
            .values(holder=holder, until=now + seconds)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


async def release(store: Store, name: str, holder: str) -> None:
    """Give up the lease ``name`` if ``holder`` holds it."""
    async with store.transaction() as session:
        await session.execute(
            update(SharedValue)
            .where(SharedValue.name == name, SharedValue.holder == holder)
            .values(holder=None, until=0.0)
        )


async def alive(store: Store, name: str, seconds: float) -> int:
    """Note ``name`` (``kind:id``) as alive for ``seconds`` more: how many of its kind are
    alive now, itself included."""
    kind = name.split(":", 1)[0] + ":"
    now = time.time()
    async with store.transaction() as session:
        await session.execute(
            _insert(store)(SharedValue)
            .values(name=name, value=None, until=now + seconds)
            .on_conflict_do_update(index_elements=["name"], set_={"until": now + seconds})
        )
        await session.execute(
            delete(SharedValue).where(
                SharedValue.name.startswith(kind, autoescape=True), SharedValue.until < now - 60
            )
        )
        count = await session.scalar(
            select(func.count())
            .select_from(SharedValue)
            .where(SharedValue.name.startswith(kind, autoescape=True), SharedValue.until >= now)
        )
    return max(1, int(count or 0))


async def gone(store: Store, name: str) -> None:
    """``name`` is alive no more (a clean stop)."""
    async with store.transaction() as session:
        await session.execute(delete(SharedValue).where(SharedValue.name == name))


async def mark(store: Store, name: str, data: bytes, seconds: float) -> None:
    """Note ``data`` under ``name`` for ``seconds`` (what was done, and until when it holds)."""
    async with store.transaction() as session:
        await session.execute(
            _insert(store)(SharedValue)
            .values(name=name, value=data, until=time.time() + seconds)
            .on_conflict_do_update(
                index_elements=["name"], set_={"value": data, "until": time.time() + seconds}
            )
        )


async def marked(store: Store, name: str) -> bytes | None:
    """What :func:`mark` noted under ``name``, while it holds."""
    async with store.transaction() as session:
        row = (
            await session.execute(
                select(SharedValue.value, SharedValue.until).where(SharedValue.name == name)
            )
        ).first()
    if row is None or row[1] < time.time():
        return None
    return row[0]
