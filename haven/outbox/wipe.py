"""The wiper: empties private chats when their :class:`~haven.store.models.ChatWipe` is due.

Durable like the outbox: the due rows are in the database, claimed with a lease (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL), so a process killed mid-wipe leaves the chat to be wiped again
by the next one after the lease. Deleting twice is harmless (Telegram skips what is gone).

Calls take slots from the same pacer row as the outbox's sends and go through the same
per-process guard, so sends and deletions together stay within the channel's rate; a 429
holds both. Messages older than Telegram's window, or refused, are counted; a wipe is audited
as counts only (``chat.wiped``), on the case where one remains.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from haven.crypto import BadEnvelope, IntakeKeys
from haven.store import audit
from haven.store.db import Store
from haven.store.models import ChatMessage, ChatWipe, Contact, OutboxPacer, utcnow

from .chatlog import DELETE_WITHIN
from .sending import RetryLater, TemporaryFailure, Unreachable, send_guard
from .worker import Worker

log = logging.getLogger("haven.outbox")

#: Telegram's ``deleteMessages`` takes at most this many ids.
BATCH = 100
#: A chat whose wipe failed this many times in a row is given up (what is left is counted).
MAX_ATTEMPTS = 8


class Deleter(Protocol):
    """Deletes messages of one chat; returns the ids it could not delete. Raises
    :class:`RetryLater`, :class:`Unreachable` or :class:`TemporaryFailure` like a sender."""

    channel: str

    async def delete(self, address: str, message_ids: Sequence[int]) -> list[int]: ...


@dataclass
class _Job:
    chat: str
    channel: str
    address: str
    reason: str
    attempts: int
    rows: list[int]  # chat_messages ids, all of them handled by this wipe
    ids: list[int]  # message ids still deletable
    too_old: int
    slots: list[float] = field(default_factory=list)
    deleted: int = 0
    refused: int = 0
    outcome: str = "done"  # done | retry | retry_after
    retry_after: float = 0.0


class Wiper:
    """Runs due chat wipes until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        keys: IntakeKeys,
        deleters: Mapping[str, Deleter],
        *,
        wipe_after: float,
        rate: float = 30.0,
        lease: float = 60.0,
        poll: float = 1.0,
        max_batch: int = 20,
    ) -> None:
        self.store = store
        self.keys = keys
        self.deleters = dict(deleters)
        self.wipe_after = wipe_after
        self.rate = rate
        self.lease = lease
        self.poll = poll
        self.max_batch = max_batch
        self._interval = 1.0 / (rate * Worker.MARGIN)
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_purge = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                done = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox event=wiper_error")
                done = 0
                await asyncio.sleep(1.0)
            if self._stopping or done:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except TimeoutError:
                pass

    async def step(self) -> int:
        """Claim the due wipes, carry them out, record them. Returns how many were claimed."""
        if time.monotonic() - self._last_purge > 60:
            await self.purge()
        done = 0
        for channel, deleter in self.deleters.items():
            jobs = await self._claim(channel)
            if jobs:
                await asyncio.gather(*(self._wipe(deleter, job) for job in jobs))
                await self._record(jobs)
            done += len(jobs)
        return done

    async def _claim(self, channel: str) -> list[_Job]:
        is_pg = self.store.dialect == "postgresql"
        now = utcnow()
        async with self.store.transaction() as session:
            query = (
                select(ChatWipe)
                .where(
                    ChatWipe.channel == channel,
                    ChatWipe.due_at <= now,
                    or_(ChatWipe.lease_until.is_(None), ChatWipe.lease_until < now),
                )
                .order_by(ChatWipe.due_at)
                .limit(self.max_batch)
            )
            if is_pg:
                query = query.with_for_update(skip_locked=True)
            wipes = list((await session.scalars(query)).all())
            if not wipes:
                return []
            messages = (
                await session.execute(
                    select(ChatMessage.id, ChatMessage.chat, ChatMessage.message, ChatMessage.at)
                    .where(ChatMessage.chat.in_([w.chat for w in wipes]))
                    .order_by(ChatMessage.id)
                )
            ).all()
            by_chat: dict[str, list[tuple[int, bytes, datetime]]] = {}
            for row_id, chat, sealed, at in messages:
                by_chat.setdefault(chat, []).append((row_id, sealed, at))
            jobs = []
            oldest = now - DELETE_WITHIN
            for wipe in wipes:
                wipe.lease_until = now + timedelta(seconds=self.lease)
                try:
                    address = self.keys.open_routing(wipe.address).decode("utf-8")
                except BadEnvelope:
                    address = ""
                rows, ids, too_old = [], [], 0
                for row_id, sealed, at in by_chat.get(wipe.chat, []):
                    rows.append(row_id)
                    try:
                        message_id = int(self.keys.open_routing(sealed))
                    except (BadEnvelope, ValueError):
                        too_old += 1  # sealed under a routing key we no longer hold
                        continue
                    if at < oldest or not address:
                        too_old += 1
                    elif message_id not in ids:  # a redelivered update is noted twice
                        ids.append(message_id)
                jobs.append(
                    _Job(wipe.chat, channel, address, wipe.reason, wipe.attempts, rows, ids,
                         too_old)
                )  # fmt: skip
            await self._reserve(session, channel, jobs, is_pg)
            return jobs

    async def _reserve(
        self, session: AsyncSession, channel: str, jobs: list[_Job], is_pg: bool
    ) -> None:
        """Sending slots for every call, from the pacer the outbox's sends use."""
        calls = sum(math.ceil(len(job.ids) / BATCH) for job in jobs)
        if not calls:
            return
        query = select(OutboxPacer).where(OutboxPacer.channel == channel)
        if is_pg:
            query = query.with_for_update()
        pacer = await session.scalar(query)
        if pacer is None:
            pacer = OutboxPacer(channel=channel, next_at=0.0)
            session.add(pacer)
        slot = max(pacer.next_at, time.time() + 0.01)
        for job in jobs:
            for _ in range(math.ceil(len(job.ids) / BATCH)):
                job.slots.append(slot)
                slot += self._interval
        pacer.next_at = slot

    async def _wipe(self, deleter: Deleter, job: _Job) -> None:
        for n, start in enumerate(range(0, len(job.ids), BATCH)):
            batch = job.ids[start : start + BATCH]
            delay = job.slots[n] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with send_guard(job.channel, self.rate):
                    refused = await deleter.delete(job.address, batch)
            except RetryLater as exc:
                job.outcome, job.retry_after = "retry_after", exc.seconds
                return
            except Unreachable:
                job.refused += len(job.ids) - start  # the bot was blocked: nothing more goes
                return
            except (TemporaryFailure, TimeoutError, OSError) as exc:
                log.info("outbox event=wipe_retry error=%s", type(exc).__name__)
                job.outcome = "retry"
                return
            job.refused += len(refused)
            job.deleted += len(batch) - len(refused)

    async def _record(self, jobs: list[_Job]) -> None:
        now = utcnow()
        async with self.store.transaction() as session:
            for job in jobs:
                wipe = await session.get(ChatWipe, job.chat)
                if wipe is None:
                    continue
                if job.outcome != "done" and job.attempts + 1 < MAX_ATTEMPTS:
                    wait = job.retry_after or min(300.0, 2.0**job.attempts) * (
                        0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
                    )
                    wipe.attempts = job.attempts + 1
                    wipe.due_at = now + timedelta(seconds=wait)
                    wipe.lease_until = None
                    if job.outcome == "retry_after":
                        pacer = await session.get(OutboxPacer, job.channel)
                        if pacer is not None:
                            pacer.next_at = max(pacer.next_at, time.time() + wait)
                    continue
                kept = job.too_old + job.refused
                if job.outcome != "done":  # given up: what was not deleted stays
                    kept = job.too_old + len(job.ids) - job.deleted
                if job.rows:
                    await session.execute(delete(ChatMessage).where(ChatMessage.id.in_(job.rows)))
                newest = await session.scalar(
                    select(func.max(ChatMessage.at)).where(ChatMessage.chat == job.chat)
                )
                if newest is None:
                    await session.delete(wipe)
                else:  # written to while being wiped: the rest goes after the next silence
                    wipe.reason, wipe.attempts, wipe.lease_until = "idle", 0, None
                    wipe.due_at = newest + timedelta(seconds=self.wipe_after)
                case_id = None
                if job.reason != "forget":
                    case_id = await session.scalar(
                        select(Contact.case_id).where(Contact.lookup == job.chat)
                    )
                if job.deleted or kept:
                    await audit.append(
                        session,
                        "wipe",
                        "chat.wiped",
                        case_id,
                        {"reason": job.reason, "deleted": job.deleted, "kept": kept},
                    )
                log.info(
                    "outbox event=chat_wiped reason=%s deleted=%s kept=%s",
                    job.reason,
                    job.deleted,
                    kept,
                )

    async def purge(self) -> int:
        """Forget messages past Telegram's window that no wipe took (kept for nothing)."""
        self._last_purge = time.monotonic()
        async with self.store.transaction() as session:
            result = await session.execute(
                delete(ChatMessage).where(ChatMessage.at < utcnow() - DELETE_WITHIN * 1.1)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
