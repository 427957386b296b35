"""The outbox: rate limits, 429/403/network errors, concurrent workers, the crash window."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from haven.channels.telegram import TelegramSender, make_bot
from haven.outbox import Outbox, Payload, TemporaryFailure, Worker, enqueue
from haven.store.models import Contact, OutboxMessage
from tests.conftest import Env
from tests.telegram.conftest import Chat, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI, max_in_window


class MemorySender:
    """Records what it is asked to send, with the time; can fail on demand."""

    channel = "telegram"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, float]] = []
        self.fail: dict[str, list[Exception]] = {}

    async def send(self, address: str, payload: Payload) -> int | None:
        started = time.monotonic()  # when the request would leave
        await asyncio.sleep(0.002)
        script = self.fail.get(address)
        if script:
            raise script.pop(0)
        self.sent.append((address, payload.text, started))
        return len(self.sent)


class SlowSender(MemorySender):
    """A channel that accepts each message at the end of its call, ``latency(n)`` seconds
    after the ``n``-th request left (the worst case for the overall limit)."""

    def __init__(self, latency: Callable[[int], float]) -> None:
        super().__init__()
        self.latency = latency
        self.calls = 0

    async def send(self, address: str, payload: Payload) -> int | None:
        self.calls += 1
        await asyncio.sleep(self.latency(self.calls - 1))
        self.sent.append((address, payload.text, time.monotonic()))  # accepted now
        return len(self.sent)


async def fill(env: Env, chats: int, per_chat: int) -> None:
    async with env.store.transaction() as s:
        for n in range(per_chat):
            for c in range(chats):
                enqueue(s, env.keys, ("telegram", str(1000 + c)), Payload(f"{c}:{n}"))


async def test_concurrent_workers_send_each_message_once_in_order(env: Env) -> None:
    """Three workers on one database (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
    await fill(env, chats=120, per_chat=3)
    sender = MemorySender()
    rate, per_chat = 300.0, 4.0
    workers = [
        Worker(
            env.store, env.keys, {"telegram": sender}, rate=rate, per_chat_rate=per_chat, poll=0.02
        )
        for _ in range(3)
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await eventually(lambda: len(sender.sent) >= 360, 20, "every message")
        await asyncio.sleep(0.3)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
    texts = [t for _a, t, _ in sender.sent]
    assert len(texts) == 360 == len(set(texts))  # each once
    for c in range(120):
        mine = [(t, at) for a, t, at in sender.sent if a == str(1000 + c)]
        assert [t for t, _ in mine] == [f"{c}:{n}" for n in range(3)]  # in order
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(mine)]
        assert min(gaps) >= 1 / per_chat - 0.01
    assert max_in_window([at for *_, at in sender.sent]) <= rate
    assert sum(w.stats.sent for w in workers) == 360
    assert sum(1 for w in workers if w.stats.sent) >= 2  # they really shared the work
    async with env.store.transaction() as s:
        states = (await s.scalars(select(OutboxMessage.state).distinct())).all()
        assert states == ["sent"]
        assert await s.scalar(select(func.count()).where(OutboxMessage.payload.is_not(None))) == 0


async def test_the_overall_rate_holds_when_the_latency_drops(sqlite_env: Env) -> None:
    """After a slow spell (answers in 0.2 s) requests are fast again: they must not be
    accepted within a second of the slow ones, which were accepted late."""
    await fill(sqlite_env, chats=40, per_chat=1)
    sender = SlowSender(lambda n: 0.2 if n < 20 else 0.0)
    rate = 20.0
    worker = Worker(sqlite_env.store, sqlite_env.keys, {"telegram": sender}, rate=rate,
                    per_chat_rate=1.0, poll=0.02)  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: len(sender.sent) == 40, 10, "every message")
    finally:
        worker.stop()
        await task
    assert max_in_window([at for *_, at in sender.sent]) <= rate


async def test_a_slow_channel_does_not_outrun_the_leases(sqlite_env: Env) -> None:
    """Every answer takes 0.3 s, so the sends fall behind the pacer's slots (a send counts
    against the rate until a second after its answer): claims wait for them instead of holding
    rows past their lease, which would send those rows twice."""
    await fill(sqlite_env, chats=200, per_chat=1)
    sender = SlowSender(lambda n: 0.3)
    worker = Worker(sqlite_env.store, sqlite_env.keys, {"telegram": sender}, rate=50.0,
                    per_chat_rate=1.0, lease=2.0, poll=0.02)  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: len({t for _a, t, _ in sender.sent}) == 200, 20, "all")
    finally:
        worker.stop()
        await task
    assert len(sender.sent) == 200  # each once
    assert worker.stats.sent == 200


async def test_the_crash_window(env: Env) -> None:
    """Killed after the channel accepted but before 'sent' was written: sent again after the
    lease (at least once, never lost); claimed but unsent rows are sent after the lease."""
    await fill(env, chats=4, per_chat=1)
    sender = MemorySender()
    dying = Worker(env.store, env.keys, {"telegram": sender}, rate=100, per_chat_rate=10, lease=0.3)
    await dying.prepare()
    jobs = await dying._claim("telegram")
    assert len(jobs) == 4
    await sender.send(jobs[0].address, jobs[0].payload)  # accepted... and the process dies here
    heir = Worker(env.store, env.keys, {"telegram": sender}, rate=100, per_chat_rate=10, poll=0.05)
    assert await heir.run_once() == 0  # the lease still holds: nothing is sent twice early
    await asyncio.sleep(1.4)  # lease + the claim horizon
    assert await heir.run_once() == 4
    texts = sorted(t for _a, t, _ in sender.sent)
    assert texts == sorted(["0:0", "0:0", "1:0", "2:0", "3:0"])


async def test_kept_messages_are_sealed_to_the_case_key_once_sent(env: Env) -> None:
    async with env.store.transaction() as s:
        enqueue(s, env.keys, ("telegram", "42"), Payload("operator says hi"), keep=True)
    sender = MemorySender()
    worker = Worker(env.store, env.keys, {"telegram": sender}, rate=100, per_chat_rate=10)
    await worker.prepare()
    assert await worker.run_once() == 1
    async with env.store.transaction() as s:
        row = await s.scalar(select(OutboxMessage))
    assert (
        row.state == "sent" and b"operator" not in row.payload and row.address[:4] == b"HV\x01R"
    )  # the chat id sealed, not in the clear
    assert Payload.decode(env.keyring().open(row.payload)).text == "operator says hi"


async def test_network_errors_back_off_exponentially(sqlite_env: Env) -> None:
    env = sqlite_env
    await fill(env, chats=1, per_chat=2)
    sender = MemorySender()
    sender.fail["1000"] = [
        TemporaryFailure("net"),
        TemporaryFailure("net"),
        TemporaryFailure("net"),
    ]
    worker = Worker(env.store, env.keys, {"telegram": sender}, rate=100, per_chat_rate=100,
                    poll=0.02, backoff_base=0.1)  # fmt: skip
    delays = [worker.backoff(n) for n in (1, 2, 3, 8)]
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2 and 0.2 <= delays[2] <= 0.4
    assert delays[3] <= worker.backoff_max
    task = asyncio.create_task(worker.run())
    started = time.monotonic()
    try:
        await eventually(lambda: len(sender.sent) == 2, 10)
    finally:
        worker.stop()
        await task
    assert time.monotonic() - started >= 0.05 + 0.1 + 0.2
    assert [t for _a, t, _ in sender.sent] == ["0:0", "0:1"]  # order kept through retries
    assert worker.stats.retried == 3


async def test_a_429_is_honoured(sqlite_env: Env, fake: FakeBotAPI) -> None:
    env = sqlite_env
    fake.retry_after = 1
    fake.scripted["1000"].append("429")
    await fill(env, chats=3, per_chat=1)
    bot = make_bot(TOKEN, fake.base)
    worker = Worker(env.store, env.keys, {"telegram": TelegramSender(bot)}, rate=50,
                    per_chat_rate=10, poll=0.02)  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: len(fake.sent) == 3, 10)
    finally:
        worker.stop()
        await task
        await bot.session.close()
    assert fake.too_many == 1 and worker.stats.rate_limited == 1
    first_try = min(s.at for s in fake.sent)
    retried = fake.to(1000)[0].at
    assert retried - first_try >= 0.9  # waited retry_after
    assert sorted(s.text for s in fake.sent) == ["0:0", "1:0", "2:0"]


async def test_a_403_marks_the_contact_unreachable(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime
) -> None:
    env = sqlite_env
    runtime = await make_runtime(env)
    chat = Chat(fake, 901)
    await chat.say("/start")
    fake.blocked.add("901")
    fake.message(901, "/help")
    async with asyncio.timeout(10):
        while True:
            async with env.store.transaction() as s:
                contact = await s.scalar(select(Contact))
                if contact.unreachable:
                    break
            await asyncio.sleep(0.05)
    async with env.store.transaction() as s:
        row = await s.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
        assert (row.state, row.error, row.payload) == ("dropped", "403", None)
        # Nothing more is queued for a contact that blocked the bot.
        assert Outbox(env.keys).enqueue(s, contact, Payload("x")) is None
    assert runtime.worker.stats.dropped == 1 and len(chat.received) == 1
    # Writing again means the bot was unblocked: replies flow again.
    fake.blocked.discard("901")
    await chat.say("/help")
    async with env.store.transaction() as s:
        assert (await s.scalar(select(Contact))).unreachable is False


@pytest.mark.parametrize("rate", [20.0])
async def test_rates_hold_against_an_enforcing_server(
    sqlite_env: Env, fake: FakeBotAPI, rate: float
) -> None:
    """The fake server answers 429 above 20/s overall and 2/s per chat: none is seen."""
    env = sqlite_env
    fake.rate, fake.per_chat_rate = rate, 2.0
    await fill(env, chats=15, per_chat=3)
    bot = make_bot(TOKEN, fake.base)
    worker = Worker(env.store, env.keys, {"telegram": TelegramSender(bot)}, rate=rate,
                    per_chat_rate=2.0, poll=0.02)  # fmt: skip
    task = asyncio.create_task(worker.run())
    started = time.monotonic()
    try:
        await eventually(lambda: len(fake.sent) == 45, 20)
    finally:
        worker.stop()
        await task
        await bot.session.close()
    elapsed = time.monotonic() - started
    assert fake.too_many == 0
    assert fake.max_in_window() <= rate
    assert elapsed < 45 / rate / 0.8  # and it used the rate: not much slower than allowed
