"""One case, for its operator: the case page, its messages as they come, and what an operator
does with it (reply, note, move, assign, stage two, flag)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from haven.content import LANGUAGE_NAMES
from haven.content.readings import code_phrase_reading
from haven.crypto import CaseKeyring
from haven.domain.cases import CaseState, Channel, IllegalTransition, medium
from haven.services.cases import (
    OPERATOR_CLOSE_REASONS,
    BadText,
    CaseNotFound,
    NoRoute,
    canned_for,
    operator_targets,
)
from haven.services.caseview import CaseView, answer_rows, attachment_refs
from haven.services.identity import Principal
from haven.services.media import NotMedia, PhotoInfo, clean_photo, is_audio, photo_info, sniff
from haven.services.translations import TranslationView

from .deps import ConsoleState, Operator, bad, form_of, need_key, problem, render, root, state
from .i18n import translator

router = APIRouter()

#: An attachment's response: never cached, never a document that could run anything.
MEDIA_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; sandbox",
    "content-disposition": "inline",
}


@router.get("/cases/{reference}")
async def case_page(request: Request, reference: str, p: Operator) -> Response:
    st = state(request)
    meta = await st.cases.meta(reference, p.viewer)
    view = None
    translations: dict[str, TranslationView] = {}
    media: dict[str, PhotoInfo | bool] = {}
    keyring = p.keyring
    if keyring is not None:
        view = await st.cases.view(reference, keyring, p.viewer)
        translations = await st.translations.of_case(reference, p.viewer, keyring)
        media = await media_of(st, reference, view, keyring, p)
    operators = await st.accounts.operators()
    names = dict(operators)
    return render(
        request,
        "case.html",
        p,
        meta=meta,
        view=view,
        answers=answer_rows(view.answers, p.lang) if view else [],
        translations=translations,
        media=media,
        translatable=meta.lang != p.lang,
        names=names,
        operators=[o for o in operators if o[0] != p.user_id],
        targets=[t.value for t in operator_targets(meta.state)],
        reasons=[r.value for r in OPERATOR_CLOSE_REASONS],
        canned=canned_for(p.lang),
        can_reply=medium(meta.channel) in (Channel.telegram.value, Channel.web.value)
        and meta.state not in ("closed", "draft", "arrived"),
        lang_name=LANGUAGE_NAMES.get(meta.lang, meta.lang),
        cyrillic=code_phrase_reading(meta.lang, view.code_phrase)
        if view and view.code_phrase
        else "",
        latest=meta.latest_message,
        voice_seconds=st.settings.voice_note_max_seconds,
        voice_bytes=st.settings.voice_note_max_bytes,
    )


async def media_of(
    st: ConsoleState, reference: str, view: CaseView, keyring: CaseKeyring, p: Principal
) -> dict[str, PhotoInfo | bool]:
    """Each attachment of the view: a photo's metadata, ``True`` for a sound, ``False`` for
    bytes that are neither (never served)."""
    found = await st.cases.attachments(reference, attachment_refs(view), keyring, p.viewer)
    out: dict[str, PhotoInfo | bool] = {}
    for ref, data in found.items():
        if is_audio(data):
            out[ref] = True
            continue
        try:
            out[ref] = photo_info(data)
        except NotMedia:
            out[ref] = False
    return out


@router.get("/cases/{reference}/attachments/{attachment_id}")
async def case_attachment(
    request: Request, reference: str, attachment_id: str, p: Operator
) -> Response:
    """A photo or a sound of the case, decrypted: served only as what its bytes are (a
    photo saved again without its metadata), never as a page; audited."""
    st = state(request)
    found = await st.cases.attachments(reference, [attachment_id], need_key(request, p), p.viewer)
    data = found.get(attachment_id)
    if data is None:
        raise CaseNotFound(attachment_id[:32])
    try:
        if is_audio(data):
            body, mime = data, sniff(data) or "application/octet-stream"
        else:
            body, mime = clean_photo(data)
    except NotMedia:
        return problem(request, p, "This attachment is not a photo or a sound.", 415)
    return Response(body, media_type=mime, headers=MEDIA_HEADERS)


@router.get("/cases/{reference}/latest")
async def case_latest(request: Request, reference: str, p: Operator) -> Response:
    return JSONResponse({"latest": await state(request).cases.latest(reference, p.viewer)})


@router.get("/cases/{reference}/messages")
async def case_messages(
    request: Request,
    reference: str,
    p: Operator,
    after: int = 0,
) -> Response:
    st = state(request)
    keyring = p.keyring
    if keyring is None:
        return HTMLResponse("", status_code=409)
    messages = await st.cases.messages_since(reference, keyring, p.viewer, after)
    names = dict(await st.accounts.operators())
    html = st.env.get_template("_messages.html").render(
        _=translator(p.lang),
        messages=messages,
        names=names,
        root=root(request),
        csrf=p.csrf,
        reference=reference,
        translations={},
        media={},
        translatable=True,
    )
    latest = messages[-1].id if messages else after
    return HTMLResponse(html, headers={"X-Latest": str(latest)})


async def case_action(
    request: Request,
    p: Principal,
    reference: str,
    action: Callable[[FormData], Awaitable[None]],
) -> Response:
    """Run ``action`` on the checked form; back to the case, or 400 with why not."""
    form = await form_of(request, p)
    try:
        await action(form)
    except (BadText, NoRoute, IllegalTransition, ValueError) as exc:
        return bad(request, p, exc)
    return RedirectResponse(f"{root(request)}/cases/{reference}", status_code=303)


@router.post("/cases/{reference}/reply")
async def case_reply(request: Request, reference: str, p: Operator) -> Response:
    st = state(request)

    async def act(form: FormData) -> None:
        canned = str(form.get("canned", "")) or None
        await st.cases.reply(
            reference,
            p.viewer,
            st.sender,
            text=str(form.get("text", "")),
            canned=canned,
            keyring=need_key(request, p),
        )

    return await case_action(request, p, reference, act)


@router.post("/cases/{reference}/note")
async def case_note(request: Request, reference: str, p: Operator) -> Response:
    async def act(form: FormData) -> None:
        await state(request).cases.note(
            reference, p.viewer, str(form.get("text", "")), keyring=need_key(request, p)
        )

    return await case_action(request, p, reference, act)


@router.post("/cases/{reference}/transition")
async def case_transition(request: Request, reference: str, p: Operator) -> Response:
    async def act(form: FormData) -> None:
        target = str(form.get("target", ""))
        reason = str(form.get("reason", "")) or None
        if target == CaseState.closed.value and not reason:
            raise BadText("closing a case needs a reason")
        await state(request).cases.transition(
            reference, p.viewer, target, reason if target == "closed" else None
        )

    return await case_action(request, p, reference, act)


@router.post("/cases/{reference}/assign")
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
    await state(request).queue.assign(reference, p.viewer, target)
    where = f"/cases/{reference}" if target == p.user_id else "/queue"
    return RedirectResponse(f"{root(request)}{where}", status_code=303)


@router.post("/cases/{reference}/stage2")
async def case_stage2(request: Request, reference: str, p: Operator) -> Response:
    async def act(form: FormData) -> None:
        size = str(form.get("group_size", "")).strip()
        if size and not (size.isdecimal() and len(size) < 4):
            raise BadText("the group size is a number")
        await state(request).cases.stage_two(
            reference,
            p.viewer,
            str(form.get("location", "")),
            int(size) if size else None,
            keyring=need_key(request, p),
        )

    return await case_action(request, p, reference, act)


@router.post("/cases/{reference}/flag")
async def case_flag(request: Request, reference: str, p: Operator) -> Response:
    async def act(form: FormData) -> None:
        await state(request).cases.flag(reference, p.viewer, form.get("suspicious") == "1")

    return await case_action(request, p, reference, act)
