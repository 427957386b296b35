"""The operators' console: FastAPI with server-rendered Jinja2 templates, mounted at /console.

Security (DESIGN.md): sessions in a ``__Host-`` cookie (HttpOnly, Secure, SameSite=Strict)
with an idle timeout; a CSRF token in every form; a CSP without inline script and
``frame-ancestors 'none'``; no referrer. Every route names the roles it admits
(:func:`haven.console.deps.require`); the services scope every query by the viewer as well.

This module builds the app: the state every router shares, the error pages, the security
headers, and one router per area (auth, queue, cases, calls, hand-offs, statistics and
campaigns, admin, audit).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from haven import crypto
from haven.httpheaders import CONSOLE_HEADERS as HEADERS
from haven.httpheaders import ConsoleHeaders as SecurityHeaders
from haven.services.accounts import Accounts
from haven.services.calls import Calls
from haven.services.cases import CaseNotFound, Console, Forbidden, Sender
from haven.services.handoff import Handoffs
from haven.services.machine import from_settings as machine_translator
from haven.services.queue import Queue
from haven.services.seals import Seals
from haven.services.translations import Translations
from haven.services.verify import deployment_check
from haven.settings import Settings
from haven.store.db import Store
from haven.store.models import Contact

from . import (
    admin,
    audit,
    auth,
    calls,
    cases,
    handoffs,
    metrics,
    queue,
    stats,
    translations,
    walkins,
)
from .deps import (
    PRE_COOKIE,
    SESSION_COOKIE,
    ConsoleState,
    Denied,
    Redirect,
    ensure_env_unlock,
    make_env,
    problem,
    require,
)
from .keyholder import KeyHolder
from .queue import filters_of

__all__ = [
    "HEADERS",
    "PRE_COOKIE",
    "SESSION_COOKIE",
    "ConsoleState",
    "SecurityHeaders",
    "create_console_app",
    "filters_of",
    "outbox_sender",
    "require",
]

log = logging.getLogger("haven.console")


def outbox_sender(keys: crypto.IntakeKeys) -> Sender:
    """Operator replies to bot applicants: queued in the outbox in the caller's transaction;
    ``keep`` seals the text to the case key once the channel accepted it."""
    from haven.outbox.payload import Payload
    from haven.outbox.queue import enqueue

    async def send(session: Any, contact: Contact, text: str, case_id: int) -> bool:
        row = enqueue(
            session, keys, contact, Payload(text), case_id=case_id, kind="operator", keep=True
        )
        return row is not None

    return send


#: The routers, in the order their routes are matched.
ROUTERS = (auth, queue, cases, calls, handoffs, walkins, stats, admin, audit, translations, metrics)


def create_console_app(
    settings: Settings,
    store: Store,
    keys: crypto.IntakeKeys,
    *,
    sender: Sender | None = None,
    accounts: Accounts | None = None,
) -> FastAPI:
    """The console as an ASGI app, to be mounted at ``/console``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    cases = Console(store, keys)
    machine = machine_translator(
        settings.translate_url,
        settings.translate_api_key,
        settings.translate_timeout_seconds,
        settings.translate_max_chars,
    )
    accounts = accounts or Accounts(
        store,
        keys,
        idle_minutes=settings.session_idle_minutes,
        seals=Seals(settings.seals_path),
    )
    state = ConsoleState(
        settings=settings,
        store=store,
        keys=keys,
        accounts=accounts,
        cases=cases,
        queue=Queue(store, settings.queue_weight_wounded, settings.queue_weight_group),
        handoffs=Handoffs(store, keys, check=deployment_check(settings, keys)),
        calls=Calls(store, keys),
        translations=Translations(store, cases, machine),
        holder=KeyHolder(settings.keys_dir),
        sender=sender if sender is not None else outbox_sender(keys),
        env=make_env(),
    )
    app.state.console = state

    async def keyring() -> crypto.CaseKeyring | None:
        await ensure_env_unlock(state)
        return state.holder.keyring

    accounts.use_keyring(keyring)
    app.mount("/static", StaticFiles(packages=[("haven.console", "static")]), name="static")
    app.add_middleware(SecurityHeaders)
    _error_pages(app)
    for area in ROUTERS:
        app.include_router(area.router)
    return app


def _error_pages(app: FastAPI) -> None:
    """Redirects, refusals and unknown pages as the console's own pages."""

    @app.exception_handler(Redirect)
    async def _redirect(_request: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(Denied)
    async def _denied(request: Request, _exc: Denied) -> Response:
        p = getattr(request.state, "principal", None)
        return problem(request, p, "You may not do this.", 403)

    @app.exception_handler(CaseNotFound)
    async def _not_found(request: Request, _exc: CaseNotFound) -> Response:
        p = getattr(request.state, "principal", None)
        return problem(request, p, "Not found, or not yours to see.", 404)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _exc: Forbidden) -> Response:
        p = getattr(request.state, "principal", None)
        return problem(request, p, "You may not do this.", 403)

    @app.exception_handler(404)
    async def _404(request: Request, _exc: Exception) -> Response:
        return problem(request, getattr(request.state, "principal", None), "Not found.", 404)
