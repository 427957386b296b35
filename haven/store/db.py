"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below issue BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # One writer at a time, taken at BEGIN: no lock upgrades that fail under load.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """The database: an engine and a session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer: queue this process's transactions here, in order, instead of
        # letting them spin in SQLite's busy handler (which sleeps up to 100 ms a try).
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None
        self._holder: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"store-writer-{id(self)}", default=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back on an exception."""
        if self._writer is None or self._holder.get():
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._writer:
            token = self._holder.set(True)
            try:
                async with self.sessions() as session, session.begin():
                    yield session
            finally:
                self._holder.reset(token)

    async def close(self) -> None:
        await self.engine.dispose()
