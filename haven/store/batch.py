"""Group commit: units of work that arrive while a transaction is under way run together.

A :class:`GroupCommit` takes jobs from any task of any event loop and runs them, in arrival
order, in ONE transaction of the store (at most ``max_batch`` a transaction), by calling the
``run(session, jobs)`` it was made with, which returns one result per job. Results go back to
the callers only after the commit, so every caller has the guarantees of a transaction of
its own. A batch that fails is run again job by job (one bad job cannot fail the others),
and a job that fails alone on a constraint (a race with another writer) once more. It knows
nothing of what the jobs are (docs/adr/0006-group-commit.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import Store

log = logging.getLogger("haven.store")

J = TypeVar("J")
R = TypeVar("R")

#: At most this many seconds of batches back to back before other writers get their turn.
HOLD = 0.05


@dataclass(slots=True)
class _Waiting(Generic[J, R]):
    """One job waiting for its turn in a batch, and the future its caller awaits."""

    job: J
    future: asyncio.Future[R]
    retried: bool = False


class GroupCommit(Generic[J, R]):
    """Runs jobs in shared transactions of ``store`` (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        run: Callable[[Session, list[J]], list[R]],
        *,
        max_batch: int = 64,
        hold: float = HOLD,
        name: str = "batch",
    ) -> None:
        self.store = store
        self.run = run
        self.max_batch = max_batch
        self.hold = hold
        self.name = name
        self._pending: deque[_Waiting[J, R]] = deque()  # appended on a loop, taken in the store
        self._drainer: asyncio.Task[None] | None = None

    def submit(self, job: J) -> asyncio.Future[R]:
        """Queue ``job`` for the next batch; the future of its result.

        A caller that stops waiting cancels only its wait: the job stays queued and runs (its
        result is then dropped). Never call it while holding a transaction of the same store,
        which on SQLite would wait for itself.
        """
        if self.store.in_transaction():
            raise RuntimeError("a job queued inside a transaction() would wait for itself")
        loop = asyncio.get_running_loop()
        waiting: _Waiting[J, R] = _Waiting(job, loop.create_future())
        self._pending.append(waiting)
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            # In a context of its own: not the caller's, whatever that caller holds.
            self._drainer = loop.create_task(self._drain(), context=contextvars.Context())
        return waiting.future

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self.store.hold_writer(self._run_batches)
        except BaseException as exc:
            # The store could not run the batches (closed, or the process is stopping): the
            # jobs still waiting get the error instead of waiting for ever.
            log.error("%s event=drain_failed type=%s", self.name, type(exc).__name__)
            failed = []
            while True:
                try:
                    failed.append(self._pending.popleft())
                except IndexError:
                    break
            error = exc if isinstance(exc, Exception) else RuntimeError(f"{self.name} stopped")
            _hand_back(failed, error)
            if not isinstance(exc, Exception):
                raise

    def _run_batches(self, session: Session) -> None:
        """Batches back to back for as long as jobs wait, within ``hold`` seconds.

        Runs where the store runs synchronous work (its own thread): the next batch starts
        as soon as the last one is committed, while the event loop hands out the results,
        instead of after a trip through the loop.
        """
        until = time.monotonic() + self.hold
        while self._pending and time.monotonic() < until:
            count = min(self.max_batch, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            try:
                self._run(session, batch)
            except BaseException as exc:  # not a job's fault: fail the batch, stop
                _hand_back(batch, exc)
                raise

    def _run(self, session: Session, batch: list[_Waiting[J, R]]) -> None:
        """One batch in one transaction; if it fails, each job again alone, and a job that
        failed alone on a constraint once more."""
        try:
            results = self.run(session, [w.job for w in batch])
            session.commit()
        except Exception as exc:
            session.rollback()
            if len(batch) > 1:
                for waiting in batch:
                    self._run(session, [waiting])
                return
            waiting = batch[0]
            if isinstance(exc, IntegrityError) and not waiting.retried:
                waiting.retried = True
                self._run(session, [waiting])
            else:
                _hand_back(batch, exc)
            return
        finally:
            session.expunge_all()
        _hand_back(batch, results)


def _hand_back(batch: list[_Waiting[J, R]], outcome: list[R] | BaseException) -> None:
    """Results (or a failure) to the callers, each on its own event loop, from any thread."""
    loops: dict[asyncio.AbstractEventLoop, list[int]] = {}
    for index, waiting in enumerate(batch):
        loops.setdefault(waiting.future.get_loop(), []).append(index)
    for loop, indexes in loops.items():
        part = [batch[i] for i in indexes]
        out = outcome if isinstance(outcome, BaseException) else [outcome[i] for i in indexes]
        try:
            loop.call_soon_threadsafe(_settle, part, out)
        except RuntimeError:  # that loop is closed: its callers are gone
            pass


def _settle(batch: list[_Waiting[J, R]], outcome: list[R] | BaseException) -> None:
    """Hand results (or the failure) to the callers (on their event loop)."""
    for index, waiting in enumerate(batch):
        if waiting.future.done():  # its caller gave up
            continue
        if isinstance(outcome, BaseException):
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome[index])


K = TypeVar("K")


class Coalesce(Generic[K, R]):
    """Calls that arrive while one is under way go together in the next: one round trip for
    many, where each is a single autocommit statement (the shared counters) rather than a unit
    of work (that is :class:`GroupCommit`). ``run`` gets the items in arrival order and
    returns one result each."""

    def __init__(
        self, run: Callable[[list[K]], Awaitable[list[R]]], *, max_batch: int = 500
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self._pending: list[tuple[K, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: K) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                results = await self.run([item for item, _future in batch])
            except BaseException as exc:
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError("stopped")
                        )
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_item, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
