"""Reading the audit log page by page, and recording an event that stands alone (an unlock,
an export) in a transaction of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select, true
from sqlalchemy.sql.elements import ColumnElement

from haven.store import audit
from haven.store.db import Store
from haven.store.models import AuditEvent, Case

#: Events on one page of the audit log.
AUDIT_PAGE = 100


@dataclass(frozen=True)
class AuditQuery:
    """Which events to show; empty fields do not filter."""

    actor: str = ""
    #: A prefix of the action (``user.`` matches every user event).
    action: str = ""
    #: A case reference (any case: it names no applicant).
    case_ref: str = ""
    #: Events from the start of this day on.
    since: datetime | None = None
    #: Events up to the end of this day.
    until: datetime | None = None
    #: Events older than this id (the next page).
    before: int | None = None


@dataclass(frozen=True)
class AuditPage:
    #: Newest first.
    events: list[AuditEvent]
    #: Case id -> reference, for the events' cases.
    refs: dict[int, str]
    #: Every action the log holds, for the filter.
    actions: list[str]
    #: The id to pass as ``before`` for the next page, or ``None`` on the last one.
    older: int | None


async def audit_events(*, store: Store, query: AuditQuery, limit: int = AUDIT_PAGE) -> AuditPage:
    """One page of audit events matching ``query``, newest first, in one transaction."""
    clauses: list[ColumnElement[bool]] = []
    if query.actor:
        clauses.append(AuditEvent.actor == query.actor)
    if query.action:
        clauses.append(AuditEvent.action.startswith(query.action))
    if query.since is not None:
        clauses.append(AuditEvent.at >= query.since)
    if query.until is not None:
        clauses.append(AuditEvent.at < query.until + timedelta(days=1))
    if query.before is not None:
        clauses.append(AuditEvent.id < query.before)
    async with store.transaction() as session:
        if query.case_ref:
            case_id = await session.scalar(
                select(Case.id).where(Case.reference == query.case_ref.upper())
            )
            clauses.append(AuditEvent.case_id == (case_id or -1))
        rows = list(
            await session.scalars(
                select(AuditEvent)
                .where(and_(true(), *clauses))
                .order_by(AuditEvent.id.desc())
                .limit(limit)
            )
        )
        case_ids = {r.case_id for r in rows if r.case_id is not None}
        found = await session.execute(select(Case.id, Case.reference).where(Case.id.in_(case_ids)))
        refs = {int(case_id): str(reference) for case_id, reference in found}
        actions = list(
            await session.scalars(select(AuditEvent.action).distinct().order_by("action"))
        )
    older = rows[-1].id if len(rows) == limit else None
    return AuditPage(events=rows, refs=refs, actions=actions, older=older)


async def record(
    *, store: Store, actor: str, action: str, detail: Mapping[str, object] | None = None
) -> None:
    """Append one audit event, about no case, in a transaction of its own."""
    async with store.transaction() as session:
        await audit.append(session, actor, action, None, detail)
