"""What every console router shares: the process's state, the session and role dependencies,
the CSRF-checked form, and the page and problem renderers."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData

from haven import crypto
from haven.services.accounts import Accounts
from haven.services.auditlog import record
from haven.services.calls import Calls
from haven.services.cases import Console, Sender
from haven.services.handoff import Handoffs
from haven.services.identity import Principal, Role
from haven.services.queue import Queue
from haven.services.translations import Translations
from haven.settings import Settings
from haven.store.db import Store

from .i18n import translator
from .keyholder import KeyHolder, UnlockThrottled

SESSION_COOKIE = "__Host-haven-console"
PRE_COOKIE = "__Host-haven-pre"
ALL_ROLES = frozenset(Role)


class Redirect(Exception):
    """303 to ``url`` (answered by the app's exception handler)."""

    def __init__(self, url: str) -> None:
        self.url = url


class Denied(Exception):
    """403: a session whose role the route does not admit, or a bad CSRF token."""


@dataclass
class ConsoleState:
    settings: Settings
    store: Store
    keys: crypto.IntakeKeys
    accounts: Accounts
    cases: Console
    queue: Queue
    handoffs: Handoffs
    calls: Calls
    translations: Translations
    holder: KeyHolder
    sender: Sender | None
    env: Environment
    #: The case key id an unlock from HAVEN_PASSPHRASE was last tried for.
    env_unlock_tried: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def state(request: Request) -> ConsoleState:
    """The console's state, kept on the app by :func:`haven.console.create_console_app`."""
    st: ConsoleState = request.app.state.console
    return st


def _fmt_dt(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "–"


def make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("haven.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = _fmt_dt
    return env


def root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def secure_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


async def ensure_env_unlock(st: ConsoleState) -> None:
    """Unlock from ``HAVEN_PASSPHRASE`` at the first request of the process, and again after
    a key rotation (audited)."""
    if not st.settings.passphrase or st.holder.unlocked:
        return
    key_id = st.keys.key_id
    if st.env_unlock_tried == key_id:
        return
    st.env_unlock_tried = key_id
    try:
        ok = await st.holder.unlock(st.settings.passphrase, "env")
    except UnlockThrottled:
        st.env_unlock_tried = None  # wrong guesses from a session hold the gate: try later
        return
    if ok:
        await record(store=st.store, actor="env", action="console.unlock", detail={"by": "env"})


async def principal(request: Request) -> Principal | None:
    st = state(request)
    await ensure_env_unlock(st)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    return await st.accounts.session(token)


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting full sessions of ``roles`` (every role if none given):
    no session -> 303 to the login page; another role -> 403."""
    allowed = frozenset(roles) if roles else ALL_ROLES

    async def dependency(request: Request) -> Principal:
        p = await principal(request)
        if p is None or p.stage != "full":
            raise Redirect(f"{root(request)}/login")
        if p.role not in allowed:
            raise Denied()
        request.state.principal = p
        return p

    return dependency


AnyUser = Annotated[Principal, Depends(require())]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Coordinator = Annotated[Principal, Depends(require(Role.coordinator))]
Analyst = Annotated[Principal, Depends(require(Role.analyst))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
Translator = Annotated[Principal, Depends(require(Role.translator))]


def need_key(request: Request, p: Principal) -> crypto.CaseKeyring:
    """The session's unlocked keyring; locked, a redirect to the page that says so."""
    keyring = p.keyring
    if keyring is None:
        raise Redirect(f"{root(request)}/locked")
    return keyring


async def form_of(request: Request, p: Principal | None) -> FormData:
    """The POSTed form, after its CSRF token was checked (403 otherwise)."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    expected = p.csrf if p is not None else request.cookies.get(PRE_COOKIE, "")
    if not _same(sent, expected):
        raise Denied()
    return form


def pick_lang(request: Request) -> str:
    """The console language before a login: Ukrainian if the browser asks for it."""
    accept = request.headers.get("accept-language", "")
    return "uk" if accept.lower().startswith("uk") else "en"


def render(
    request: Request,
    template: str,
    p: Principal | None,
    status: int = 200,
    **ctx: Any,
) -> HTMLResponse:
    st = state(request)
    lang = p.lang if p is not None else pick_lang(request)
    _ = translator(lang)

    def channel_label(channel: str) -> str:
        label = st.settings.channel_label(channel)
        return _(label) if label == channel else label

    html = st.env.get_template(template).render(
        _=_,
        channel_label=channel_label,
        p=p,
        lang=lang,
        root=root(request),
        locked=not st.holder.unlocked,
        csrf=ctx.pop("csrf", p.csrf if p is not None else ""),
        roles=Role,
        **ctx,
    )
    return HTMLResponse(html, status_code=status)


def problem(request: Request, p: Principal | None, message: str, status: int) -> HTMLResponse:
    return render(request, "problem.html", p, status=status, message=message)


def bad(request: Request, p: Principal | None, exc: Exception) -> HTMLResponse:
    """400 with the message of a refused input (service errors' messages are safe to show)."""
    return problem(request, p, str(exc), 400)


def query_string(q: Mapping[str, str], **changes: str) -> str:
    """``q`` as a query string, with ``changes`` applied (an empty value drops the key)."""
    merged = {k: v for k, v in q.items() if v and k != "empty"}
    for k, v in changes.items():
        if v:
            merged[k] = v
        else:
            merged.pop(k, None)
    return "?" + urlencode(merged)
