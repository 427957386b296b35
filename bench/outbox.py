"""The outbox against Telegram's limits: how much of the allowed sending rate it uses.

``--messages`` messages (default 3,000) for ``--chats`` chats (default 1,000) are queued
through the real outbox API into a real migrated store, and sent by the real outbox worker
with the real Telegram sender (aiogram), wired as ``haven serve`` wires them
(:class:`TelegramRuntime`, rate settings at their defaults), to a fake Bot API server on
127.0.0.1 that enforces Telegram's limits honestly: no more than 30 ``sendMessage`` accepted in
any sliding 1-second window overall, no two accepted within 1 s for one chat. Above either it
answers 429 with ``parameters.retry_after`` and does not count the message as delivered.

The fake server runs in its own process (tests/telegram/fakebot.py), so that its clock is not
held up by the worker's event loop: the times it enforces the limits on are the times the
requests arrived. Each message carries a unique marker, so a message delivered twice is seen.

Prints: accepted sends/s from the first to the last accepted send (server clock), that rate as
a fraction of the limit (the baseline: 30/s), the number of 429s and of duplicates, and whether
the target holds (>= 0.95 of the limit, no 429, no duplicate, nothing lost). ``--pg`` runs on a
throwaway PostgreSQL as well (Debian's binaries, see tests/pg.py). About 100 s per database.

    .venv/bin/python bench/outbox.py [--messages 3000] [--chats 1000] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fakeserver import FakeServer  # noqa: E402 - after the path is set

#: What the fake server enforces: Telegram's documented limits.
LIMIT = 30.0
PER_CHAT = 1.0
FIRST_CHAT = 700_000_000
TARGET = 0.95


# --- the fake Bot API server (run as a subprocess) ------------------------------------------


def serve_fake() -> None:
    """Start the fake on a free loopback port, print the port, serve until stdin closes or
    says ``stop``; then print what it accepted as one JSON line."""
    from tests.telegram.fakebot import FakeBotAPI

    async def serve() -> None:
        fake = FakeBotAPI(rate=LIMIT, per_chat_rate=PER_CHAT, retry_after=1)
        await fake.start()
        print(fake.port, flush=True)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, sys.stdin.readline)
        finally:
            await fake.stop()
        sent = [[str(s.chat_id), s.text, s.at] for s in fake.sent]
        print(json.dumps({"sent": sent, "too_many": fake.too_many}), flush=True)

    asyncio.run(serve())


# --- one run -------------------------------------------------------------------------------


@dataclass
class Result:
    queued: int
    accepted: int
    unique: int
    duplicates: int
    too_many: int
    worker_429: int
    rate: float
    max_window: int
    min_chat_gap: float
    out_of_order: int
    seconds: float

    @property
    def fraction(self) -> float:
        return self.rate / LIMIT

    @property
    def holds(self) -> bool:
        return (
            self.fraction >= TARGET
            and self.too_many == 0
            and self.duplicates == 0
            and self.unique == self.queued
        )


def plan(messages: int, chats: int, order: str) -> list[int]:
    """The chat of each message, in queueing order: ``grouped`` queues a chat's messages
    together (as the intake queues a reply of several messages), ``interleaved`` in turns."""
    turns = [FIRST_CHAT + i % chats for i in range(messages)]
    return sorted(turns) if order == "grouped" else turns


def analyse(
    queued: dict[str, int], marker: str, report: dict[str, Any], worker_429: int, seconds: float
) -> Result:
    from tests.telegram.fakebot import max_in_window

    sent = sorted(
        ((str(chat), str(text), float(at)) for chat, text, at in report["sent"]),
        key=lambda s: s[2],
    )
    mine = [s for s in sent if s[1].startswith(marker)]
    counts = Counter(text for _chat, text, _at in mine)
    times = [at for *_, at in mine]
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    by_chat: dict[str, list[tuple[int, float]]] = {}
    for chat, text, at in mine:
        by_chat.setdefault(chat, []).append((queued[text], at))
    gaps = [b[1] - a[1] for seq in by_chat.values() for a, b in itertools.pairwise(seq)]
    out_of_order = sum(
        1 for seq in by_chat.values() for a, b in itertools.pairwise(seq) if b[0] < a[0]
    )
    return Result(
        queued=len(queued),
        accepted=len(mine),
        unique=len(counts),
        duplicates=sum(n - 1 for n in counts.values()),
        too_many=int(report["too_many"]),
        worker_429=worker_429,
        rate=rate,
        max_window=max_in_window(times),
        min_chat_gap=min(gaps, default=float("inf")),
        out_of_order=out_of_order,
        seconds=seconds,
    )


async def run(db_url: str, messages: int, chats: int, order: str) -> Result:
    from sqlalchemy import func, select

    from haven import crypto
    from haven.bootstrap import telegram_runtime
    from haven.outbox import PENDING, SENDING, Payload
    from haven.services.admin import prepare_database
    from haven.settings import load_settings
    from haven.store.db import Store
    from haven.store.models import OutboxMessage
    from tests.telegram.fakebot import TOKEN

    fake = FakeServer(__file__)
    try:
        with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
            environ = {
                "HAVEN_DATA_DIR": tmp,
                "HAVEN_KDF_LEVEL": "interactive",
                "HAVEN_TELEGRAM_TOKEN": TOKEN,
                "HAVEN_TELEGRAM_API": fake.base,
            }
            if db_url:
                environ["HAVEN_DATABASE_URL"] = db_url
            settings = load_settings(environ)  # the outbox rates at their defaults
            assert (settings.outbox_rate, settings.outbox_per_chat_rate) == (LIMIT, PER_CHAT)
            keys = crypto.init_keys(settings.keys_dir, "bench passphrase 123", "interactive")
            store = Store(settings.db_url)
            await prepare_database(store, settings.keys_dir)
            runtime = telegram_runtime(settings, store, keys)

            marker = f"bench-{secrets.token_hex(4)}"
            queued: dict[str, int] = {}
            async with store.transaction() as session:
                for n, chat in enumerate(plan(messages, chats, order)):
                    text = f"{marker} #{n:06d}"
                    queued[text] = n
                    runtime.outbox.enqueue(session, ("telegram", str(chat)), Payload(text))

            worker = runtime.worker
            task = asyncio.create_task(worker.run())
            started = time.monotonic()
            deadline = started + 5 * messages / LIMIT + 60
            try:
                while time.monotonic() < deadline and not task.done():
                    await asyncio.sleep(1.0)
                    async with store.transaction() as session:
                        left = await session.scalar(
                            select(func.count()).where(OutboxMessage.state.in_((PENDING, SENDING)))
                        )
                    if not left:
                        break
            finally:
                worker.stop()
                await task
                await runtime.bot.session.close()
                await store.close()
            seconds = time.monotonic() - started
        report = fake.finish()
    finally:
        fake.kill()
    return analyse(queued, marker, report, worker.stats.rate_limited, seconds)


def show(name: str, r: Result) -> None:
    print(
        f"outbox ({name:10s}): {r.accepted} of {r.queued} accepted in {r.seconds:.1f} s   "
        f"{r.rate:6.2f} sent/s   {r.fraction:.3f} of the limit ({LIMIT:.0f}/s)   "
        f"429s {r.too_many}   duplicates {r.duplicates}"
    )
    print(
        f"    busiest 1 s window {r.max_window} (limit {LIMIT:.0f})   "
        f"closest two in one chat {r.min_chat_gap:.3f} s (limit {1 / PER_CHAT:.0f} s)   "
        f"out of order {r.out_of_order}   lost {r.queued - r.unique}   "
        f"429s seen by the worker {r.worker_429}"
    )
    print(
        f"    target (>= {TARGET} of the limit, 0 429s, 0 duplicates, none lost): "
        f"{'holds' if r.holds else 'MISSED'}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--order", choices=["grouped", "interleaved"], default="grouped")
    parser.add_argument("--pg", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    print(
        f"{args.messages} messages for {args.chats} chats ({args.order}); the fake server "
        f"allows {LIMIT:.0f}/s overall and {PER_CHAT:.0f}/s per chat"
    )
    ok = True
    from tests.pg import databases

    with databases(args.pg) as runs:
        for name, url in runs:
            result = await run(url, args.messages, args.chats, args.order)
            show(name, result)
            ok = ok and result.holds
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-fake":
        serve_fake()
    else:
        asyncio.run(main())
