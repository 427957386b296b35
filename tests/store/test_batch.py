"""Group commit (haven.store.batch): jobs share transactions, results come after the commit,
and a bad job fails alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haven.store.batch import GroupCommit
from haven.store.models import ProcessedUpdate
from tests.conftest import Env


async def keys_in(env: Env) -> set[str]:
    async with env.store.transaction() as session:
        return set((await session.scalars(select(ProcessedUpdate.key))).all())


async def test_jobs_that_wait_together_share_a_transaction_and_see_it_committed(
    env: Env,
) -> None:
    batches: list[list[str]] = []

    def run(session: Session, jobs: list[str]) -> list[int]:
        batches.append(list(jobs))
        session.execute(insert(ProcessedUpdate), [{"key": job} for job in jobs])
        return [len(job) for job in jobs]

    commits: GroupCommit[str, int] = GroupCommit(env.store, run, max_batch=16)
    jobs = [f"job-{n:03d}" for n in range(100)]

    async def one(job: str) -> tuple[int, bool]:
        result = await commits.submit(job)
        return result, job in await keys_in(env)  # committed by the time the result is back

    outcomes = await asyncio.gather(*(one(job) for job in jobs))
    assert outcomes == [(7, True)] * 100
    assert [job for batch in batches for job in batch] == jobs  # in arrival order
    assert len(batches) < len(jobs) and max(len(b) for b in batches) <= 16


async def test_a_bad_job_fails_alone_and_a_constraint_is_tried_once_more(env: Env) -> None:
    tries: dict[str, int] = {}

    def run(session: Session, jobs: list[str]) -> list[str]:
        for job in jobs:
            tries[job] = tries.get(job, 0) + 1
            if job == "bad":
                raise ValueError("a bad job")
            session.execute(insert(ProcessedUpdate).values(key=job.removeprefix("again-")))
        return jobs

    commits: GroupCommit[str, str] = GroupCommit(env.store, run)
    async with env.store.transaction() as session:
        session.add(ProcessedUpdate(key="taken"))
    futures = [commits.submit(job) for job in ["a", "bad", "b", "again-taken", "c"]]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0::2] == ["a", "b", "c"]
    assert isinstance(results[1], ValueError) and isinstance(results[3], IntegrityError)
    assert await keys_in(env) == {"taken", "a", "b", "c"}
    assert tries["bad"] == 2  # in the batch, then alone
    # Alone (the batch failed before it), and once more on the constraint: not a third time.
    assert tries["again-taken"] == 2
    async with env.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 4


async def test_a_job_queued_inside_a_transaction_is_refused(sqlite_env: Env) -> None:
    commits: GroupCommit[str, str] = GroupCommit(sqlite_env.store, lambda _s, jobs: jobs)
    async with sqlite_env.store.transaction():
        with pytest.raises(RuntimeError, match="wait for itself"):
            commits.submit("x")
    assert await commits.submit("y") == "y"
