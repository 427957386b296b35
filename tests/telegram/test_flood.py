"""Floods: thousands of updates from hundreds of chats; one chat flooding; SIGKILL mid-burst
(a new chat during a many-account flood: test_fair.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from haven.store.models import Case, Contact, InboxUpdate, OutboxMessage, ProcessedUpdate
from tests.conftest import Env
from tests.processes import stop
from tests.telegram.conftest import Chat, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI

ANSWERS = ["/start flood", "1", "1", "1", "2"]  # language ko, KPA, alone, not wounded
#: A flood of five updates from each of many new chats (bench/flood.py runs 2,000 chats);
#: ``TELEGRAM_FLOOD_CHATS`` sets the number of chats.
FLOOD_CHATS = int(os.environ.get("TELEGRAM_FLOOD_CHATS", "600"))


async def count(env: Env, model: type, at_least: int | None = None) -> int | bool:
    async with env.store.transaction() as s:
        n = int(await s.scalar(select(func.count()).select_from(model)))
    return n if at_least is None else n >= at_least


async def test_a_flood_of_updates_from_many_chats(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime
) -> None:
    env = sqlite_env
    rate, per_chat = 1500.0, 20.0
    fake.rate, fake.per_chat_rate = rate, per_chat
    chats = list(range(10_000, 10_000 + FLOOD_CHATS))
    total = 5 * FLOOD_CHATS
    for text in ANSWERS:
        for chat in chats:
            fake.message(chat, text)
    started = time.monotonic()
    runtime = await make_runtime(env, outbox_rate=rate, outbox_per_chat_rate=per_chat,
                                 intake_per_chat_limit="100/minute")  # fmt: skip
    await eventually(lambda: _settled(env, total), 600, "every update handled and answered")
    elapsed = time.monotonic() - started
    assert fake.too_many == 0
    assert fake.max_in_window() <= rate
    # Every chat has the answer to its last input; the replies its next input overtook
    # while they waited were replaced, never sent after it.
    last = {}
    for sent in fake.sent:
        last[str(sent.chat_id)] = sent.text
    assert len(last) == FLOOD_CHATS and len(set(last.values())) == 1  # all at the same question
    assert all(1 <= len(fake.to(c)) <= 5 for c in chats[:50])
    assert max(fake.max_in_window(1.0, c) for c in chats[:50]) <= per_chat
    assert await count(env, Case) == FLOOD_CHATS and await count(env, ProcessedUpdate) == total
    assert await count(env, InboxUpdate) == 0
    assert runtime.channel.handled == total
    print(f"\n{total} updates from {FLOOD_CHATS} chats handled and answered in {elapsed:.1f}s")


async def test_a_flooding_chat_gets_one_notice_and_others_are_served(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime
) -> None:
    env = sqlite_env
    runtime = await make_runtime(env, intake_per_chat_limit="5/minute")
    for n in range(40):
        fake.message(700, f"spam {n}")
    newcomer = Chat(fake, 701)
    (hello,) = await newcomer.say("/start")
    assert hello.buttons  # answered while the flood runs
    await eventually(lambda: runtime.channel.ignored == 35, 10, "the flood ignored")
    await eventually(lambda: runtime.channel.handled == 6, 10, "five updates and the newcomer")
    await eventually(lambda: any("too many" in s.text for s in fake.to(700)), 10, "the notice")
    await asyncio.sleep(0.5)
    texts = [s.text for s in fake.to(700)]
    # One notice; of the five answers, those overtaken by the chat's next input while they
    # waited were replaced by the newer one.
    notices = [t for t in texts if "too many" in t]
    assert len(notices) == 1 and "너무 많이" in notices[0]
    assert 1 <= len(texts) - 1 <= 5


def serve(environ: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``haven serve`` as a child process: the intake, which never holds the passphrase."""
    env = {k: v for k, v in environ.items() if k != "HAVEN_PASSPHRASE"}
    env |= {"HAVEN_PORT": str(port), "HAVEN_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "haven", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


async def test_sigkill_mid_burst_loses_nothing(sqlite_env: Env, fake: FakeBotAPI) -> None:
    """``haven serve`` killed while its inbox holds updates already confirmed to Telegram:
    after a restart every one of them has its effect, and the inbox is empty."""
    from tests.pg import free_port

    env = sqlite_env
    environ = {
        **env.environ,
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_API": fake.base,
        "HAVEN_OUTBOX_RATE": "300",
        "HAVEN_OUTBOX_PER_CHAT_RATE": "20",
        "HAVEN_OUTBOX_LEASE_SECONDS": "1",
        "HAVEN_INTAKE_PER_CHAT_LIMIT": "100/minute",
    }
    chats = list(range(20_000, 20_300))
    for text in ANSWERS:
        for chat in chats:
            fake.message(chat, text)
    proc = serve(environ, free_port())
    try:
        await eventually(
            lambda: count(env, ProcessedUpdate, at_least=200), 60, "the burst under way"
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        handled = await count(env, ProcessedUpdate)
        waiting = await count(env, InboxUpdate)
        confirmed = 1500 - len(fake.updates)  # the fake forgets what an offset confirmed
        assert handled < 1500, "the burst was over before the kill"
        assert waiting > 0 and confirmed > handled, "nothing taken was waiting at the kill"
        assert handled + waiting >= confirmed  # everything confirmed is handled or in the inbox
        await _sealed_in_the_inbox(env)
        proc = serve(environ, free_port())
        await eventually(lambda: _settled(env), 90, "every update handled after the restart")
    finally:
        stop(proc)
    assert await count(env, ProcessedUpdate) == 1500 and await count(env, InboxUpdate) == 0
    async with env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Contact)) == 300
        assert await s.scalar(select(func.count()).where(Case.campaign == "unknown")) == 300
        states = set((await s.scalars(select(OutboxMessage.state))).all())
    assert states == {"sent"}
    # Every chat has the answer to its last input (replies it overtook were replaced); a
    # reply may be repeated by the crash window, never missing.
    last = {str(sent.chat_id): sent.text for sent in fake.sent}
    assert len(last) == 300 and len(set(last.values())) == 1


async def _settled(env: Env, total: int = 1500) -> bool:
    if await count(env, ProcessedUpdate) < total or await count(env, InboxUpdate):
        return False
    async with env.store.transaction() as s:
        busy = await s.scalar(
            select(func.count()).where(OutboxMessage.state.in_(("pending", "sending")))
        )
    return not busy


async def _sealed_in_the_inbox(env: Env) -> None:
    """The inbox holds updates under the routing key and chats by keyed hash, nothing plain."""
    from haven.outbox import chat_key

    async with env.store.transaction() as s:
        rows = (await s.scalars(select(InboxUpdate))).all()
    assert rows
    for row in rows:
        update = json.loads(env.keys.open_routing(row.body))
        chat = str(update["message"]["chat"]["id"])
        assert row.chat == chat_key(env.keys, "telegram", chat)
        text = update["message"]["text"]
        assert chat.encode() not in row.body  # five digits: never by chance in a short box
        assert len(text) < 5 or text.encode() not in row.body
