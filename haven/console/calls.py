"""Call mode: an operator takes an applicant through the questionnaire over the phone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from haven.content import LANGS, LANGUAGE_NAMES
from haven.services.cases import BadText
from haven.services.identity import Principal

from .deps import Operator, bad, form_of, need_key, render, state

router = APIRouter()


def call_render(request: Request, p: Principal, step: Any = None, **ctx: Any) -> Response:
    return render(
        request,
        "call.html",
        p,
        step=step,
        langs=[(code, LANGUAGE_NAMES[code]) for code in LANGS],
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
