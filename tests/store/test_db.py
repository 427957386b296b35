"""The store's synchronous units of work and, on SQLite, its WAL checkpoints."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haven.store import db as store_db
from haven.store.models import ProcessedUpdate
from tests.conftest import Env


async def test_run_sync_commits_or_rolls_back(env: Env) -> None:
    def add(session: Session) -> int:
        session.add(ProcessedUpdate(key="committed"))
        session.flush()
        return 7

    def fail(session: Session) -> None:
        session.add(ProcessedUpdate(key="rolled-back"))
        session.flush()
        raise RuntimeError("no")

    assert await env.store.run_sync(add) == 7
    with pytest.raises(RuntimeError):
        await env.store.run_sync(fail)
    keys = await env.store.run_sync(lambda s: set(s.scalars(select(ProcessedUpdate.key))))
    assert keys == {"committed"}


async def test_run_sync_refuses_to_wait_for_itself(sqlite_env: Env) -> None:
    async with sqlite_env.store.transaction():
        with pytest.raises(RuntimeError):
            await sqlite_env.store.run_sync(lambda s: None)


async def test_the_checkpointer_keeps_the_wal_short(
    sqlite_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer does not checkpoint; the store's checkpointer does. Without it the log
    would hold every page written here (several MB)."""
    monkeypatch.setattr(store_db, "CHECKPOINT_EVERY", 0.0)
    store = sqlite_env.store
    wal = str(store.engine.url.database) + "-wal"
    for batch in range(60):

        def write(session: Session, batch: int = batch) -> None:
            session.add_all(
                ProcessedUpdate(key=f"{batch}:{n}:" + os.urandom(16).hex()) for n in range(400)
            )

        await store.run_sync(write)
        assert store._checkpointing is not None
        await store._checkpointing
    written = await store.run_sync(
        lambda s: s.scalar(select(func.count()).select_from(ProcessedUpdate))
    )
    assert written == 60 * 400
    size = os.path.getsize(wal)  # noqa: ASYNC240 - a test's one stat of a local file
    assert size < 2_000_000, size
