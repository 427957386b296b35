"""The operators' console (issue 4): mounted at ``/console`` by ``haven serve``, or served
alone by ``haven console`` for deployments that keep it off the internet-facing host."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from haven import crypto
from haven.settings import Settings
from haven.store.db import Store

from .app import create_console_app

__all__ = ["create_console_app", "standalone_app"]


def standalone_app(settings: Settings) -> Starlette:
    """Only the console (``haven console``): ``/`` redirects to ``/console/``."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)
    console = create_console_app(settings, store, keys)

    async def index(_request: Request) -> Response:
        return RedirectResponse("/console/", status_code=303)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    app = Starlette(routes=[Route("/", index), Mount("/console", app=console)], lifespan=lifespan)
    app.state.store = store
    return app
