"""Telegram intake in webhook mode: HTTP -> aiogram -> flow -> sealed store -> outbox row.

Beside it, in the same run and on the same HTTP stack (uvicorn + Starlette), a bare aiogram
webhook bot that only echoes (a Dispatcher whose handler returns a SendMessage as the webhook
reply). Each server runs in its own process; this process generates the load on loopback.

Prints: updates/s of both (closed loop, 64 chats answering in turn) and the ratio; p50/p99
latency of haven at a fixed offered load of 300 updates/s. ``--pg`` runs haven on a throwaway
PostgreSQL as well (Debian's binaries, see tests/pg.py).

    .venv/bin/python bench/telegram_intake.py [--updates 3000] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import stop  # noqa: E402 - after the path above

TOKEN = "7001234567:AAFakeTokenForBenchOnly_0123456789abcdef"
SECRET = "bench-secret"
ANSWERS = ["/start", "1", "1", "1", "2"]


# --- the two servers (run as subprocesses) --------------------------------------------------


def serve_haven(data_dir: str, db_url: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette

    from haven import crypto
    from haven.bootstrap import telegram_runtime
    from haven.server import settle_heap
    from haven.services.admin import prepare_database
    from haven.settings import load_settings
    from haven.store.db import Store

    environ = {
        "HAVEN_DATA_DIR": data_dir,
        "HAVEN_KDF_LEVEL": "interactive",
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_API": "http://127.0.0.1:9",  # never called on this path
        "HAVEN_TELEGRAM_WEBHOOK_URL": "https://bench.invalid/tg",
        "HAVEN_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "HAVEN_INTAKE_GLOBAL_LIMIT": "100000/second",
        "HAVEN_INTAKE_PER_CHAT_LIMIT": "1000/minute",
        # No outbox worker here (the intake's own cost is measured): admission must not wait
        # for replies that nobody sends.
        "HAVEN_INTAKE_OUTBOX_ROOM_SECONDS": "1000000",
    }
    if db_url:
        environ["HAVEN_DATABASE_URL"] = db_url
    settings = load_settings(environ)
    keys = crypto.init_keys(settings.keys_dir, "bench passphrase 123", "interactive")
    store = Store(settings.db_url)
    asyncio.run(prepare_database(store, settings.keys_dir))
    store = Store(settings.db_url)
    runtime = telegram_runtime(settings, store, keys, run_worker=False)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):  # type: ignore[no-untyped-def]
        await runtime.channel.start()
        settle_heap()  # as haven serve does
        yield
        await runtime.channel.stop()

    app = Starlette(routes=runtime.routes(), lifespan=lifespan)  # type: ignore[arg-type]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_bare(port: int) -> None:
    import uvicorn
    from aiogram import Bot, Dispatcher
    from aiogram.methods import SendMessage
    from aiogram.types import Message
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    bot = Bot(TOKEN)
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(message.text or "?")

    async def hook(request: Request) -> Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return Response(status_code=403)
        result = await dp.feed_webhook_update(bot, await request.json())
        if result is None:
            return Response(status_code=200)
        # The echo as the webhook's reply (no outgoing request): method, chat and text.
        return JSONResponse(
            {"method": result.__api_method__, "chat_id": result.chat_id, "text": result.text}
        )

    app = Starlette(routes=[Route("/tg", hook, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- load ---------------------------------------------------------------------------------


def update(uid: int, chat: int, text: str) -> dict[str, object]:
    return {
        "update_id": uid,
        "message": {
            "message_id": uid,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "A"},
            "from": {"id": chat, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }


class Load:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/tg"
        self.uid = 0
        self.errors = 0

    async def post(self, session: aiohttp.ClientSession, chat: int, text: str) -> float:
        self.uid += 1
        started = time.perf_counter()
        async with session.post(
            self.url,
            json=update(self.uid, chat, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as resp:
            await resp.read()
            if resp.status != 200:
                self.errors += 1
        return time.perf_counter() - started

    async def closed_loop(self, total: int, chats: int = 64, first_chat: int = 1) -> float:
        """``chats`` applicants answer in turn (5 updates each); returns updates/s."""
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=chats)) as session:
            queue = list(range(first_chat, first_chat + total // len(ANSWERS)))

            async def applicant() -> None:
                while queue:
                    chat = queue.pop()
                    for text in ANSWERS:
                        await self.post(session, chat, text)

            started = time.perf_counter()
            await asyncio.gather(*(applicant() for _ in range(chats)))
            return (total // len(ANSWERS)) * len(ANSWERS) / (time.perf_counter() - started)

    async def open_loop(self, rate: float, seconds: float, first_chat: int) -> list[float]:
        """A fixed offered load: one new update every 1/rate s; returns latencies."""
        latencies: list[float] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = []
            started = time.perf_counter()
            n = int(rate * seconds)
            for i in range(n):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.post(session, first_chat + i, "/start")))
            latencies = list(await asyncio.gather(*tasks))
        return latencies


async def wait_up(port: int) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.post(f"http://127.0.0.1:{port}/tg", json={}) as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args], start_new_session=True)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def measure(kind: str, db_url: str, updates: int, rate: float) -> tuple[float, list[float]]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
        proc = start(
            ["serve-haven", tmp, db_url, str(port)]
            if kind == "haven"
            else ["serve-bare", str(port)]
        )
        try:
            await wait_up(port)
            load = Load(port)
            await load.closed_loop(250, first_chat=9_000_000)  # warm up
            throughput = await load.closed_loop(updates)
            latencies = await load.open_loop(rate, 10.0, first_chat=5_000_000)
            if load.errors:
                print(f"  ({kind}: {load.errors} requests failed)")
        finally:
            stop(proc)  # SIGTERM, then SIGKILL
    return throughput, latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--pg", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    bare, bare_lat = await measure("bare", "", args.updates, args.rate)
    print(
        f"bare aiogram echo bot (webhook):  {bare:8.0f} updates/s   "
        f"p50 {pct(bare_lat, 0.5):6.1f} ms  p99 {pct(bare_lat, 0.99):6.1f} ms at {args.rate:.0f}/s"
    )
    from tests.pg import databases

    with databases(args.pg) as runs:
        for name, url in runs:
            tput, lat = await measure("haven", url, args.updates, args.rate)
            print(
                f"haven webhook intake ({name:10s}): {tput:8.0f} updates/s   "
                f"p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms at {args.rate:.0f}/s   "
                f"ratio {tput / bare:.2f} (target >= 0.5; p99 target < 50 ms)"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-haven":
        serve_haven(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        serve_bare(int(sys.argv[2]))
    else:
        asyncio.run(main())
