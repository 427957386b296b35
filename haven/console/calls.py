"""Call mode: an operator takes an applicant through the questionnaire over the phone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from haven.content import LANGS, LANGUAGE_NAMES
from haven.services.cases import BadText
from haven.services.identity import Principal
from haven.services.media import is_audio

from .deps import Operator, bad, form_of, need_key, render, root, state

router = APIRouter()


def call_render(request: Request, p: Principal, step: Any = None, **ctx: Any) -> Response:
    settings = state(request).settings
    return render(
        request,
        "call.html",
        p,
        step=step,
        langs=[(code, LANGUAGE_NAMES[code]) for code in LANGS],
        voice_seconds=settings.voice_note_max_seconds,
        voice_bytes=settings.voice_note_max_bytes,
        **ctx,
    )


@router.get("/call")
async def call_page(request: Request, p: Operator) -> Response:
    return call_render(request, p)


@router.post("/call/start")
async def call_start(request: Request, p: Operator) -> Response:
    form = await form_of(request, p)
    try:
        step = await state(request).calls.start(
            p.viewer, str(form.get("lang", "")), p.lang, keyring=need_key(request, p)
        )
    except BadText as exc:
        return bad(request, p, exc)
    return call_render(request, p, step)


@router.post("/call/answer")
async def call_answer(request: Request, p: Operator) -> Response:
    form = await form_of(request, p)
    token = str(form.get("call", ""))[:64]
    choice = str(form.get("choice", "")) or None
    step = await state(request).calls.answer(
        p.viewer,
        token,
        p.lang,
        choice=choice,
        text=str(form.get("text", "")),
        skip=form.get("skip") == "1",
        keyring=need_key(request, p),
    )
    return call_render(request, p, step)


@router.post("/cases/{reference}/voice-note")
async def case_voice_note(request: Request, reference: str, p: Operator) -> Response:
    """An operator's recording of what a caller said: a sound of at most the set size and
    length, sealed to the case like any attachment."""
    st = state(request)
    form = await form_of(request, p)
    audio = form.get("audio")
    seconds = str(form.get("seconds", ""))
    if not isinstance(audio, UploadFile):
        return bad(request, p, BadText("no recording"))
    data = await audio.read(st.settings.voice_note_max_bytes + 1)
    if len(data) > st.settings.voice_note_max_bytes:
        return bad(request, p, BadText("the recording is too long"))
    if not (seconds.isdecimal() and len(seconds) < 6):
        return bad(request, p, BadText("the recording's length is missing"))
    if int(seconds) > st.settings.voice_note_max_seconds:
        return bad(request, p, BadText("the recording is too long"))
    if not is_audio(data):
        return bad(request, p, BadText("the recording is not a sound"))
    await st.cases.voice_note(reference, p.viewer, data, int(seconds), keyring=need_key(request, p))
    return RedirectResponse(f"{root(request)}/cases/{reference}", status_code=303)
