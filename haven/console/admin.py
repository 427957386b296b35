"""Administration: console users (add, new setup link, disable) and unlocking the case key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from haven.services.accounts import AccountError
from haven.services.auditlog import record

from . import metrics
from .deps import SESSION_COOKIE, Admin, bad, form_of, problem, render, root, state
from .keyholder import UnlockThrottled

router = APIRouter()


def setup_link(request: Request, token: str) -> str:
    return f"{request.base_url}".rstrip("/") + f"{root(request)}/setup/{token}"


@router.get("/users")
async def users_page(request: Request, p: Admin) -> Response:
    users = await state(request).accounts.users()
    summary = await metrics.summary(request)
    return render(request, "users.html", p, users=users, link=None, summary=summary)


@router.post("/users")
async def users_add(request: Request, p: Admin) -> Response:
    accounts = state(request).accounts
    form = await form_of(request, p)
    try:
        token = await accounts.add_user(
            str(form.get("name", "")),
            str(form.get("role", "")),
            p.viewer.actor,
            sectors=str(form.get("sectors", "*")) or "*",
            lang=str(form.get("lang", "en")),
            languages=str(form.get("languages", "")),
            by=p,
        )
    except (AccountError, ValueError) as exc:
        return bad(request, p, exc)
    return render(
        request,
        "users.html",
        p,
        users=await accounts.users(),
        link=setup_link(request, token),
        link_for=str(form.get("name", "")),
    )


@router.post("/users/{user_id}/reset")
async def users_reset(request: Request, user_id: int, p: Admin) -> Response:
    accounts = state(request).accounts
    await form_of(request, p)
    try:
        token = await accounts.reset(user_id, p.viewer.actor, by=p)
    except AccountError as exc:
        return bad(request, p, exc)
    users = await accounts.users()
    name = next((u.name for u in users if u.id == user_id), "")
    return render(
        request, "users.html", p, users=users, link=setup_link(request, token), link_for=name
    )


@router.post("/users/{user_id}/disable")
async def users_disable(request: Request, user_id: int, p: Admin) -> Response:
    form = await form_of(request, p)
    if user_id == p.user_id:
        return problem(request, p, "You cannot disable yourself.", 400)
    try:
        await state(request).accounts.set_disabled(
            user_id, form.get("disabled") != "0", p.viewer.actor, by=p
        )
    except AccountError as exc:
        return bad(request, p, exc)
    return RedirectResponse(f"{root(request)}/users", status_code=303)


@router.get("/unlock")
async def unlock_page(request: Request, p: Admin) -> Response:
    return render(request, "unlock.html", p, info=state(request).holder.info)


@router.post("/unlock")
async def unlock(request: Request, p: Admin) -> Response:
    st = state(request)
    form = await form_of(request, p)
    try:
        ok = await st.holder.unlock(str(form.get("passphrase", "")), p.viewer.actor)
    except UnlockThrottled as exc:
        return render(request, "unlock.html", p, 429, info=None, error=str(exc))
    action = "console.unlock" if ok else "console.unlock_failed"
    await record(store=st.store, actor=p.viewer.actor, action=action)
    if not ok:
        return render(request, "unlock.html", p, 401, info=None, error="Wrong passphrase.")
    await st.accounts.seal_own(request.cookies.get(SESSION_COOKIE, ""))
    return RedirectResponse(f"{root(request)}/unlock", status_code=303)
