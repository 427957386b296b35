"""The operators' queue: filtered and sorted case lists, and taking the next case."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from haven.domain import risk
from haven.domain.cases import CaseState
from haven.services.queue import Assigned, Filters, Sort
from haven.store.models import utcnow

from .deps import Operator, form_of, query_string, render, root, state
from .i18n import translator

router = APIRouter()


@router.get("/queue")
async def queue_page(request: Request, p: Operator) -> Response:
    st = state(request)
    q = {k: v for k, v in request.query_params.items()}
    f = filters_of(q)
    page = await st.queue.list(p.viewer, f)
    facets = await st.queue.facets()
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
        waited=lambda row: waited(row.submitted_at or row.updated_at, now, translator(p.lang)),
        query=lambda **kw: query_string(q, **kw),
    )


@router.post("/queue/next")
async def take_next(request: Request, p: Operator) -> Response:
    await form_of(request, p)
    reference = await state(request).queue.take_next(p.viewer)
    if reference is None:
        return RedirectResponse(f"{root(request)}/queue?empty=1", status_code=303)
    return RedirectResponse(f"{root(request)}/cases/{reference}", status_code=303)


def waited(value: datetime | None, now: datetime, _: Callable[[str], str]) -> str:
    """How long a case has waited, in minutes, hours or days."""
    if value is None:
        return "–"
    minutes = max(0, int((now - value).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} {_('min')}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} {_('h')} {minutes % 60:02d} {_('min')}"
    return f"{hours // 24} {_('d')} {hours % 24} {_('h')}"


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

    chosen = opt("state")
    states = (chosen,) if chosen in {s.value for s in CaseState} else None
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
