"""The composition root: the one ASGI app ``haven serve`` runs.

It mounts the entry points side by side (status page now; web intake, console and the
Telegram bot as they arrive), so that no entry point imports another.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from haven import crypto
from haven.channels.web import create_web_app
from haven.settings import Settings
from haven.store.db import Store

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def run(
    app: ASGIApp, settings: Settings, *, host: str | None = None, port: int | None = None
) -> None:
    """Serve ``app`` with uvicorn as ``haven serve`` does (the benchmarks too): no access log,
    so no client address or user agent is written. Proxy headers stay on: ``X-Forwarded-Proto``
    from a local reverse proxy tells haven a page came over HTTPS (the README)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
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


def create_app(settings: Settings) -> Starlette:
    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)

    async def health(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", headers=SECURITY_HEADERS)

    # The Telegram bot (issue 3): long polling, or a webhook route when a webhook URL is set.
    telegram = None
    if settings.telegram_token:
        from haven.channels.telegram import TelegramRuntime

        telegram = TelegramRuntime(settings, store, keys)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if telegram is not None:
            await telegram.start()
        settle_heap()
        try:
            yield
        finally:
            if telegram is not None:
                await telegram.stop()
            await store.close()

    routes: list[Route | Mount] = [Route("/healthz", health)]
    if telegram is not None:
        routes += telegram.routes()
    # The operators' console (issue 4) under /console.
    from haven.console import create_console_app

    routes.append(Mount("/console", app=create_console_app(settings, store, keys)))
    # The web intake (issue 6) last: it serves "/" and answers every path the others do not.
    routes.append(Mount("", app=create_web_app(settings, store, keys)))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.keys = keys
    return app


async def run_outbox_worker(settings: Settings) -> None:
    """An outbox worker alone (``haven outbox work``): more senders beside ``haven serve``."""
    from haven.channels.telegram import TelegramSender, make_bot
    from haven.outbox import Worker

    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)
    bot = make_bot(settings.telegram_token, settings.telegram_api)
    worker = Worker(
        store,
        keys,
        {"telegram": TelegramSender(bot)},
        rate=settings.outbox_rate,
        per_chat_rate=settings.outbox_per_chat_rate,
        lease=settings.outbox_lease_seconds,
    )
    try:
        await worker.run()
    finally:
        await bot.session.close()
        await store.close()
