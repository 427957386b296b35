"""Several intake processes on one PostgreSQL: capacity and behaviour.

In one run, on a throwaway PostgreSQL and a fake Bot API on loopback (tests/pg.py,
tests/telegram/fakebot.py), ``haven serve`` in webhook mode as deployed (outbox worker
included):

* throughput (closed loop, 64 chats answering in turn) and p99 latency of ONE intake process,
  then of TWO behind a small round-robin balancer in this process, and the ratio;
* the correctness figures: the answers one chat gets to 40 messages spread over both
  (one process: 20 and one notice), and the 429s of a fake that enforces 30 messages a second
  while both outboxes send at once.

    .venv/bin/python bench/scale.py [--updates 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from haven.store.models import ProcessedUpdate  # noqa: E402 - after the path above
from tests.pg import running  # noqa: E402
from tests.scale.conftest import (  # noqa: E402
    HOOK,
    SECRET_HEADER,
    WEBHOOK_URL,
    Intake,
    bot_environ,
    make_env,
    message,
)
from tests.telegram.fakebot import BOT_ID, FakeBotAPI  # noqa: E402

ANSWERS = ["/start", "1", "1", "1", "2"]
SECRET = "bench-secret-0123456789abcdef0123"
#: Capacity runs: limits out of the way, the outbox fast (the fake enforces nothing).
FAST = {
    "telegram_webhook_url": WEBHOOK_URL,
    "telegram_webhook_secret": SECRET,
    "intake_global_limit": "100000/second",
    "intake_per_chat_limit": "1000/minute",
    "intake_outbox_room_seconds": "1000",
    "outbox_rate": "5000",
    "outbox_per_chat_rate": "100",
}


class Balancer:
    """Round robin over the intakes' webhook routes (as nginx would), on loopback."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.turn = 0
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        app = web.Application()
        app.router.add_post(HOOK, self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        backend = self.backends[self.turn % len(self.backends)]
        self.turn += 1
        headers = {SECRET_HEADER: request.headers.get(SECRET_HEADER, "")}
        async with self.session.post(
            backend + HOOK, data=await request.read(), headers=headers
        ) as resp:
            return web.Response(status=resp.status, body=await resp.read())

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()


async def closed_loop(base: str, total: int, first: int) -> tuple[float, list[float]]:
    """64 applicants answer in turn (5 updates each): updates/s and the latencies."""
    latencies: list[float] = []
    uid = first * 10
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        queue = list(range(first, first + total // len(ANSWERS)))

        async def applicant() -> None:
            nonlocal uid
            while queue:
                chat = queue.pop()
                for text in ANSWERS:
                    uid += 1
                    started = time.perf_counter()
                    async with session.post(
                        base + HOOK, json=message(uid, chat, text), headers={SECRET_HEADER: SECRET}
                    ) as resp:
                        await resp.read()
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(applicant() for _ in range(64)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] * 1000


async def capacity(url: str, updates: int, processes: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = await make_env(Path(tmp), url)
        fake = await FakeBotAPI().start()
        environ = bot_environ(env, fake, **FAST)
        intakes = [Intake(environ) for _ in range(processes)]
        balancer = Balancer([i.base for i in intakes])
        try:
            await asyncio.gather(*(i.ready() for i in intakes))
            base = await balancer.start() if processes > 1 else intakes[0].base
            await closed_loop(base, 320, 1)  # warm up
            rate, latencies = await closed_loop(base, updates, 100_000)
            return rate, p99(latencies)
        finally:
            await balancer.stop()
            await asyncio.gather(*(i.close() for i in intakes))
            await fake.stop()
            await env.store.close()


async def correctness(url: str) -> tuple[int, int, int, int]:
    """Answers (and notices) to one chat's 40 messages over both; the 429s and the most
    messages in any second of both outboxes sending at once."""
    with tempfile.TemporaryDirectory() as tmp:
        env = await make_env(Path(tmp), url)
        fake = await FakeBotAPI(rate=30).start()
        environ = bot_environ(
            env, fake, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET
        )
        intakes = [Intake(environ) for _ in range(2)]
        try:
            await asyncio.gather(*(i.ready() for i in intakes))
            await asyncio.sleep(2)  # both bots started
            for n in range(40):
                await intakes[n % 2].post_update(message(1 + n, 900, f"text {n}"), SECRET)
            chats = range(10_000, 10_150)
            await asyncio.gather(
                *(
                    intakes[n % 2].post_update(message(1000 + n, chat, "/start"), SECRET)
                    for n, chat in enumerate(chats)
                )
            )
            deadline = time.monotonic() + 60
            while not all(fake.to(c) for c in chats) and time.monotonic() < deadline:  # noqa: ASYNC110 - a fake's record
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)
            to_chat = fake.to(900)
            notices = sum("너무 많이" in s.text for s in to_chat)
            # Handled, not sent: a reply overtaken by the chat's next message is replaced.
            async with env.store.transaction() as s:
                keys = [f"telegram:{BOT_ID}:{n}" for n in range(1, 41)]
                handled = int(
                    await s.scalar(select(func.count()).where(ProcessedUpdate.key.in_(keys))) or 0
                )
            return handled, notices, fake.too_many, fake.max_in_window()
        finally:
            await asyncio.gather(*(i.close() for i in intakes))
            await fake.stop()
            await env.store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=2000)
    args = parser.parse_args()
    with running() as pg:
        one, one_p99 = await capacity(pg.url(pg.new_database()), args.updates, 1)
        print(f"one intake process:              {one:7.0f} updates/s   p99 {one_p99:6.1f} ms")
        two, two_p99 = await capacity(pg.url(pg.new_database()), args.updates, 2)
        print(
            f"two behind a loopback balancer:  {two:7.0f} updates/s   p99 {two_p99:6.1f} ms   "
            f"ratio {two / one:.2f}"
        )
        handled, notices, too_many, peak = await correctness(pg.url(pg.new_database()))
        print(
            f"one chat's 40 messages over both: {handled} handled, {notices} notice "
            "(one process: 20 and 1)"
        )
        print(f"both outboxes against a fake enforcing 30/s: {too_many} answers 429, "
              f"at most {peak} messages in any second")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
