"""The composition root: the one ASGI app ``haven serve`` runs.

It mounts the entry points side by side (status page now; web intake, console and the
Telegram bot as they arrive), so that no entry point imports another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from haven import __version__, crypto
from haven.settings import Settings
from haven.store.db import Store

STATUS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>haven</title></head>
<body><h1>haven</h1><p>The hotline is running (version {version}).</p>
<p>Case key fingerprint: <code>{fingerprint}</code></p></body></html>
"""

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def create_app(settings: Settings) -> Starlette:
    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)
    fingerprint = crypto.fingerprint(keys.public_key)

    async def status(_request: Request) -> HTMLResponse:
        page = STATUS_PAGE.format(version=__version__, fingerprint=fingerprint)
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def health(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", headers=SECURITY_HEADERS)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    app = Starlette(routes=[Route("/", status), Route("/healthz", health)], lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.keys = keys
    return app
