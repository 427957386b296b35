"""Hand-offs, for coordinators: the cases ready for one, issuing it (meeting point, window,
signal), its card, its outcome, and the prisoner-of-war record."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from haven.content import LANGUAGE_NAMES
from haven.services.cases import BadText, CaseNotFound
from haven.services.handoff import NO_SHOW_REASONS

from .deps import Coordinator, bad, form_of, need_key, render, root, state

router = APIRouter()


@router.get("/handoffs")
async def handoffs_page(request: Request, p: Coordinator) -> Response:
    handoffs = state(request).handoffs
    return render(
        request,
        "handoffs.html",
        p,
        ready=await handoffs.ready(p.viewer),
        cards=await handoffs.list(p.viewer, p.keyring),
    )


@router.get("/handoffs/new/{reference}")
async def handoff_form(request: Request, reference: str, p: Coordinator) -> Response:
    ready = {r.reference: r for r in await state(request).handoffs.ready(p.viewer)}
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


@router.post("/handoffs/new/{reference}")
async def handoff_issue(request: Request, reference: str, p: Coordinator) -> Response:
    st = state(request)
    form = await form_of(request, p)
    try:
        start = parse_dt(str(form.get("window_start", "")))
        end = parse_dt(str(form.get("window_end", "")))
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


@router.get("/handoffs/{handoff_id}")
async def handoff_card(request: Request, handoff_id: int, p: Coordinator) -> Response:
    card = await state(request).handoffs.card(p.viewer, handoff_id, need_key(request, p))
    return render(
        request,
        "card.html",
        p,
        card=card,
        reasons=NO_SHOW_REASONS,
        unsent=request.query_params.get("unsent") == "1",
        lang_name=LANGUAGE_NAMES.get(card.lang, card.lang),
    )


@router.post("/handoffs/{handoff_id}/outcome")
async def handoff_outcome(request: Request, handoff_id: int, p: Coordinator) -> Response:
    handoffs = state(request).handoffs
    form = await form_of(request, p)
    outcome = str(form.get("outcome", ""))
    try:
        if outcome == "arrived":
            if form.get("confirmed") != "1":
                raise BadText("arrival needs the code phrase confirmed at the front")
            await handoffs.outcome(p.viewer, handoff_id, p.keyring, arrived=True)
        else:
            await handoffs.outcome(
                p.viewer,
                handoff_id,
                p.keyring,
                arrived=False,
                reason=str(form.get("reason", "")),
            )
    except BadText as exc:
        return bad(request, p, exc)
    return RedirectResponse(f"{root(request)}/handoffs/{handoff_id}", status_code=303)


@router.get("/handoffs/{handoff_id}/pow")
async def handoff_pow(request: Request, handoff_id: int, p: Coordinator) -> Response:
    try:
        record = await state(request).handoffs.pow_record(
            p.viewer, handoff_id, need_key(request, p)
        )
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


def parse_dt(text: str) -> datetime:
    """A form's date and time (BadText when malformed)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadText("a date and time, like 2026-05-01T05:30") from None
