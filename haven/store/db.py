"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

log = logging.getLogger("haven.store")

#: Seconds between the store's WAL checkpoints on SQLite (see Store._schedule_checkpoint).
CHECKPOINT_EVERY = 1.0
#: Bytes of WAL (or rollback journal) SQLite keeps on disk after a checkpoint.
JOURNAL_SIZE_LIMIT = 1024 * 1024


_WIPE = "haven.wipe"


def mark_wipe(session: Session | AsyncSession) -> None:
    """Note in a unit of work that it erases something (an erasure, a submitted draft): once
    it is committed, SQLite's WAL is truncated within seconds (:meth:`Store.request_wipe`)."""
    session.info[_WIPE] = True


class InsecureFiles(Exception):
    """The database or its directory can be read by others than its owner."""


def private_sqlite_file(path: Path) -> None:
    """Make sure the SQLite database at ``path`` and its directory are the owner's alone:
    created 0600 in a 0700 directory whatever the umask (its ``-wal`` and ``-shm`` files
    take the database's mode), refused when an existing one is open to others."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for item in (path.parent, path, *(Path(f"{path}{s}") for s in ("-wal", "-shm"))):
        if item.exists() and stat.S_IMODE(item.stat().st_mode) & 0o077:
            mode = stat.S_IMODE(item.stat().st_mode)
            raise InsecureFiles(
                f"{item} is open to others (mode {mode:04o}); run `chmod go-rwx {item}` "
                "and check who else had access"
            )


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_sqlite_file(Path(path))
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(engine: Engine, *, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below issue BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted and overwritten content is zeroed, not left in free pages; the WAL shrinks
        # back after a checkpoint instead of keeping old pages at its end.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        if not autocheckpoint:  # the store's checkpointer does it, off the writer's path
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # One writer at a time, taken at BEGIN: no lock upgrades that fail under load.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """The database: an engine and a session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self._engine_kwargs = engine_kwargs
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer: queue this process's transactions here, in order, instead of
        # letting them spin in SQLite's busy handler (which sleeps up to 100 ms a try).
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None
        self._holder: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"store-writer-{id(self)}", default=False
        )
        # For run_sync() and hold_writer(): the same database used by one dedicated thread
        # (made when first needed). SQLite: through the synchronous driver. PostgreSQL:
        # through the async driver on an event loop of the thread's own, so that a unit of
        # work waits for the database only, never behind the requests on the main loop.
        self._sync_engine: Engine | None = None
        self._sync_sessions: sessionmaker[Session] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_engine: AsyncEngine | None = None
        self._thread_sessions: async_sessionmaker[AsyncSession] | None = None
        self._closed = False
        # ...and its WAL checkpoints, in a thread of their own (see _checkpoint).
        self._checkpoints: ThreadPoolExecutor | None = None
        self._checkpoint_db: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._checkpointed = 0.0
        self._wipes_requested = 0  # truncating checkpoints asked for ...
        self._wipes_done = 0  # ... and the request count the last successful one covered
        self._retry_pending = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def in_transaction(self) -> bool:
        """Inside a :meth:`transaction` of this store that holds SQLite's one writer: a unit
        of work queued from here (``run_sync``, ``hold_writer``) would wait for itself."""
        return self._writer is not None and self._holder.get()

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
                    wiped = bool(session.info.pop(_WIPE, False))
            finally:
                self._holder.reset(token)
        if wiped:
            self.request_wipe()
        self._schedule_checkpoint(asyncio.get_running_loop())

    async def run_sync(self, work: Callable[[Session], T]) -> T:
        """One unit of work written as synchronous SQLAlchemy code: ``work(session)`` runs in a
        transaction that is committed when it returns and rolled back if it raises.

        For hot paths (group commit, :mod:`haven.store.batch`, runs through
        :meth:`hold_writer`). It runs in the store's own thread: on SQLite through the
        synchronous driver, one hand-over to the thread and back (the async driver hands every
        statement to its thread and back, four times, which costs more than the statement
        whenever the event loop is busy); on PostgreSQL through the async driver on an event
        loop of the thread's own. Either way units of work run one at a time, and a caller that
        stops waiting does not stop its unit. Never call it while holding a :meth:`transaction`
        of the same store.
        """

        def unit(session: Session) -> T:
            with session.begin():
                return work(session)

        return await self.hold_writer(unit)

    async def hold_writer(self, work: Callable[[Session], T]) -> T:
        """Like :meth:`run_sync`, but ``work`` ends its transactions itself: it may commit (or
        roll back) several, one after another, while it holds the writer. Group commit
        (:mod:`haven.store.batch`) runs its batches back to back this way, with no trip
        through the event loop between two.
        Other writers wait meanwhile: keep it short.
        """
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._writer is None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._postgresql_thread(), self._run_postgresql, work)
        if self._holder.get():
            raise RuntimeError("run_sync() inside a transaction() would wait for itself")
        async with self._writer:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._sqlite_thread(), self._run_sqlite, work)
        self._schedule_checkpoint(loop)
        return result

    def _sqlite_thread(self) -> ThreadPoolExecutor:
        if self._thread is None:
            url = self.engine.url.set(drivername="sqlite+pysqlite")
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _sqlite_pragmas(engine, autocheckpoint=False)
            self._sync_engine = engine
            self._sync_sessions = sessionmaker(engine, expire_on_commit=False)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="haven-store")
        return self._thread

    def _postgresql_thread(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread_loop = asyncio.new_event_loop()
            self._thread_engine = make_engine(self.url, **self._engine_kwargs)
            self._thread_sessions = async_sessionmaker(self._thread_engine, expire_on_commit=False)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="haven-store")
        return self._thread

    def _run_postgresql(self, work: Callable[[Session], T]) -> T:
        sessions = self._thread_sessions
        if self._thread_loop is None or sessions is None:  # closed while this one waited
            raise RuntimeError("the store is closed")

        async def unit() -> T:
            async with sessions() as session:
                return await session.run_sync(work)

        return self._thread_loop.run_until_complete(unit())

    def _run_sqlite(self, work: Callable[[Session], T]) -> T:
        if self._sync_sessions is None:  # closed while this one waited
            raise RuntimeError("the store is closed")
        with self._sync_sessions() as session:  # closing it rolls back what is left open
            try:
                return work(session)
            finally:
                if session.info.pop(_WIPE, False):
                    self.request_wipe()

    def request_wipe(self) -> None:
        """After an erasure or a submit: the next checkpoint (within about a second) copies
        the WAL into the database and truncates it, so that the pages that held the erased
        content are gone from the log too (``secure_delete`` already zeroed them in the
        database). Call it from the unit of work or just after it."""
        self._wipes_requested += 1

    @property
    def _truncate_due(self) -> bool:
        return self._wipes_requested > self._wipes_done

    async def settle(self) -> None:
        """Now, on SQLite: a truncating checkpoint (the WAL emptied into the database)."""
        if self.dialect != "sqlite":
            return
        self._wipes_requested += 1
        self._checkpointed = 0.0
        loop = asyncio.get_running_loop()
        if self._checkpointing is not None and not self._checkpointing.done():
            await self._checkpointing
        self._checkpointed = 0.0
        self._schedule_checkpoint(loop)
        if self._checkpointing is not None:
            await self._checkpointing

    def _schedule_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        """At most once a second, a passive WAL checkpoint beside the writer.

        The writer's connection does not checkpoint: SQLite would otherwise copy the log into
        the database (and fsync it) inside whichever commit crosses 1,000 pages, holding up
        every input of that batch and multiplying its tail latency. A passive checkpoint from
        another connection never blocks the writer.
        """
        if self._closed:
            return
        now = time.monotonic()
        busy = self._checkpointing is not None and not self._checkpointing.done()
        if busy or now - self._checkpointed < CHECKPOINT_EVERY:
            self._retry_soon(loop)
            return
        self._checkpointed = now
        if self._checkpoints is None:
            self._checkpoints = ThreadPoolExecutor(1, thread_name_prefix="haven-checkpoint")
        self._checkpointing = loop.run_in_executor(self._checkpoints, self._checkpoint)
        self._checkpointing.add_done_callback(lambda _f: self._retry_soon(loop))

    def _retry_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """A truncation still due (requested, or the last try found the database busy) is
        tried again a moment later even if nothing else is written meanwhile."""
        if not self._truncate_due or self._retry_pending or self._closed or loop.is_closed():
            return
        self._retry_pending = True

        def retry() -> None:
            self._retry_pending = False
            self._schedule_checkpoint(loop)

        loop.call_later(CHECKPOINT_EVERY, retry)

    def _checkpoint(self) -> None:
        if self._checkpoint_db is None:
            path = self.engine.url.database or ""
            # No busy wait: a truncating checkpoint that waited for readers would hold every
            # writer (of any process) up meanwhile; one that cannot run now is tried again.
            self._checkpoint_db = sqlite3.connect(
                path, timeout=0, isolation_level=None, check_same_thread=False
            )
            self._checkpoint_db.execute("PRAGMA secure_delete=ON")
            self._checkpoint_db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        wanted = self._wipes_requested
        truncate = wanted > self._wipes_done
        mode = "TRUNCATE" if truncate else "PASSIVE"
        try:
            busy, _, _ = self._checkpoint_db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:  # busy or locked: the next one will do
            log.info("store event=checkpoint_skipped error=%s", type(exc).__name__)
            return
        if truncate and not busy:
            self._wipes_done = wanted

    def _close_thread(self) -> None:
        """In the store's thread: its engine's connections closed, its event loop too."""
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = self._sync_sessions = None
        if self._thread_loop is not None and self._thread_engine is not None:
            self._thread_loop.run_until_complete(self._thread_engine.dispose())
            self._thread_loop.close()
            self._thread_loop = self._thread_engine = self._thread_sessions = None

    async def close(self) -> None:
        self._closed = True
        if self._checkpoints is not None:
            # Waits for a checkpoint under way (its future may belong to another event loop).
            self._checkpoints.shutdown(wait=True)
            if self._checkpoint_db is not None:
                self._checkpoint_db.close()
            self._checkpoints = self._checkpoint_db = self._checkpointing = None
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._close_thread)
            self._thread.shutdown(wait=True)
            self._thread = None
        await self.engine.dispose()
