"""Floods: 10,000 updates from 2,000 chats; one chat flooding; SIGKILL mid-burst."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from haven.store.models import Case, Contact, OutboxMessage, ProcessedUpdate
from tests.conftest import Env
from tests.processes import stop
from tests.telegram.conftest import Chat, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI

ANSWERS = ["/start flood", "1", "1", "1", "2"]  # language ko, KPA, alone, not wounded
#: The issue's flood: 10,000 updates from 2,000 chats (about a minute on two cores);
#: ``TELEGRAM_FLOOD_CHATS=400`` makes a quicker run while working on the channel.
FLOOD_CHATS = int(os.environ.get("TELEGRAM_FLOOD_CHATS", "2000"))


async def count(env: Env, model: type) -> int:
    async with env.store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


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
    await eventually(lambda: len(fake.sent) >= total, 600, "every reply")
    await asyncio.sleep(0.5)
    elapsed = time.monotonic() - started
    assert len(fake.sent) == total and fake.too_many == 0
    assert fake.max_in_window() <= rate
    last = {}
    for sent in fake.sent:
        last[str(sent.chat_id)] = sent.text
    assert len(last) == FLOOD_CHATS and len(set(last.values())) == 1  # all at the same question
    assert all(len(fake.to(c)) == 5 for c in chats[:50])
    assert max(fake.max_in_window(1.0, c) for c in chats[:50]) <= per_chat
    assert await count(env, Case) == FLOOD_CHATS and await count(env, ProcessedUpdate) == total
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
    await eventually(lambda: len(fake.to(700)) == 6, 10, "five answers and one notice")
    await asyncio.sleep(0.3)
    texts = [s.text for s in fake.to(700)]
    assert len(texts) == 6  # five answers, then one notice
    notice = next(t for t in texts if "too many" in t)
    assert "너무 많이" in notice
    assert runtime.channel.handled == 6


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
        await eventually(lambda: len(fake.sent) >= 300, 60, "the burst under way")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_at = len(fake.sent)
        assert killed_at < 1500, "the burst was over before the kill"
        handled = await count(env, ProcessedUpdate)
        proc = serve(environ, free_port())
        await eventually(lambda: _complete(fake, chats), 90, "every reply after the restart")
    finally:
        stop(proc)
    assert await count(env, ProcessedUpdate) == 1500 > handled
    async with env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Contact)) == 300
        assert await s.scalar(select(func.count()).where(Case.campaign == "unknown")) == 300
        states = dict(
            (
                await s.execute(
                    select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
                )
            ).all()
        )
    assert states == {"sent": 1500}
    # At least once: a reply may be repeated by the crash window, never missing.
    assert all(len(fake.to(c)) >= 5 for c in chats)
    assert len(fake.sent) - 1500 <= 300


def _complete(fake: FakeBotAPI, chats: list[int]) -> bool:
    if len(fake.sent) < 1500:
        return False
    texts: dict[str, set[str]] = {}
    for sent in fake.sent:
        texts.setdefault(str(sent.chat_id), set()).add(sent.text)
    return all(len(texts.get(str(c), ())) == 5 for c in chats)
