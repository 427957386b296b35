"""Logging in: the password, the one-time setup link, TOTP (enrolled at the first login),
logging out; and every user's own pages (home, account, the locked notice)."""

from __future__ import annotations

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haven import crypto
from haven.services.accounts import (
    CONSOLE_LANGS,
    BadLogin,
    BadSetup,
    NotSealed,
    Throttled,
    WeakPassword,
)
from haven.services.identity import Principal, Role

from .deps import (
    PRE_COOKIE,
    SESSION_COOKIE,
    AnyUser,
    Redirect,
    form_of,
    principal,
    problem,
    render,
    root,
    secure_cookie,
    state,
)

router = APIRouter()

#: Where each role lands after the login.
HOMES = {
    Role.operator: "/queue",
    Role.coordinator: "/handoffs",
    Role.analyst: "/stats",
    Role.admin: "/users",
    Role.translator: "/translations",
    Role.front: "/walkins",
}


def pre_token(request: Request) -> tuple[str, bool]:
    """The CSRF token of the pages before a session (kept in a cookie), and whether it is new."""
    token = request.cookies.get(PRE_COOKIE, "")
    if len(token) >= 20:
        return token, False
    return crypto.random_token(24), True


def with_pre(response: HTMLResponse, token: str, new: bool) -> HTMLResponse:
    if new:
        secure_cookie(response, PRE_COOKIE, token)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    token, new = pre_token(request)
    return with_pre(render(request, "login.html", None, csrf=token), token, new)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await form_of(request, None)
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    token, _new = pre_token(request)
    try:
        session_token = await state(request).accounts.login(name, password)
    except (BadLogin, Throttled) as exc:
        status = 429 if isinstance(exc, Throttled) else 401
        message = str(exc) if not isinstance(exc, BadLogin) else "Wrong name, password or code."
        return render(
            request, "login.html", None, status=status, csrf=token, error=message, name=name
        )
    response = RedirectResponse(f"{root(request)}/totp", status_code=303)
    secure_cookie(response, SESSION_COOKIE, session_token)
    return response


@router.get("/setup/{token}")
async def setup_page(request: Request, token: str) -> Response:
    name = await state(request).accounts.setup_user(token)
    if name is None:
        return problem(request, None, "This setup link is unknown, used or expired.", 404)
    pre, new = pre_token(request)
    return with_pre(render(request, "setup.html", None, csrf=pre, name=name, token=token), pre, new)


@router.post("/setup/{token}")
async def setup(request: Request, token: str) -> Response:
    accounts = state(request).accounts
    form = await form_of(request, None)
    password = str(form.get("password", ""))
    pre, _new = pre_token(request)
    name = await accounts.setup_user(token)
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
        session_token = await accounts.complete_setup(token, password)
    except (WeakPassword, BadSetup, NotSealed) as exc:
        return render(
            request, "setup.html", None, 400, csrf=pre, name=name, token=token, error=str(exc)
        )
    response = RedirectResponse(f"{root(request)}/totp", status_code=303)
    secure_cookie(response, SESSION_COOKIE, session_token)
    return response


async def half_session(request: Request) -> Principal:
    """A session whose TOTP code is still due (a full one goes home, none to the login)."""
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
            secret, uri = await state(request).accounts.enrolment(token)
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


@router.get("/totp")
async def totp_page(request: Request) -> Response:
    p = await half_session(request)
    return await totp_page_for(request, p)


@router.post("/totp")
async def totp(request: Request) -> Response:
    accounts = state(request).accounts
    p = await half_session(request)
    form = await form_of(request, p)
    token = request.cookies.get(SESSION_COOKIE, "")
    try:
        full = await accounts.verify_totp(token, str(form.get("code", "")))
    except NotSealed as exc:
        return problem(request, p, str(exc), 409)
    except (BadLogin, Throttled) as exc:
        again = await accounts.session(token)
        if again is None:
            raise Redirect(f"{root(request)}/login") from None
        message = "Wrong code." if isinstance(exc, BadLogin) else str(exc)
        return await totp_page_for(request, again, message, 401)
    response = RedirectResponse(f"{root(request)}/", status_code=303)
    secure_cookie(response, SESSION_COOKIE, full)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    p = await principal(request)
    if p is not None:
        await form_of(request, p)
        await state(request).accounts.logout(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse(f"{root(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True)
    return response


@router.get("/")
async def home(request: Request, p: AnyUser) -> Response:
    return RedirectResponse(f"{root(request)}{HOMES[p.role]}", status_code=303)


@router.get("/account")
async def account_page(request: Request, p: AnyUser) -> Response:
    return render(request, "account.html", p, langs=CONSOLE_LANGS)


@router.post("/account")
async def account(request: Request, p: AnyUser) -> Response:
    form = await form_of(request, p)
    lang = str(form.get("lang", ""))
    if lang not in CONSOLE_LANGS:
        return problem(request, p, "Unknown language.", 400)
    await state(request).accounts.set_lang(p.user_id, lang)
    return RedirectResponse(f"{root(request)}/account", status_code=303)


@router.get("/locked")
async def locked_page(request: Request, p: AnyUser) -> Response:
    return render(request, "locked.html", p)
