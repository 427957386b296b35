"""The servers: the ASGI apps of haven's two processes (built by :mod:`haven.bootstrap`),
serving them, and the pair of them.

* The **intake** (``haven serve``) faces the internet: the web intake, the Telegram bot and
  the outbox worker. It holds the case *public* key and the routing key only.
* The **console** (``haven console``) serves the operators on loopback or a host of its own;
  it is the only process that unlocks the case private key.
* ``haven run`` starts both as two fresh programs, the intake without the passphrase in its
  environment, and stops both together.

No entry point imports another: they meet in :mod:`haven.bootstrap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from haven import bootstrap, crypto
from haven.hardening import refuse_inspection
from haven.httpheaders import APPLICANT_HEADERS
from haven.httplimits import BodyLimit, TimedH11Protocol
from haven.services.erasure import purge_drafts
from haven.services.metrics import Flusher
from haven.settings import Settings
from haven.store.db import Store

log = logging.getLogger("haven.server")


def serve_forever(
    app: ASGIApp, settings: Settings, *, host: str | None = None, port: int | None = None
) -> None:
    """Serve ``app`` with uvicorn as ``haven serve`` and ``haven console`` do (the benchmarks
    too): no access log, so no client address or user agent is written. Proxy headers stay on:
    ``X-Forwarded-Proto`` from a local reverse proxy tells haven a page came over HTTPS."""
    import uvicorn

    protocol = type(
        "Protocol", (TimedH11Protocol,), {"header_seconds": settings.http_header_seconds}
    )
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        http=protocol,
        limit_concurrency=settings.http_max_connections,
        timeout_keep_alive=int(max(1, settings.http_keepalive_seconds)),
        log_config=None,  # haven's own (haven.logs): no values in exception lines
        log_level=max(logging.INFO, logging.getLevelName(settings.log_level.upper()) or 0),
        access_log=False,
        server_header=False,
    )


def settle_heap() -> None:
    """Take what start-up made (modules, catalogs, templates, mappers: some 270,000 objects)
    out of the garbage collector's sight, so that a full collection walks only what requests
    make. Without it every full collection under load paused the process for 180-300 ms
    (bench/telegram_intake.py), which was most of the intake's p99 latency."""
    gc.collect()
    gc.freeze()


#: A bot's statuses from the best to the worst.
STATUSES = ("ok", "starting", "degraded", "refused")


def worst(statuses: Iterable[str]) -> str:
    """The worst of several bots' statuses (``ok`` only when every bot is)."""
    return max(statuses, key=lambda s: STATUSES.index(s) if s in STATUSES else len(STATUSES))


def create_app(settings: Settings) -> Starlette:
    """The intake process's app: health check, Telegram (when configured), the web intake,
    as :func:`haven.bootstrap.intake_process` builds them.

    Nothing of the console is here: the public port answers 404 for every console path.
    """
    process = bootstrap.intake_process(settings)
    store, bots = process.store, process.bots

    async def health(_request: Request) -> JSONResponse:
        """Each part's status, no identifiers: 503 while the database does not answer (the
        balancer sends elsewhere), 200 with ``degraded`` while a channel is out of reach."""
        channels = {"web": "ok"}
        if bots:  # one status for every bot: which bots there are is nobody's business here
            channels["telegram"] = worst(bot.status for bot in bots)
        database = "ok" if await store.ping() else "unavailable"
        ok = database == "ok" and all(status == "ok" for status in channels.values())
        body = {"status": "ok" if ok else "degraded", "database": database, "channels": channels}
        code = 200 if database == "ok" else 503
        return JSONResponse(body, status_code=code, headers=APPLICANT_HEADERS)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        flusher = Flusher(store)  # the counters the console's metrics read
        flusher.start()
        # Side by side: a bot out of reach waits for its timeout without holding the others.
        await asyncio.gather(*(bot.start() for bot in bots))
        purging = asyncio.create_task(purge_drafts_forever(store, settings.draft_hours))
        settle_heap()
        try:
            yield
        finally:
            purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purging
            for bot in bots:  # the primary first: the worker stops before any bot's session
                try:
                    await bot.stop()
                except Exception as exc:  # the others, the counters and the store still close
                    log.error("telegram event=stop_failed error=%s", type(exc).__name__)
            await flusher.stop()
            await store.close()

    routes: list[Route | Mount] = [Route("/healthz", health)]
    for bot in bots:
        # Each Telegram bot: long polling, or a webhook route when a webhook URL is set.
        routes += bot.routes()
    # The web intake last: it serves "/" and answers every path the others do not.
    routes.append(Mount("", app=process.web))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.keys = process.keys
    app.add_middleware(
        BodyLimit,
        max_bytes=intake_max_body(settings),
        body_seconds=settings.http_body_seconds,
    )
    return app


def intake_max_body(settings: Settings) -> int:
    """The largest body the intake reads: a photo and its form (the web intake answers a
    larger one itself, in the applicant's language, by its Content-Length)."""
    return settings.web_photo_max_bytes + 512 * 1024


#: Seconds between two purges of abandoned questionnaires by the intake.
PURGE_EVERY = 600.0


async def purge_drafts_forever(store: Store, hours: int) -> None:
    """Erase abandoned questionnaires now and then, for as long as the intake runs."""
    while True:
        try:
            purged = await purge_drafts(store, hours)
            if purged:
                log.info("retention event=drafts_purged count=%d", purged)
        except Exception as exc:  # a busy database: the next round will do
            log.warning("retention event=drafts_purge_failed type=%s", type(exc).__name__)
        await asyncio.sleep(PURGE_EVERY)


def create_console(settings: Settings) -> Starlette:
    """The console process's app: the console under ``/console`` (and ``/console`` without
    the slash), ``/`` redirecting there."""
    process = bootstrap.console_process(settings)
    store = process.store

    async def index(_request: Request) -> Response:
        return RedirectResponse("/console/", status_code=303)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        flusher = Flusher(store)
        flusher.start()
        try:
            yield
        finally:
            await flusher.stop()
            await store.close()

    routes: list[Route | Mount] = [
        Route("/", index),
        Route("/console", index),
        Mount("/console", app=process.console),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store = store
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.console_max_body_bytes,
        body_seconds=settings.http_body_seconds,
    )
    return app


#: What the intake process must never see in its environment.
INTAKE_FORBIDDEN_ENV = ("HAVEN_PASSPHRASE",)


def intake_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the intake process: the parent's, without the passphrase."""
    return {k: v for k, v in environ.items() if k not in INTAKE_FORBIDDEN_ENV}


def run_both(settings: Settings) -> int:
    """Start the intake and the console as two fresh programs (``python -m haven serve`` and
    ``python -m haven console``: exec'd, so neither inherits this process's memory) and stop
    both together: on Ctrl-C or SIGTERM, or as soon as one of them ends. Returns the exit
    status for the caller."""
    refuse_inspection()
    command = [sys.executable, "-m", "haven"]
    # Each child in a process group of its own: a Ctrl-C reaches this process only, which
    # passes one SIGTERM on (a second signal would make uvicorn skip its graceful shutdown).
    children = [
        subprocess.Popen(  # noqa: S603
            [*command, "serve"], env=intake_environment(os.environ), process_group=0
        ),
        subprocess.Popen([*command, "console"], env=dict(os.environ), process_group=0),  # noqa: S603
    ]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [child.returncode for child in children]
    return 0 if stopping else next((c for c in codes if c), 1)


async def run_outbox_worker(settings: Settings) -> None:
    """An outbox worker alone (``haven outbox work``): more senders beside ``haven serve``,
    for every bot."""
    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)
    senders = bootstrap.telegram_senders(settings)
    worker = bootstrap.outbox_worker(settings, store, keys, senders)
    flusher = Flusher(store)
    flusher.start()
    try:
        await worker.run()
    finally:
        await flusher.stop()
        for sender in senders.values():
            await sender.bot.session.close()
        await store.close()
