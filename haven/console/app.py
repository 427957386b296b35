"""The operators' console: FastAPI with server-rendered Jinja2 templates, mounted at /console.

Security (DESIGN.md): sessions in a ``__Host-`` cookie (HttpOnly, Secure, SameSite=Strict)
with an idle timeout; a CSRF token in every form; a CSP without inline script and
``frame-ancestors 'none'``; no referrer. Every route names the roles it admits
(:func:`require`); the services scope every query by the viewer as well.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import segno
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import and_, func, select, true
from starlette.datastructures import FormData
from starlette.staticfiles import StaticFiles

from haven import crypto
from haven.campaigns import report
from haven.campaigns.links import links as campaign_links
from haven.content import LANGS, LANGUAGE_NAMES
from haven.domain import risk
from haven.domain.cases import CaseState, IllegalTransition
from haven.httpheaders import ConsoleHeaders as SecurityHeaders
from haven.services.accounts import (
    CONSOLE_LANGS,
    AccountError,
    Accounts,
    BadLogin,
    BadSetup,
    Locked,
    NotSealed,
    Principal,
    Role,
    Throttled,
    WeakPassword,
)
from haven.services.campaigns import (
    CampaignError,
    CampaignKind,
    Campaigns,
    CampaignSpec,
    by_campaign,
)
from haven.services.cases import (
    OPERATOR_CLOSE_REASONS,
    BadText,
    Calls,
    CaseNotFound,
    Console,
    Forbidden,
    NoRoute,
    Sender,
    answer_lines,
    canned_for,
    operator_targets,
)
from haven.services.handoff import NO_SHOW_REASONS, Handoffs
from haven.services.queue import Assigned, Filters, Queue, Sort
from haven.services.seals import Seals
from haven.settings import Settings
from haven.store import audit as audit_log
from haven.store.db import Store
from haven.store.models import AuditEvent, Case, Contact

from .i18n import translator
from .keyholder import KeyHolder, UnlockThrottled

log = logging.getLogger("haven.console")

SESSION_COOKIE = "__Host-haven-console"
PRE_COOKIE = "__Host-haven-pre"
ALL_ROLES = frozenset(Role)
AUDIT_PAGE = 100
#: Aggregates below this are shown as "<5" on the analyst's page (no person stands out).
SMALL_COUNT = 5


class Redirect(Exception):
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
    holder: KeyHolder
    sender: Sender | None
    env: Environment
    #: The case key id an unlock from HAVEN_PASSPHRASE was last tried for.
    env_unlock_tried: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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


def _fmt_dt(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "–"


def _waited(value: datetime | None, now: datetime, _: Callable[[str], str]) -> str:
    if value is None:
        return "–"
    minutes = max(0, int((now - value).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} {_('min')}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} {_('h')} {minutes % 60:02d} {_('min')}"
    return f"{hours // 24} {_('d')} {hours % 24} {_('h')}"


def make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("haven.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = _fmt_dt
    return env


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
        cases=Console(store, keys),
        queue=Queue(store, settings.queue_weight_wounded, settings.queue_weight_group),
        handoffs=Handoffs(store, keys, bot_username=settings.telegram_bot_username),
        calls=Calls(store, keys),
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
    _routes(app, state)
    return app


# --- helpers --------------------------------------------------------------------------------


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
        async with st.store.transaction() as session:
            await audit_log.append(session, "env", "console.unlock", None, {"by": "env"})


async def principal(request: Request) -> Principal | None:
    st: ConsoleState = request.app.state.console
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


def _routes(app: FastAPI, st: ConsoleState) -> None:
    async def form_of(request: Request, p: Principal | None) -> FormData:
        """The POSTed form, after its CSRF token was checked (403 otherwise)."""
        form = await request.form()
        sent = str(form.get("csrf", ""))
        expected = p.csrf if p is not None else request.cookies.get(PRE_COOKIE, "")
        if not _same(sent, expected):
            raise Denied()
        return form

    def render(
        request: Request,
        template: str,
        p: Principal | None,
        status: int = 200,
        **ctx: Any,
    ) -> HTMLResponse:
        lang = p.lang if p is not None else _pick_lang(request)
        _ = translator(lang)
        html = st.env.get_template(template).render(
            _=_,
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

    def bad(request: Request, p: Principal | None, exc: Exception) -> HTMLResponse:
        return problem(request, p, str(exc), 400)

    # --- login, setup, TOTP, logout -------------------------------------------------------

    def pre_token(request: Request) -> tuple[str, bool]:
        token = request.cookies.get(PRE_COOKIE, "")
        if len(token) >= 20:
            return token, False
        return crypto.random_token(24), True

    def with_pre(response: HTMLResponse, token: str, new: bool) -> HTMLResponse:
        if new:
            secure_cookie(response, PRE_COOKIE, token)
        return response

    @app.get("/login")
    async def login_page(request: Request) -> Response:
        token, new = pre_token(request)
        return with_pre(render(request, "login.html", None, csrf=token), token, new)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request, None)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        token, _new = pre_token(request)
        try:
            session_token = await st.accounts.login(name, password)
        except (BadLogin, Throttled, Locked) as exc:
            status = 429 if isinstance(exc, Throttled) else 401
            message = str(exc) if not isinstance(exc, BadLogin) else "Wrong name, password or code."
            return render(
                request, "login.html", None, status=status, csrf=token, error=message, name=name
            )
        response = RedirectResponse(f"{root(request)}/totp", status_code=303)
        secure_cookie(response, SESSION_COOKIE, session_token)
        return response

    @app.get("/setup/{token}")
    async def setup_page(request: Request, token: str) -> Response:
        name = await st.accounts.setup_user(token)
        if name is None:
            return problem(request, None, "This setup link is unknown, used or expired.", 404)
        pre, new = pre_token(request)
        return with_pre(
            render(request, "setup.html", None, csrf=pre, name=name, token=token), pre, new
        )

    @app.post("/setup/{token}")
    async def setup(request: Request, token: str) -> Response:
        form = await form_of(request, None)
        password = str(form.get("password", ""))
        pre, _new = pre_token(request)
        name = await st.accounts.setup_user(token)
        if name is None:
            return problem(request, None, "This setup link is unknown, used or expired.", 404)
        if password != str(form.get("password2", "")):
            return render(
                request,
                "setup.html",
                None,
                400,
                csrf=pre,
                name=name,
                token=token,
                error="The two passwords differ.",
            )
        try:
            session_token = await st.accounts.complete_setup(token, password)
        except (WeakPassword, BadSetup, NotSealed) as exc:
            return render(
                request, "setup.html", None, 400, csrf=pre, name=name, token=token, error=str(exc)
            )
        response = RedirectResponse(f"{root(request)}/totp", status_code=303)
        secure_cookie(response, SESSION_COOKIE, session_token)
        return response

    async def half_session(request: Request) -> Principal:
        p = await principal(request)
        if p is None:
            raise Redirect(f"{root(request)}/login")
        if p.stage == "full":
            raise Redirect(f"{root(request)}/")
        return p

    async def totp_page_for(
        request: Request, p: Principal, error: str = "", status: int = 200
    ) -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        qr = secret = ""
        if not p.totp_enrolled:
            try:
                secret, uri = await st.accounts.enrolment(token)
            except NotSealed as exc:
                return problem(request, p, str(exc), 409)
            qr = segno.make(uri, error="M").svg_inline(scale=5, dark="#111", light="#fff")
        return render(
            request,
            "totp.html",
            p,
            status,
            enrol=not p.totp_enrolled,
            qr=qr,
            secret=secret,
            error=error,
        )

    @app.get("/totp")
    async def totp_page(request: Request) -> Response:
        p = await half_session(request)
        return await totp_page_for(request, p)

    @app.post("/totp")
    async def totp(request: Request) -> Response:
        p = await half_session(request)
        form = await form_of(request, p)
        token = request.cookies.get(SESSION_COOKIE, "")
        try:
            full = await st.accounts.verify_totp(token, str(form.get("code", "")))
        except NotSealed as exc:
            return problem(request, p, str(exc), 409)
        except (BadLogin, Throttled, Locked) as exc:
            again = await st.accounts.session(token)
            if again is None:
                raise Redirect(f"{root(request)}/login") from None
            message = "Wrong code." if isinstance(exc, BadLogin) else str(exc)
            return await totp_page_for(request, again, message, 401)
        response = RedirectResponse(f"{root(request)}/", status_code=303)
        secure_cookie(response, SESSION_COOKIE, full)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        p = await principal(request)
        if p is not None:
            await form_of(request, p)
            await st.accounts.logout(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse(f"{root(request)}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True)
        return response

    # --- home and account -------------------------------------------------------------------

    homes = {
        Role.operator: "/queue",
        Role.coordinator: "/handoffs",
        Role.analyst: "/stats",
        Role.admin: "/users",
    }

    @app.get("/")
    async def home(request: Request, p: AnyUser) -> Response:
        return RedirectResponse(f"{root(request)}{homes[p.role]}", status_code=303)

    @app.get("/account")
    async def account_page(request: Request, p: AnyUser) -> Response:
        return render(request, "account.html", p, langs=CONSOLE_LANGS)

    @app.post("/account")
    async def account(request: Request, p: AnyUser) -> Response:
        form = await form_of(request, p)
        lang = str(form.get("lang", ""))
        if lang not in CONSOLE_LANGS:
            return problem(request, p, "Unknown language.", 400)
        await st.accounts.set_lang(p.user_id, lang)
        return RedirectResponse(f"{root(request)}/account", status_code=303)

    # --- queue --------------------------------------------------------------------------------

    @app.get("/queue")
    async def queue_page(request: Request, p: Operator) -> Response:
        q = {k: v for k, v in request.query_params.items()}
        f = filters_of(q)
        page = await st.queue.list(p.viewer, f)
        facets = await st.queue.facets()
        from haven.store.models import utcnow

        now = utcnow()
        return render(
            request,
            "queue.html",
            p,
            page=page,
            f=f,
            q=q,
            facets=facets,
            states=[s.value for s in CaseState],
            flags=[flag.value for flag in risk.RiskFlag],
            sorts=[s.value for s in Sort],
            waited=lambda row: _waited(row.submitted_at or row.updated_at, now, translator(p.lang)),
            query=lambda **kw: _query(q, **kw),
        )

    @app.post("/queue/next")
    async def take_next(request: Request, p: Operator) -> Response:
        await form_of(request, p)
        reference = await st.queue.take_next(p.viewer)
        if reference is None:
            return RedirectResponse(f"{root(request)}/queue?empty=1", status_code=303)
        return RedirectResponse(f"{root(request)}/cases/{reference}", status_code=303)

    # --- a case -------------------------------------------------------------------------------

    @app.get("/cases/{reference}")
    async def case_page(request: Request, reference: str, p: Operator) -> Response:
        meta = await st.cases.meta(reference, p.viewer)
        view = None
        keyring = p.keyring
        if keyring is not None:
            view = await st.cases.view(reference, keyring, p.viewer)
        operators = await st.accounts.operators()
        names = dict(operators)
        return render(
            request,
            "case.html",
            p,
            meta=meta,
            view=view,
            answers=answer_lines(view.answers, p.lang) if view else [],
            names=names,
            operators=[o for o in operators if o[0] != p.user_id],
            targets=[t.value for t in operator_targets(meta.state)],
            reasons=[r.value for r in OPERATOR_CLOSE_REASONS],
            canned=canned_for(p.lang),
            can_reply=meta.channel in ("telegram", "web")
            and meta.state not in ("closed", "draft", "arrived"),
            lang_name=LANGUAGE_NAMES.get(meta.lang, meta.lang),
            cyrillic=_cyrillic(view.code_phrase, meta.lang) if view and view.code_phrase else "",
            latest=meta.latest_message,
        )

    @app.get("/cases/{reference}/latest")
    async def case_latest(reference: str, p: Operator) -> Response:
        return JSONResponse({"latest": await st.cases.latest(reference, p.viewer)})

    @app.get("/cases/{reference}/messages")
    async def case_messages(
        request: Request,
        reference: str,
        p: Operator,
        after: int = 0,
    ) -> Response:
        keyring = p.keyring
        if keyring is None:
            return HTMLResponse("", status_code=409)
        messages = await st.cases.messages_since(reference, keyring, p.viewer, after)
        names = dict(await st.accounts.operators())
        html = st.env.get_template("_messages.html").render(
            _=translator(p.lang), messages=messages, names=names
        )
        latest = messages[-1].id if messages else after
        return HTMLResponse(html, headers={"X-Latest": str(latest)})

    async def case_action(
        request: Request,
        p: Principal,
        reference: str,
        action: Callable[[FormData], Awaitable[object]],
    ) -> Response:
        form = await form_of(request, p)
        try:
            await action(form)
        except (BadText, NoRoute, IllegalTransition, ValueError) as exc:
            return bad(request, p, exc)
        return RedirectResponse(f"{root(request)}/cases/{reference}", status_code=303)

    @app.post("/cases/{reference}/reply")
    async def case_reply(request: Request, reference: str, p: Operator) -> Response:
        async def act(form: FormData) -> object:
            canned = str(form.get("canned", "")) or None
            return await st.cases.reply(
                reference,
                p.viewer,
                st.sender,
                text=str(form.get("text", "")),
                canned=canned,
                keyring=need_key(request, p),
            )

        return await case_action(request, p, reference, act)

    @app.post("/cases/{reference}/note")
    async def case_note(request: Request, reference: str, p: Operator) -> Response:
        async def act(form: FormData) -> object:
            return await st.cases.note(
                reference, p.viewer, str(form.get("text", "")), keyring=need_key(request, p)
            )

        return await case_action(request, p, reference, act)

    @app.post("/cases/{reference}/transition")
    async def case_transition(request: Request, reference: str, p: Operator) -> Response:
        async def act(form: FormData) -> object:
            target = str(form.get("target", ""))
            reason = str(form.get("reason", "")) or None
            if target == CaseState.closed.value and not reason:
                raise BadText("closing a case needs a reason")
            return await st.cases.transition(
                reference, p.viewer, target, reason if target == "closed" else None
            )

        return await case_action(request, p, reference, act)

    @app.post("/cases/{reference}/assign")
    async def case_assign(request: Request, reference: str, p: Operator) -> Response:
        form = await form_of(request, p)
        to = str(form.get("to", ""))
        target: int | None
        if to == "me":
            target = p.user_id
        elif to == "queue":
            target = None
        elif to.isdecimal() and len(to) < 12:
            target = int(to)
        else:
            return problem(request, p, "Choose whom to assign the case to.", 400)
        await st.queue.assign(reference, p.viewer, target)
        where = f"/cases/{reference}" if target == p.user_id else "/queue"
        return RedirectResponse(f"{root(request)}{where}", status_code=303)

    @app.post("/cases/{reference}/stage2")
    async def case_stage2(request: Request, reference: str, p: Operator) -> Response:
        async def act(form: FormData) -> object:
            size = str(form.get("group_size", "")).strip()
            if size and not (size.isdecimal() and len(size) < 4):
                raise BadText("the group size is a number")
            return await st.cases.stage_two(
                reference,
                p.viewer,
                str(form.get("location", "")),
                int(size) if size else None,
                keyring=need_key(request, p),
            )

        return await case_action(request, p, reference, act)

    @app.post("/cases/{reference}/flag")
    async def case_flag(request: Request, reference: str, p: Operator) -> Response:
        async def act(form: FormData) -> object:
            return await st.cases.flag(reference, p.viewer, form.get("suspicious") == "1")

        return await case_action(request, p, reference, act)

    # --- call mode ----------------------------------------------------------------------------

    def call_render(request: Request, p: Principal, step: Any = None, **ctx: Any) -> Response:
        return render(
            request,
            "call.html",
            p,
            step=step,
            langs=[(code, LANGUAGE_NAMES[code]) for code in LANGS],
            **ctx,
        )

    @app.get("/call")
    async def call_page(request: Request, p: Operator) -> Response:
        return call_render(request, p)

    @app.post("/call/start")
    async def call_start(request: Request, p: Operator) -> Response:
        form = await form_of(request, p)
        try:
            step = await st.calls.start(
                p.viewer, str(form.get("lang", "")), p.lang, keyring=need_key(request, p)
            )
        except BadText as exc:
            return bad(request, p, exc)
        return call_render(request, p, step)

    @app.post("/call/answer")
    async def call_answer(request: Request, p: Operator) -> Response:
        form = await form_of(request, p)
        token = str(form.get("call", ""))[:64]
        choice = str(form.get("choice", "")) or None
        step = await st.calls.answer(
            p.viewer,
            token,
            p.lang,
            choice=choice,
            text=str(form.get("text", "")),
            skip=form.get("skip") == "1",
            keyring=need_key(request, p),
        )
        return call_render(request, p, step)

    # --- hand-offs (coordinators) -----------------------------------------------------------

    @app.get("/handoffs")
    async def handoffs_page(request: Request, p: Coordinator) -> Response:
        return render(
            request,
            "handoffs.html",
            p,
            ready=await st.handoffs.ready(p.viewer),
            cards=await st.handoffs.list(p.viewer, p.keyring),
        )

    @app.get("/handoffs/new/{reference}")
    async def handoff_form(request: Request, reference: str, p: Coordinator) -> Response:
        ready = {r.reference: r for r in await st.handoffs.ready(p.viewer)}
        row = ready.get(reference.upper())
        if row is None:
            raise CaseNotFound(reference[:16])
        return render(
            request,
            "handoff_form.html",
            p,
            row=row,
            sectors=sorted(p.sectors) if p.sectors is not None else None,
            lang_name=LANGUAGE_NAMES.get(row.lang, row.lang),
        )

    @app.post("/handoffs/new/{reference}")
    async def handoff_issue(request: Request, reference: str, p: Coordinator) -> Response:
        form = await form_of(request, p)
        try:
            start = _parse_dt(str(form.get("window_start", "")))
            end = _parse_dt(str(form.get("window_end", "")))
            issued = await st.handoffs.issue(
                p.viewer,
                reference,
                sector=str(form.get("sector", "")),
                meeting_point=str(form.get("meeting_point", "")),
                window_start=start,
                window_end=end,
                signal=str(form.get("signal", "")),
                meeting_point_applicant=str(form.get("meeting_point_applicant", "")),
                signal_applicant=str(form.get("signal_applicant", "")),
                sender=st.sender,
                keyring=need_key(request, p),
            )
        except (BadText, ValueError) as exc:
            return bad(request, p, exc)
        suffix = "" if issued.sent else "?unsent=1"
        return RedirectResponse(f"{root(request)}/handoffs/{issued.id}{suffix}", status_code=303)

    def need_key(request: Request, p: Principal) -> crypto.CaseKeyring:
        keyring = p.keyring
        if keyring is None:
            raise Redirect(f"{root(request)}/locked")
        return keyring

    @app.get("/locked")
    async def locked_page(request: Request, p: AnyUser) -> Response:
        return render(request, "locked.html", p)

    @app.get("/handoffs/{handoff_id}")
    async def handoff_card(request: Request, handoff_id: int, p: Coordinator) -> Response:
        card = await st.handoffs.card(p.viewer, handoff_id, need_key(request, p))
        return render(
            request,
            "card.html",
            p,
            card=card,
            reasons=NO_SHOW_REASONS,
            unsent=request.query_params.get("unsent") == "1",
            lang_name=LANGUAGE_NAMES.get(card.lang, card.lang),
        )

    @app.post("/handoffs/{handoff_id}/outcome")
    async def handoff_outcome(request: Request, handoff_id: int, p: Coordinator) -> Response:
        form = await form_of(request, p)
        outcome = str(form.get("outcome", ""))
        try:
            if outcome == "arrived":
                if form.get("confirmed") != "1":
                    raise BadText("arrival needs the code phrase confirmed at the front")
                await st.handoffs.outcome(p.viewer, handoff_id, p.keyring, arrived=True)
            else:
                await st.handoffs.outcome(
                    p.viewer,
                    handoff_id,
                    p.keyring,
                    arrived=False,
                    reason=str(form.get("reason", "")),
                )
        except BadText as exc:
            return bad(request, p, exc)
        return RedirectResponse(f"{root(request)}/handoffs/{handoff_id}", status_code=303)

    @app.get("/handoffs/{handoff_id}/pow")
    async def handoff_pow(request: Request, handoff_id: int, p: Coordinator) -> Response:
        try:
            record = await st.handoffs.pow_record(p.viewer, handoff_id, need_key(request, p))
        except BadText as exc:
            return bad(request, p, exc)
        body = json.dumps(record, ensure_ascii=False, indent=2)
        return Response(
            body,
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="capture-card-{handoff_id:06d}.json"'
            },
        )

    # --- analyst ------------------------------------------------------------------------------

    @app.get("/stats")
    async def stats(request: Request, p: Analyst) -> Response:
        async with st.store.transaction() as session:
            by_state = (
                await session.execute(
                    select(Case.state, Case.lang, func.count(Case.id)).group_by(
                        Case.state, Case.lang
                    )
                )
            ).all()
            by_channel = (
                await session.execute(
                    select(Case.channel, func.count(Case.id)).group_by(Case.channel)
                )
            ).all()
        langs = sorted({lang for _, lang, _ in by_state})
        table = {(s, lang_): n for s, lang_, n in by_state}
        funnel = await Campaigns(st.store).funnel()
        totals = by_campaign(funnel)
        charts = [  # funnel_svg escapes every text it draws
            (code, Markup(report.funnel_svg(code, totals[code])))  # noqa: S704
            for code in sorted(totals)
        ]
        return render(
            request,
            "stats.html",
            p,
            states=[s.value for s in CaseState],
            langs=langs,
            table=table,
            channels=sorted((str(c), int(n)) for c, n in by_channel),
            charts=charts,
            funnel=report.table(funnel),
            shown=_shown,
        )

    @app.get("/stats.csv")
    async def stats_csv(request: Request, p: Analyst) -> Response:
        body = report.to_csv(await Campaigns(st.store).funnel())
        async with st.store.transaction() as session:
            await audit_log.append(
                session, p.viewer.actor, "report.exported", None, {"format": "csv"}
            )
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="haven-funnel.csv"'},
        )

    # --- admin --------------------------------------------------------------------------------

    @app.get("/campaigns")
    async def campaigns_page(request: Request, p: Admin) -> Response:
        return await render_campaigns(request, p)

    async def render_campaigns(request: Request, p: Principal, added: str = "") -> Response:
        records = await Campaigns(st.store).list()
        return render(
            request,
            "campaigns.html",
            p,
            campaigns=[(r, campaign_links(st.settings, r.code).all) for r in records],
            kinds=[k.value for k in CampaignKind],
            langs=LANGS,
            language_names=LANGUAGE_NAMES,
            added=added,
        )

    @app.post("/campaigns")
    async def campaigns_add(request: Request, p: Admin) -> Response:
        form = await form_of(request, p)
        try:
            spec = CampaignSpec(
                code=str(form.get("code", "")),
                name=str(form.get("name", "")),
                kind=CampaignKind(str(form.get("kind", "leaflet"))),
                langs=tuple(str(v) for v in form.getlist("langs")),
                sector=str(form.get("sector", "")),
                starts_on=_day(form.get("starts")),
                ends_on=_day(form.get("ends")),
            )
            record = await Campaigns(st.store).add(spec, p.viewer.actor)
        except (CampaignError, ValueError) as exc:
            return bad(request, p, exc)
        return await render_campaigns(request, p, added=record.code)

    @app.get("/users")
    async def users_page(request: Request, p: Admin) -> Response:
        return render(request, "users.html", p, users=await st.accounts.users(), link=None)

    def setup_link(request: Request, token: str) -> str:
        return f"{request.base_url}".rstrip("/") + f"{root(request)}/setup/{token}"

    @app.post("/users")
    async def users_add(request: Request, p: Admin) -> Response:
        form = await form_of(request, p)
        try:
            token = await st.accounts.add_user(
                str(form.get("name", "")),
                str(form.get("role", "")),
                p.viewer.actor,
                sectors=str(form.get("sectors", "*")) or "*",
                lang=str(form.get("lang", "en")),
                by=p,
            )
        except (AccountError, ValueError) as exc:
            return bad(request, p, exc)
        return render(
            request,
            "users.html",
            p,
            users=await st.accounts.users(),
            link=setup_link(request, token),
            link_for=str(form.get("name", "")),
        )

    @app.post("/users/{user_id}/reset")
    async def users_reset(request: Request, user_id: int, p: Admin) -> Response:
        await form_of(request, p)
        try:
            token = await st.accounts.reset(user_id, p.viewer.actor, by=p)
        except AccountError as exc:
            return bad(request, p, exc)
        users = await st.accounts.users()
        name = next((u.name for u in users if u.id == user_id), "")
        return render(
            request, "users.html", p, users=users, link=setup_link(request, token), link_for=name
        )

    @app.post("/users/{user_id}/disable")
    async def users_disable(request: Request, user_id: int, p: Admin) -> Response:
        form = await form_of(request, p)
        if user_id == p.user_id:
            return problem(request, p, "You cannot disable yourself.", 400)
        try:
            await st.accounts.set_disabled(
                user_id, form.get("disabled") != "0", p.viewer.actor, by=p
            )
        except AccountError as exc:
            return bad(request, p, exc)
        return RedirectResponse(f"{root(request)}/users", status_code=303)

    @app.get("/unlock")
    async def unlock_page(request: Request, p: Admin) -> Response:
        return render(request, "unlock.html", p, info=st.holder.info)

    @app.post("/unlock")
    async def unlock(request: Request, p: Admin) -> Response:
        form = await form_of(request, p)
        try:
            ok = await st.holder.unlock(str(form.get("passphrase", "")), p.viewer.actor)
        except UnlockThrottled as exc:
            return render(request, "unlock.html", p, 429, info=None, error=str(exc))
        async with st.store.transaction() as session:
            await audit_log.append(
                session, p.viewer.actor, "console.unlock" if ok else "console.unlock_failed"
            )
        if ok:
            await st.accounts.seal_own(request.cookies.get(SESSION_COOKIE, ""))
        if not ok:
            return render(request, "unlock.html", p, 401, info=None, error="Wrong passphrase.")
        return RedirectResponse(f"{root(request)}/unlock", status_code=303)

    @app.get("/audit")
    async def audit_page(request: Request, p: Admin) -> Response:
        q = request.query_params
        clauses = []
        actor = q.get("actor", "").strip()[:64]
        action = q.get("action", "").strip()[:64]
        case_ref = q.get("case", "").strip()[:16]
        since = q.get("since", "").strip()
        until = q.get("until", "").strip()
        before = q.get("before", "").strip()
        if actor:
            clauses.append(AuditEvent.actor == actor)
        if action:
            clauses.append(AuditEvent.action.startswith(action))
        try:
            if since:
                clauses.append(AuditEvent.at >= datetime.fromisoformat(since))
            if until:
                clauses.append(AuditEvent.at < datetime.fromisoformat(until) + timedelta(days=1))
        except ValueError:
            return problem(request, p, "Dates are written YYYY-MM-DD.", 400)
        if before.isdecimal() and len(before) < 19:
            clauses.append(AuditEvent.id < int(before))
        async with st.store.transaction() as session:
            if case_ref:
                case_id = await session.scalar(
                    select(Case.id).where(Case.reference == case_ref.upper())
                )
                clauses.append(AuditEvent.case_id == (case_id or -1))
            rows = (
                await session.scalars(
                    select(AuditEvent)
                    .where(and_(true(), *clauses))
                    .order_by(AuditEvent.id.desc())
                    .limit(AUDIT_PAGE)
                )
            ).all()
            refs = dict(
                (
                    await session.execute(
                        select(Case.id, Case.reference).where(
                            Case.id.in_({r.case_id for r in rows if r.case_id is not None})
                        )
                    )
                ).all()
            )
            actions = list(
                await session.scalars(select(AuditEvent.action).distinct().order_by("action"))
            )
        older = rows[-1].id if len(rows) == AUDIT_PAGE else None
        return render(
            request,
            "audit.html",
            p,
            rows=rows,
            refs=refs,
            actions=actions,
            q=dict(q),
            older=_query(dict(q), before=str(older)) if older else None,
        )


def filters_of(q: Mapping[str, str]) -> Filters:
    """The queue's filters from query parameters: anything unknown or malformed is ignored."""

    def opt(name: str) -> str | None:
        value = q.get(name, "").strip()
        return value[:64] or None

    def num(name: str, lo: int, hi: int) -> int | None:
        value = q.get(name, "").strip()
        if value.isdecimal() and len(value) < 7:
            return max(lo, min(hi, int(value)))
        return None

    state = opt("state")
    states = (state,) if state in {s.value for s in CaseState} else None
    wounded = {"yes": True, "no": False}.get(q.get("wounded", ""))
    try:
        sort = Sort(q.get("sort", "urgency"))
    except ValueError:
        sort = Sort.urgency
    try:
        assigned = Assigned(q.get("assigned", "mine_or_free"))
    except ValueError:
        assigned = Assigned.mine_or_free
    base = Filters()
    return Filters(
        states=states or base.states,
        lang=opt("lang"),
        channel=opt("channel"),
        campaign=opt("campaign"),
        flag=opt("flag"),
        wounded=wounded,
        min_group=num("min_group", 1, 100),
        waiting_hours=num("waiting_hours", 0, 100000),
        assigned=assigned,
        sort=sort,
        page=num("page", 1, 100000) or 1,
    )


def _pick_lang(request: Request) -> str:
    accept = request.headers.get("accept-language", "")
    return "uk" if accept.lower().startswith("uk") else "en"


def _query(q: Mapping[str, str], **changes: str) -> str:
    from urllib.parse import urlencode

    merged = {k: v for k, v in q.items() if v and k != "empty"}
    for k, v in changes.items():
        if v:
            merged[k] = v
        else:
            merged.pop(k, None)
    return "?" + urlencode(merged)


def _parse_dt(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadText("a date and time, like 2026-05-01T05:30") from None


def _day(value: object) -> date | None:
    """A YYYY-MM-DD form field, or None when empty (ValueError when malformed)."""
    text = str(value or "").strip()
    return date.fromisoformat(text) if text else None


def _shown(n: int | None) -> str:
    if not n:
        return "0"
    return f"<{SMALL_COUNT}" if n < SMALL_COUNT else str(n)


def _cyrillic(phrase: str, lang: str) -> str:
    from haven.domain.codephrase import cyrillic

    return cyrillic(phrase, lang, "uk")
