"""Translations: the operator's request from a case, and the translator's own pages, which
show a task's text and nothing of its case."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from haven.content import LANGUAGE_NAMES
from haven.services.cases import BadText

from .deps import Operator, Translator, bad, form_of, need_key, render, root, state

router = APIRouter()


@router.post("/cases/{reference}/translate")
async def case_translate(request: Request, reference: str, p: Operator) -> Response:
    form = await form_of(request, p)
    message = str(form.get("message", ""))
    step = str(form.get("step", "")) or None
    try:
        if message and not (message.isdecimal() and len(message) < 19):
            raise BadText("unknown message")
        await state(request).translations.request(
            reference,
            p.viewer,
            p.lang,
            keyring=need_key(request, p),
            message_id=int(message) if message else None,
            step=step,
        )
    except BadText as exc:
        return bad(request, p, exc)
    anchor = f"#m{message}" if message else ""
    return RedirectResponse(f"{root(request)}/cases/{reference}{anchor}", status_code=303)


@router.get("/translations")
async def tasks_page(request: Request, p: Translator) -> Response:
    tasks = await state(request).translations.tasks(p.viewer)
    return render(request, "translations.html", p, tasks=tasks, names=LANGUAGE_NAMES)


@router.get("/translations/{task_id}")
async def task_page(request: Request, task_id: str, p: Translator) -> Response:
    task = await state(request).translations.open(task_id, p.viewer, need_key(request, p))
    return render(request, "translation.html", p, task=task, names=LANGUAGE_NAMES)


@router.post("/translations/{task_id}")
async def task_answer(request: Request, task_id: str, p: Translator) -> Response:
    form = await form_of(request, p)
    try:
        await state(request).translations.answer(
            task_id, p.viewer, str(form.get("text", "")), keyring=need_key(request, p)
        )
    except BadText as exc:
        return bad(request, p, exc)
    return RedirectResponse(f"{root(request)}/translations", status_code=303)
