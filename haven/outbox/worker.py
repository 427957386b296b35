"""The outbox worker: claims due messages, sends them within the rate limits, records results.

Delivery is *at least once*, and exactly once unless the process dies in one short window:

1. A claim (one transaction) marks rows ``sending`` with a lease and reserves sending slots
   from the shared pacer row, so that all workers together stay under the overall rate.
2. Each row is sent at its slot by the channel's :class:`Sender`; in this process no more
   than its share of the rate (the rate over the workers alive on the database, each noted
   in ``shared_values`` once a second) are ever under way or answered within the last
   second (:func:`~haven.outbox.sending.send_guard`): however late an event loop runs,
   together they never exceed it.
3. Results are written in one transaction: ``sent`` (text erased, or sealed to the case key
   when ``keep``), ``pending`` again with a later ``next_at`` (429 ``retry_after``, network
   errors with exponential backoff), ``dropped`` for a chat that blocked the bot (and the
   contact is marked unreachable), ``failed`` for a message the channel refuses.

If the process dies after the channel accepted a message but before step 3 commits (a few
milliseconds), the lease expires and the message is sent again: the applicant may see it
twice, but nothing is ever lost. Rows claimed but not yet sent are simply sent after the lease.

Per chat, messages go out in order (a row is only claimed when no earlier row of its chat is
pending or in flight) and no faster than the per-chat rate (measured from the last accepted
message of the chat). Across chats, what is sent first is decided by class, then fairly
within the class (docs/adr/0004-fair-under-overload.md): operator messages, then answers to
conversations under way, then first answers to new conversations, then notices and posts
(:data:`.queue.RANKS`). Within a class the oldest waiting message goes first; an automated
reply that has waited longer than ``newest_first_after`` goes behind the fresh ones, and
those stale ones go newest first: once a backlog forms, a fresh conversation is worth more
than a stale reply to a chat that is gone. Operator messages and notices are always served
oldest first. On PostgreSQL several workers can run at once: rows are claimed with
``FOR UPDATE SKIP LOCKED`` and the pacer row is locked for the few milliseconds of a claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from haven.crypto import BadEnvelope, IntakeKeys
from haven.services import metrics
from haven.store import shared
from haven.store.db import Store, mark_wipe
from haven.store.models import Contact, OutboxMessage, OutboxPacer, utcnow

from .chatlog import Written, is_private, note
from .payload import Payload
from .queue import AUTOMATED, DROPPED, FAILED, PENDING, SENDING, SENT, drop_chat
from .sending import (
    PermanentFailure,
    RetryLater,
    Sender,
    TemporaryFailure,
    Unreachable,
    send_guard,
)

log = logging.getLogger("haven.outbox")
#: A send's outcome -> the counter it adds to (haven.services.metrics).
COUNTED = {
    SENT: "outbox_sent",
    "retry_after": "outbox_throttled",
    "retry": "outbox_retried",
    FAILED: "outbox_failed",
    "unreachable": "outbox_unreachable",
}

#: The kind of the workers' rows in ``shared_values``, and the seconds one stays counted
#: after its last sign of life.
PEER = "outbox-worker"
PEER_SECONDS = 5.0


@dataclass
class _Job:
    id: int
    channel: str
    chat: str
    contact_id: int | None
    address: str
    payload: Payload
    raw: bytes
    keep: bool
    attempts: int
    slot: float
    outcome: str = "released"
    remote_id: int | None = None
    retry_after: float = 0.0
    error: str | None = None
    accepted_at: datetime | None = None


@dataclass
class Stats:
    sent: int = 0
    retried: int = 0
    rate_limited: int = 0
    dropped: int = 0
    failed: int = 0
    batches: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Worker:
    """Sends what the outbox holds. ``run()`` until ``stop()``; ``wake()`` after a commit."""

    #: How far ahead (seconds) one claim reserves sending slots.
    HORIZON = 0.5
    #: Fraction of the configured rate actually used: room for network jitter, so that the
    #: server never sees more than the limit in any one-second window.
    MARGIN = 0.98

    def __init__(
        self,
        store: Store,
        keys: IntakeKeys,
        senders: Mapping[str, Sender],
        *,
        rate: float = 30.0,
        per_chat_rate: float = 1.0,
        lease: float = 30.0,
        max_batch: int = 200,
        poll: float = 0.5,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        send_timeout: float = 20.0,
        name: str | None = None,
        wipe_after: float | None = None,
        sent_keep: float = 60.0,
        newest_first_after: float = 2.0,
    ) -> None:
        self.store = store
        self.keys = keys
        self.senders = dict(senders)
        self.rate = rate
        self.per_chat_rate = per_chat_rate
        self.lease = lease
        self.max_batch = max_batch
        self.poll = poll
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.send_timeout = send_timeout
        self.name = name or f"w-{secrets.token_hex(4)}"
        #: Seconds of silence after which a private chat is emptied; messages sent to one are
        #: noted in the chat log (:mod:`.chatlog`). ``None``: nothing is noted.
        self.wipe_after = wipe_after
        #: Seconds a sent row is kept (for the per-chat pacing) before it is purged.
        self.sent_keep = sent_keep
        #: Seconds an automated reply waits before it is served newest first (a backlog).
        self.newest_first_after = newest_first_after
        self.stats = Stats()
        self._interval = 1.0 / (rate * self.MARGIN)
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_purge = time.monotonic()
        self._last_recover = 0.0
        self._inflight: set[asyncio.Task[None]] = set()
        self._done: list[_Job] = []
        #: Rows claimed whose send has not started yet (waiting for their slot or the guard).
        self._queued: dict[int, str] = {}
        #: Workers alive (this one too), in every process on the database: each keeps to its
        #: share of the rate, so that together they never exceed it, however late each runs.
        self.peers = 1
        self._last_alive = 0.0
        #: Housekeeping run beside the sends: (seconds between runs, what to run).
        self.chores: list[tuple[float, Callable[[], Awaitable[object]]]] = []
        self._chores_due: dict[int, float] = {}

    # -- control --------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Claim, send and record continuously until :meth:`stop`; then finish what is in
        flight, so that a clean stop leaves nothing claimed."""
        await self.prepare()
        log.info("outbox event=worker_started worker=%s rate=%s", self.name, self.rate)
        while not self._stopping:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox event=worker_error worker=%s", self.name)
                await asyncio.sleep(1.0)
            if self._stopping:
                break
            self._wake.clear()
            if self._done:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), 0.05 if self._inflight else self.poll)
            except TimeoutError:
                pass
            if self._inflight:
                await asyncio.sleep(0.005)  # let a few more results gather into one write
        await self.drain()
        with contextlib.suppress(Exception):
            await shared.gone(self.store, f"{PEER}:{self.name}")
        log.info("outbox event=worker_stopped worker=%s", self.name)

    async def _keep_alive(self) -> None:
        """Note this worker alive, and count the workers alive, once a second. On SQLite,
        where one process runs, it counts alone: a write a second would keep SQLite's log
        from ever being emptied of what the intake wrote."""
        if self.store.dialect == "sqlite" or time.monotonic() - self._last_alive < 1.0:
            return
        self._last_alive = time.monotonic()
        peers = await shared.alive(self.store, f"{PEER}:{self.name}", PEER_SECONDS)
        if peers != self.peers:
            log.info("outbox event=peers worker=%s peers=%s", self.name, peers)
        self.peers = peers

    async def _run_chores(self) -> None:
        """Housekeeping that is due (each a unit of its own: one failing holds no other)."""
        now = time.monotonic()
        for n, (every, chore) in enumerate(self.chores):
            if now < self._chores_due.get(n, 0.0):
                continue
            self._chores_due[n] = now + every
            try:
                await chore()
            except Exception as exc:
                log.warning("outbox event=chore_failed chore=%s type=%s", n, type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the sends under way and record them."""
        if self._inflight:
            await asyncio.wait(set(self._inflight))
        await self._flush()

    async def prepare(self) -> None:
        """Create the pacer rows (once per channel; a concurrent insert is fine)."""
        for channel in self.senders:
            try:
                async with self.store.transaction() as session:
                    if await session.get(OutboxPacer, channel) is None:
                        session.add(OutboxPacer(channel=channel, next_at=0.0))
            except IntegrityError:
                pass

    # -- one round ------------------------------------------------------------------------

    async def step(self) -> int:
        """Record finished sends, recover expired leases, claim what fits under the rate and
        start sending it. Returns how many rows were claimed."""
        await self._flush()
        await self._keep_alive()
        if time.monotonic() - self._last_recover > 1.0:
            await self._recover()
        if self.chores:
            await self._run_chores()
        claimed = 0
        for channel, sender in self.senders.items():
            jobs = await self._claim(channel)
            self._queued.update((job.id, channel) for job in jobs)
            if jobs:
                self.stats.batches += 1
            for job in jobs:
                task = asyncio.create_task(self._send_one(sender, job))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            claimed += len(jobs)
        if time.monotonic() - self._last_purge > min(60.0, self.sent_keep / 2):
            await self.purge()
        return claimed

    async def run_once(self) -> int:
        """One claim, its sends and their results (for tests and ``haven outbox``)."""
        claimed = await self.step()
        await self.drain()
        return claimed

    async def _send_one(self, sender: Sender, job: _Job) -> None:
        try:
            await self._send(sender, job)
        finally:
            self._queued.pop(job.id, None)
            job.accepted_at = utcnow()
            self._done.append(job)
            self._wake.set()

    async def _flush(self) -> None:
        while self._done:
            jobs, self._done = self._done, []
            await asyncio.shield(self._record(jobs))

    async def _recover(self) -> None:
        self._last_recover = time.monotonic()
        async with self.store.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == SENDING, OutboxMessage.lease_until < utcnow())
                .values(state=PENDING, lease_until=None, worker=None)
            )

    async def _claim(self, channel: str) -> list[_Job]:
        is_pg = self.store.dialect == "postgresql"
        async with self.store.transaction() as session:
            pacer_q = select(OutboxPacer).where(OutboxPacer.channel == channel)
            if is_pg:
                pacer_q = pacer_q.with_for_update()
            pacer = await session.scalar(pacer_q)
            if pacer is None:
                pacer = OutboxPacer(channel=channel, next_at=0.0)
                session.add(pacer)
            now = time.time()
            start = max(pacer.next_at, now)
            room = math.floor((now + self.HORIZON - start) / self._interval)
            # Never more waiting here than one horizon's worth: should the sends fall behind
            # their slots (a slow channel holds the guard), claims wait for them instead of
            # piling up rows whose lease could run out before they are sent.
            waiting = sum(1 for c in self._queued.values() if c == channel)
            backlog = max(1, math.ceil(self.rate * self.HORIZON)) - waiting
            limit = min(self.max_batch, max(0, room), backlog)
            if limit == 0:
                return []
            rows = await self._due(session, channel, limit, is_pg)
            if not rows:
                return []
            # Slots start once the rows are in hand, a little ahead: a slot already past when
            # its task starts would bunch sends together.
            start = max(pacer.next_at, time.time() + 0.01)
            jobs: list[_Job] = []
            lease_until = utcnow() + timedelta(seconds=self.lease + self.HORIZON)
            for n, row in enumerate(rows):
                slot = start + n * self._interval
                try:
                    address = self.keys.open_routing(row.address).decode("utf-8")
                    raw = self.keys.open_routing(row.payload) if row.payload else b""
                    payload = Payload.decode(raw)
                except (BadEnvelope, ValueError):
                    # Sealed under a routing key we no longer hold: cannot ever be sent.
                    row.state, row.payload, row.error = FAILED, None, "unreadable"
                    continue
                row.state, row.lease_until, row.worker = SENDING, lease_until, self.name
                jobs.append(
                    _Job(row.id, channel, row.chat, row.contact_id, address, payload, raw,
                         row.keep, row.attempts, slot)
                )  # fmt: skip
            pacer.next_at = start + len(jobs) * self._interval
            return jobs

    async def _due(
        self, session: AsyncSession, channel: str, limit: int, is_pg: bool
    ) -> list[OutboxMessage]:
        o = OutboxMessage
        earlier = aliased(OutboxMessage)
        recent = aliased(OutboxMessage)
        now = utcnow()
        pace_cut = now - timedelta(seconds=1.0 / self.per_chat_rate)
        stale = and_(
            o.rank.in_(AUTOMATED),
            o.created_at < now - timedelta(seconds=self.newest_first_after),
        )
        query = (
            select(o)
            .where(
                o.channel == channel,
                o.state == PENDING,
                o.next_at <= now,
                ~exists().where(
                    earlier.chat == o.chat,
                    earlier.id < o.id,
                    earlier.state.in_((PENDING, SENDING)),
                ),
                ~exists().where(
                    recent.chat == o.chat,
                    recent.state == SENT,
                    recent.sent_at > pace_cut,
                ),
            )
            .order_by(o.rank, case((stale, 1), else_=0), case((stale, -o.id), else_=o.id))
            .limit(limit)
        )
        if is_pg:
            query = query.with_for_update(skip_locked=True, of=o)
        return list((await session.scalars(query)).all())

    async def _send(self, sender: Sender, job: _Job) -> None:
        delay = job.slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            async with send_guard(job.channel, self.rate / self.peers):
                self._queued.pop(job.id, None)
                job.remote_id = await asyncio.wait_for(
                    sender.send(job.address, job.payload), self.send_timeout
                )
            job.outcome = SENT
        except RetryLater as exc:
            job.outcome, job.retry_after, job.error = "retry_after", exc.seconds, "429"
        except Unreachable:
            job.outcome, job.error = "unreachable", "403"
        except PermanentFailure as exc:
            job.outcome, job.error = FAILED, str(exc)[:64] or "rejected"
        except (TemporaryFailure, TimeoutError, OSError) as exc:
            job.outcome, job.error = "retry", type(exc).__name__[:64]
        except Exception as exc:  # a sender bug must not lose the batch's other results
            log.exception("outbox event=sender_error row=%s", job.id)
            job.outcome, job.error = "retry", type(exc).__name__[:64]

    def backoff(self, attempts: int) -> float:
        base = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempts - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret

    async def _record(self, jobs: list[_Job]) -> None:
        now = utcnow()
        released = [j.id for j in jobs if j.outcome == "released"]
        mine = and_(OutboxMessage.state == SENDING, OutboxMessage.worker == self.name)
        async with self.store.transaction() as session:
            # Sent: the text is erased (or sealed to the case key). ``sent_at`` is when the
            # channel accepted it: the per-chat pacing counts from there.
            by_time: dict[datetime, list[int]] = {}
            for j in jobs:
                if j.outcome == SENT and not j.keep:
                    by_time.setdefault(j.accepted_at or now, []).append(j.id)
            for at, ids in by_time.items():
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), mine)
                    .values(state=SENT, sent_at=at, payload=None, lease_until=None, error=None)
                )
            if by_time:
                mark_wipe(session)  # the texts go from SQLite's log too, within seconds
            if released:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(released), mine)
                    .values(state=PENDING, lease_until=None, worker=None)
                )
            pauses: dict[str, float] = {}
            for job in jobs:
                where = and_(OutboxMessage.id == job.id, mine)
                if job.outcome in COUNTED:
                    metrics.count(COUNTED[job.outcome], job.channel)
                if job.outcome == SENT:
                    self.stats.sent += 1
                    if job.keep:
                        await session.execute(
                            update(OutboxMessage)
                            .where(where)
                            .values(
                                state=SENT,
                                sent_at=job.accepted_at or now,
                                payload=self.keys.seal(job.raw),
                                remote_id=job.remote_id,
                                lease_until=None,
                                error=None,
                            )
                        )
                elif job.outcome == "retry_after":
                    self.stats.rate_limited += 1
                    pauses[job.channel] = max(pauses.get(job.channel, 0.0), job.retry_after)
                    await session.execute(
                        update(OutboxMessage)
                        .where(where)
                        .values(
                            state=PENDING,
                            next_at=now + timedelta(seconds=job.retry_after),
                            lease_until=None,
                            error="429",
                        )
                    )
                elif job.outcome == "retry":
                    self.stats.retried += 1
                    attempts = job.attempts + 1
                    await session.execute(
                        update(OutboxMessage)
                        .where(where)
                        .values(
                            state=PENDING,
                            attempts=attempts,
                            next_at=now + timedelta(seconds=self.backoff(attempts)),
                            lease_until=None,
                            error=job.error,
                        )
                    )
                elif job.outcome == "unreachable":
                    self.stats.dropped += 1
                    await drop_chat(session, job.chat, "403")
                    await session.execute(
                        update(Contact).where(Contact.lookup == job.chat).values(unreachable=True)
                    )
                    log.info("outbox event=unreachable row=%s contact=%s", job.id, job.contact_id)
                elif job.outcome == FAILED:
                    self.stats.failed += 1
                    await session.execute(
                        update(OutboxMessage)
                        .where(where)
                        .values(state=FAILED, payload=None, lease_until=None, error=job.error)
                    )
                    log.warning("outbox event=failed row=%s error=%s", job.id, job.error)
                if job.error:
                    self.stats.errors[job.error] = self.stats.errors.get(job.error, 0) + 1
            if self.wipe_after is not None:
                written = [
                    Written(j.channel, j.chat, self.keys.seal_routing(j.address.encode()),
                            j.remote_id, j.accepted_at or now)
                    for j in jobs
                    if j.outcome == SENT and j.remote_id is not None
                    and is_private(j.channel, j.address)
                ]  # fmt: skip
                await session.run_sync(note, self.keys, written, self.wipe_after)
            for channel, pause in pauses.items():
                # Telegram's 429 asks the whole bot to wait: hold every send of this channel.
                pacer = await session.get(OutboxPacer, channel)
                if pacer is not None:
                    pacer.next_at = max(pacer.next_at, time.time() + pause)
                log.info("outbox event=rate_limited retry_after=%s", pause)

    async def purge(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Forget finished rows: sent ones (texts already erased) ``sent_keep`` seconds after
        the channel accepted them, so that nothing links a delivered message to its chat or
        case for long; failed and dropped ones a day after."""
        self._last_purge = time.monotonic()
        cut = utcnow() - older_than
        sent_cut = utcnow() - timedelta(seconds=self.sent_keep)
        async with self.store.transaction() as session:
            result = await session.execute(
                delete(OutboxMessage).where(
                    or_(
                        and_(
                            OutboxMessage.state == SENT,
                            OutboxMessage.keep.is_(False),
                            OutboxMessage.sent_at < sent_cut,
                        ),
                        and_(
                            OutboxMessage.state.in_((FAILED, DROPPED)),
                            OutboxMessage.created_at < cut,
                        ),
                    )
                )
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
