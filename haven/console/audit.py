"""The audit log, for admins: filtered by actor, action, case and days, newest first."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from haven.services.auditlog import AuditQuery, audit_events

from .deps import Admin, problem, query_string, render, state

router = APIRouter()


@router.get("/audit")
async def audit_page(request: Request, p: Admin) -> Response:
    q = request.query_params
    since = q.get("since", "").strip()
    until = q.get("until", "").strip()
    before = q.get("before", "").strip()
    try:
        query = AuditQuery(
            actor=q.get("actor", "").strip()[:64],
            action=q.get("action", "").strip()[:64],
            case_ref=q.get("case", "").strip()[:16],
            since=datetime.fromisoformat(since) if since else None,
            until=datetime.fromisoformat(until) if until else None,
            before=int(before) if before.isdecimal() and len(before) < 19 else None,
        )
    except ValueError:
        return problem(request, p, "Dates are written YYYY-MM-DD.", 400)
    page = await audit_events(store=state(request).store, query=query)
    return render(
        request,
        "audit.html",
        p,
        rows=page.events,
        refs=page.refs,
        actions=page.actions,
        q=dict(q),
        older=query_string(dict(q), before=str(page.older)) if page.older else None,
    )
