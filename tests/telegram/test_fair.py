"""Fair under overload: what the outbox sends first, replaced replies, operator messages never
lost or reordered, the inbox, and a new chat's first answer during a many-account flood."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

from sqlalchemy import func, select, update

from haven.flows import Effect
from haven.flows.inputs import Choice, Command, Text
from haven.outbox import Outbox, Payload, Worker, enqueue
from haven.services.intake import Intake
from haven.store.models import Contact, InboxUpdate, OutboxMessage, utcnow
from tests.conftest import Env
from tests.telegram.conftest import Chat, eventually
from tests.telegram.fakebot import FakeBotAPI
from tests.telegram.test_outbox import MemorySender


async def rows(env: Env) -> list[OutboxMessage]:
    async with env.store.transaction() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_the_outbox_serves_by_class_then_newest_first_once_a_backlog_forms(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    async with env.store.transaction() as s:
        for n, kind in enumerate(["notice", "post", "first", "reply", "operator", "first"]):
            enqueue(s, env.keys, ("telegram", str(100 + n)), Payload(kind), kind=kind)
        # Two automated replies that have waited long (a backlog), and a fresh one after.
        for n in range(3):
            enqueue(s, env.keys, ("telegram", str(200 + n)), Payload(f"late {n}"), kind="reply")
    async with env.store.transaction() as s:
        stale = utcnow() - timedelta(seconds=10)
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "reply", OutboxMessage.chat.in_(await _chats(env, 2)))
            .values(created_at=stale)
        )
    sender = MemorySender()
    worker = Worker(env.store, env.keys, {"telegram": sender}, rate=2.0, per_chat_rate=10,
                    newest_first_after=2.0)  # fmt: skip
    worker.HORIZON = 0.6  # a row or two a claim: the order of claims is the order of sending
    deadline = time.monotonic() + 20
    while len(sender.sent) < 9 and time.monotonic() < deadline:
        await worker.run_once()
        await asyncio.sleep(0.02)
    texts = [text for _address, text, _at in sender.sent]
    assert texts == [
        "operator",
        "reply",  # under way, fresh
        "late 2",  # under way, fresh (never made stale)
        "late 1",  # under way, stale: newest first
        "late 0",
        "first",
        "first",
        "notice",
        "post",
    ]


async def _chats(env: Env, n: int) -> list[str]:
    """The keyed hashes of the first ``n`` "late" chats."""
    from haven.outbox import chat_key

    return [chat_key(env.keys, "telegram", str(200 + i)) for i in range(n)]


async def test_a_waiting_reply_is_replaced_by_the_chats_next_one_but_never_what_he_must_get(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    intake = Intake(env.store, env.keys, outbox=Outbox(env.keys))

    async def say(inp: object) -> Effect | None:
        result = await intake.handle("telegram", "42", inp, deliver=True)  # type: ignore[arg-type]
        return result.effect

    await say(Command("start"))
    (first,) = await rows(env)
    assert (first.kind, first.rank, first.replaceable) == ("first", 2, True)
    await say(Text("1"))  # the language: the question on the screen was never sent
    (second,) = await rows(env)
    assert (second.kind, second.rank) == ("reply", 1)  # the first one replaced, not queued
    for answer in ["1", "1", "2", "village", "/skip", "/skip", "evening", "1"]:
        await say(Text(answer) if not answer.startswith("/") else Command(answer[1:]))
    assert await say(Text("1")) is Effect.submit  # the completion: reference, code phrase
    completion = await rows(env)
    assert completion and not any(r.replaceable for r in completion)
    await say(Text("hello"))  # a message after the submission: acknowledged
    now = {r.id for r in await rows(env)}
    assert {r.id for r in completion} < now
    await say(Command("forget"))
    assert await say(Choice("forget_yes")) is Effect.erase
    left = await rows(env)
    assert left and not any(r.replaceable for r in left)  # the erasure's confirmation
    await say(Command("start"))  # written again: the confirmation is still there
    assert [r.id for r in left] == [r.id for r in await rows(env)][: len(left)]
    # Operator messages are never replaced.
    async with env.store.transaction() as s:
        contact = await s.scalar(select(Contact))
        enqueue(s, env.keys, contact, Payload("from the operator"), kind="operator", keep=True)
    await say(Text("1"))
    assert any(r.kind == "operator" for r in await rows(env))


async def test_operator_messages_are_never_lost_and_keep_their_order_under_a_flood(
    sqlite_env: Env, fake: FakeBotAPI
) -> None:
    from haven.channels.telegram import TelegramSender, make_bot

    env = sqlite_env
    fake.rate, fake.per_chat_rate = 30, 1
    outbox = Outbox(env.keys)
    async with env.store.transaction() as s:
        for n in range(300):  # automated replies to many chats, queued first
            outbox.enqueue(s, ("telegram", str(5000 + n)), Payload(f"r{n}"), kind="reply",
                           replaceable=True)  # fmt: skip
        for n in range(15):  # then operator messages to three chats
            chat = str(900 + n % 3)
            outbox.enqueue(s, ("telegram", chat), Payload(f"op{n}"), kind="operator", keep=True)
    bot = make_bot("7001234567:AAFakeTokenForTestsOnly_0123456789abcdef", fake.base)
    worker = Worker(env.store, env.keys, {"telegram": TelegramSender(bot)}, poll=0.05)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: sum(s.text.startswith("op") for s in fake.sent) == 15, 30)
    finally:
        worker.stop()
        await task
        await bot.session.close()
    ops = [s for s in fake.sent if s.text.startswith("op")]
    for chat in range(3):
        mine = [s for s in ops if int(s.text[2:]) % 3 == chat]
        assert [s.text for s in mine] == [f"op{n}" for n in range(chat, 15, 3)]  # once, in order
        # Each as soon as its chat's pace (1/s) allows, give or take a loaded machine.
        gaps = [b.at - a.at for a, b in itertools.pairwise(mine)]
        assert max(gaps) < 3.0
    # Never behind the backlog: the last operator message went out while most of the 300
    # replies queued before it still waited (their pace and the chats' are the same clock).
    last = max(i for i, s in enumerate(fake.sent) if s.text.startswith("op"))
    assert sum(not s.text.startswith("op") for s in fake.sent[:last]) < 250
    assert all(fake.sent.index(ops[n]) < 30 for n in range(3))
    assert fake.too_many == 0


async def test_the_inbox_is_empty_once_updates_are_handled_and_after_forget(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime
) -> None:
    env = sqlite_env
    runtime = await make_runtime(env)
    chat = Chat(fake, 4242)
    await chat.say("/start")
    await chat.press("ko")

    async def inbox() -> int:
        async with env.store.transaction() as s:
            return int(await s.scalar(select(func.count()).select_from(InboxUpdate)))

    await eventually(lambda: _zero(inbox()), 2, "the inbox erased")
    await chat.say("/forget")
    assert await inbox() == 0  # erased with the chat, before its answer was sent
    (again,) = await chat.say("/start")  # what comes after /forget is handled as new
    assert again.buttons
    assert runtime.channel.handled == 4


async def _zero(value: object) -> bool:
    return await value == 0  # type: ignore[misc]


#: A short many-account flood: every chat new and polite (under the per-chat limit).
FLOOD_CHATS, FLOOD_EACH = 600, 3


async def test_a_new_chats_first_answer_does_not_wait_behind_a_many_account_flood(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime
) -> None:
    env = sqlite_env
    fake.rate, fake.per_chat_rate = 30, 1  # Telegram's limits, 429 beyond
    for text in ["/start", "1", "1"][:FLOOD_EACH]:
        for n in range(FLOOD_CHATS):
            fake.message(300_000 + n, text)
    await make_runtime(
        env,
        outbox_rate=30,
        outbox_per_chat_rate=1,
        intake_global_limit="300/second",
        intake_per_chat_limit="20/minute",
    )
    await eventually(lambda: len(fake.sent) >= 30, 10, "the flood under way")
    await asyncio.sleep(1.0)
    applicant = Chat(fake, 777)
    started = time.monotonic()
    fake.message(777, "/start")
    await eventually(lambda: bool(applicant.received), 15, "the applicant's first answer")
    waited = time.monotonic() - started
    answered = {str(s.chat_id) for s in fake.sent}
    unanswered = sum(str(300_000 + n) not in answered for n in range(FLOOD_CHATS))
    print(f"\nfirst answer after {waited:.2f}s; {unanswered} flood chats not answered yet")
    assert applicant.received[0].buttons
    assert waited < 5.0 and unanswered > FLOOD_CHATS / 2  # far from the end of the flood
    assert fake.too_many == 0
