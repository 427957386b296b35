"""Benchmark of the web intake, beside a bare Starlette route, in the same run.

    .venv/bin/python bench/web_intake.py [--seconds 5] [--concurrency 32] [--postgresql]

One uvicorn process, configured as ``haven serve`` configures it, serves haven's app with one
more route in haven's own router: a bare Starlette route returning a fixed page of the same
size class (so both go through the same server and the same outer app). This process
drives keep-alive HTTP/1.1 connections on 127.0.0.1 at them, the scenarios taking turns (a
slice of each, round after round, so that anything else the machine does weighs on all alike):

* ``bare``     GET /bare-page: the baseline.
* ``landing``  GET /: the language choice of a first visit (a new session cookie each time).
* ``page``     GET / of a session under way: the current question shown again (one read of
               the sealed flow state).
* ``step``     POST /: questionnaire steps (language, who, group, wounded, place, unit, photo,
               contact, consent), each a sealed write of the flow state in one transaction.

It prints requests per second, p50 and p99 latency, and each scenario's throughput as a ratio
of the bare route's (the target: at least 0.3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEPS: list[dict[str, str]] = [
    {"choice": "ko"},
    {"choice": "kpa"},
    {"choice": "alone"},
    {"choice": "no"},
    {"text": "쿠르스크 근처 마을"},
    {"choice": "skip"},
    {"choice": "skip"},
    {"text": "저녁마다 이 홈페지로"},
    {"choice": "yes"},
]
PASSPHRASE = "benchmark passphrase, long enough"


def serve(data_dir: str, port: int) -> None:
    """The server side (a child process): haven's app and the bare route on one uvicorn."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from haven.cli import configure_logging
    from haven.server import create_app, serve_forever
    from haven.settings import load_settings

    page = "<!doctype html><title>bare</title>" + "<p>fixed page</p>" * 120

    async def bare(_request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    settings = load_settings()
    configure_logging(settings.log_level)  # as haven serve does (INFO unless set otherwise)
    app = create_app(settings)
    app.router.routes.insert(0, Route("/bare-page", bare))
    serve_forever(app, settings, host="127.0.0.1", port=port)
    del data_dir


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q * 100) - 1]


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, float]:
        start = time.perf_counter()
        self.writer.write(raw)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status, time.perf_counter() - start

    def close(self) -> None:
        self.writer.close()


def get(path: str, cookie: str = "") -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: ko\r\n"
    if cookie:
        head += f"Cookie: s={cookie}\r\n"
    return (head + "\r\n").encode()


def post(path: str, cookie: str, fields: dict[str, str]) -> bytes:
    body = urlencode(fields).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: s={cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run(name: str, port: int, seconds: float, users: int, make, keys) -> Result:
    """``users`` connections, each sending the next request of ``make`` as soon as it can."""
    result = Result(name)
    deadline = time.perf_counter() + seconds

    async def user() -> None:
        conn = await Connection.open(port)
        requests = make(keys)
        try:
            while time.perf_counter() < deadline:
                status, took = await conn.request(next(requests))
                if status == 200:
                    result.latencies.append(took)
                else:
                    result.errors += 1
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    result.seconds = time.perf_counter() - start
    return result


def bare_requests(_keys):
    while True:
        yield get("/bare-page")


def landing_requests(_keys):
    while True:
        yield get("/")


def bound_session(keys) -> tuple[str, str]:
    """A session bound to a conversation, as the first answer makes one: cookie, CSRF token."""
    from haven.channels.web.sessions import session_cookie

    sid = secrets.token_urlsafe(24)
    return session_cookie(keys, sid, bound=True), keys.lookup("web-csrf", sid)


def page_requests(keys):
    """Show the current question again (GET / of a session under way): one read."""
    cookie, csrf = bound_session(keys)
    yield post("/", cookie, {"csrf": csrf, "l": "ko", "choice": "ko"})
    while True:
        yield get("/", cookie)


def step_requests(keys):
    while True:
        cookie, csrf = bound_session(keys)
        for fields in STEPS:
            yield post("/", cookie, {"csrf": csrf, "l": "ko", **fields})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(environ: dict[str, str]):
    """Keys and a migrated database in a fresh data dir; returns the intake keys."""
    from haven import crypto
    from haven.services.admin import prepare_database
    from haven.settings import load_settings
    from haven.store.db import Store

    settings = load_settings(environ)
    keys = crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
    store = Store(settings.db_url)
    await prepare_database(store, settings.keys_dir)
    await store.close()
    return keys


async def measure(port: int, args: argparse.Namespace, keys) -> list[Result]:
    for _ in range(200):
        try:
            conn = await Connection.open(port)
            await conn.request(get("/bare-page"))
            conn.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    # Warm up every path (imports, templates, connection pools).
    for make in (bare_requests, landing_requests, page_requests, step_requests):
        await run("warm-up", port, 0.5, 4, make, keys)
    # Scenarios take turns, a slice each, round after round: whatever else the machine does
    # meanwhile weighs on every scenario alike, and the ratios stay comparable.
    scenarios = (
        ("bare", bare_requests),
        ("landing", landing_requests),
        ("page", page_requests),
        ("step", step_requests),
    )
    results = {name: Result(name) for name, _ in scenarios}
    for _ in range(args.rounds):
        for name, make in scenarios:
            part = await run(name, port, args.seconds / args.rounds, args.concurrency, make, keys)
            total = results[name]
            total.latencies += part.latencies
            total.errors += part.errors
            total.seconds += part.seconds
    return list(results.values())


def bench(args: argparse.Namespace, database_url: str) -> None:
    data_dir = tempfile.mkdtemp(prefix="haven-bench-")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    environ.update(
        HAVEN_DATA_DIR=data_dir,
        HAVEN_KDF_LEVEL="interactive",
        HAVEN_WEB_SESSION_LIMIT="1000000/minute",
        HAVEN_WEB_GLOBAL_LIMIT="1000000/second",
    )
    if database_url:
        environ["HAVEN_DATABASE_URL"] = database_url
    keys = asyncio.run(prepare(environ))
    port = free_port()
    log_path = Path(data_dir) / "server.log"  # its log lines, as haven serve writes them
    with log_path.open("wb") as log:
        child = subprocess.Popen(  # the server in its own process
            [sys.executable, __file__, "--serve", data_dir, str(port)],
            env=environ,
            cwd=ROOT,
            stderr=log,
        )
    try:
        results = asyncio.run(measure(port, args, keys))
        if any(r.errors for r in results):
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
    finally:
        child.terminate()
        child.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)

    base = results[0].rps
    db = "postgresql" if database_url else "sqlite"
    print(
        f"web intake benchmark: {args.concurrency} connections, {args.seconds:.0f} s each "
        f"in {args.rounds} rounds, {db}"
    )
    print(
        f"{'scenario':<10}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'ratio':>8}"
    )
    for r in results:
        print(
            f"{r.name:<10}{len(r.latencies):>10}{r.errors:>8}{r.rps:>10.0f}"
            f"{r.quantile(0.5) * 1000:>9.1f}{r.quantile(0.99) * 1000:>9.1f}{r.rps / base:>8.2f}"
        )
    for r in results[1:]:
        verdict = "meets" if r.rps / base >= 0.3 else "below"
        print(f"{r.name}: {r.rps / base:.2f} of the bare route ({verdict} the 0.3 target)")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario, in all")
    parser.add_argument("--rounds", type=int, default=5, help="slices each scenario is cut in")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default="", help="an existing database to use")
    parser.add_argument(
        "--postgresql", action="store_true", help="start a throwaway PostgreSQL (tests/pg.py)"
    )
    args = parser.parse_args()
    if args.postgresql:
        from tests.pg import running

        with running() as server:
            bench(args, server.url(server.new_database()))
    else:
        bench(args, args.database_url)


if __name__ == "__main__":
    main()
