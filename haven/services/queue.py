"""The operators' queue: listing with filters and sorting, "take next", assignment.

Urgency (DESIGN.md: wounded and groups first, then waiting time) is one number per case,
computed in SQL: ``wounded * W_wounded + group * W_group + minutes waited``. The weights are
settings (``HAVEN_QUEUE_WEIGHT_WOUNDED``, ``HAVEN_QUEUE_WEIGHT_GROUP``), in minutes of waiting:
with the defaults a wounded applicant goes ahead of anyone who has waited less than about
16 hours longer. Only triage metadata is read here; no content, nothing is decrypted.
"""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, func, select
from sqlalchemy import Float as SaFloat
from sqlalchemy.ext.asyncio import AsyncSession

from haven.domain import risk
from haven.domain.cases import CaseState
from haven.services.accounts import Role, Viewer
from haven.services.cases import CaseNotFound, Forbidden, case_scope
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Case, User, utcnow

#: The states a queue shows by default: submitted and being worked on.
QUEUE_STATES: tuple[str, ...] = (
    CaseState.submitted.value,
    CaseState.in_contact.value,
    CaseState.verified.value,
    CaseState.scheduled.value,
)
PAGE_SIZE = 50
FACETS_SECONDS = 60.0


class Sort(StrEnum):
    urgency = "urgency"
    waiting = "waiting"
    newest = "newest"
    group = "group"
    activity = "activity"


class Assigned(StrEnum):
    mine_or_free = "mine_or_free"
    mine = "mine"
    free = "free"


@dataclass(frozen=True)
class Filters:
    states: tuple[str, ...] = QUEUE_STATES
    lang: str | None = None
    channel: str | None = None
    campaign: str | None = None
    flag: str | None = None
    wounded: bool | None = None
    min_group: int | None = None
    waiting_hours: int | None = None
    assigned: Assigned = Assigned.mine_or_free
    sort: Sort = Sort.urgency
    page: int = 1


@dataclass(frozen=True)
class QueueRow:
    id: int
    reference: str
    state: str
    lang: str
    channel: str
    campaign: str | None
    group_size: int | None
    wounded: bool | None
    flags: frozenset[risk.RiskFlag]
    submitted_at: datetime | None
    updated_at: datetime
    assigned_to: int | None
    assigned_name: str | None
    urgency: float


@dataclass(frozen=True)
class Page:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    facets: dict[str, list[str]] = field(default_factory=dict)


def _minutes(dialect: str, column: ColumnElement[datetime]) -> ColumnElement[Any]:
    """Minutes since the epoch of a naive-UTC timestamp column, on either database."""
    if dialect == "postgresql":
        return func.extract("epoch", column) / 60.0
    return (func.julianday(column) - 2440587.5) * 1440.0


class Queue:
    def __init__(
        self,
        store: Store,
        weight_wounded: float = 1000.0,
        weight_group: float = 500.0,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.store = store
        self.weight_wounded = weight_wounded
        self.weight_group = weight_group
        self.page_size = page_size
        self._facets: tuple[float, dict[str, list[str]]] | None = None

    def urgency(self, now: datetime) -> ColumnElement[float]:
        """The urgency of a case, as a SQL expression (higher first)."""
        dialect = self.store.dialect
        waited = _minutes(dialect, func.coalesce(Case.submitted_at, Case.created_at))
        now_minutes = (now - datetime(1970, 1, 1)).total_seconds() / 60.0
        wounded = case((Case.wounded.is_(True), self.weight_wounded), else_=0.0)
        group = case((Case.group_size > 1, self.weight_group), else_=0.0)
        return cast(wounded + group + (now_minutes - waited), SaFloat)

    def _where(self, viewer: Viewer, f: Filters) -> list[ColumnElement[bool]]:
        if viewer.role is not Role.operator:
            raise Forbidden("only operators see the queue")
        clauses: list[ColumnElement[bool]] = [case_scope(viewer)]
        if f.states:
            clauses.append(Case.state.in_(f.states))
        if f.assigned is Assigned.mine:
            clauses.append(Case.assigned_to == viewer.user_id)
        elif f.assigned is Assigned.free:
            clauses.append(Case.assigned_to.is_(None))
        if f.lang:
            clauses.append(Case.lang == f.lang)
        if f.channel:
            clauses.append(Case.channel == f.channel)
        if f.campaign:
            clauses.append(Case.campaign == f.campaign)
        if f.flag and f.flag in risk.RiskFlag.__members__:
            # Flags are a sorted comma list; match a whole item.
            clauses.append(("," + Case.risk_flags + ",").contains("," + f.flag + ","))
        if f.wounded is not None:
            clauses.append(Case.wounded.is_(f.wounded))
        if f.min_group is not None:
            clauses.append(Case.group_size >= f.min_group)
        if f.waiting_hours is not None:
            since = utcnow() - timedelta(hours=f.waiting_hours)
            clauses.append(func.coalesce(Case.submitted_at, Case.created_at) <= since)
        return clauses

    def _order(self, f: Filters, urgency: ColumnElement[Any]) -> list[ColumnElement[Any]]:
        waited = func.coalesce(Case.submitted_at, Case.created_at)
        if f.sort is Sort.waiting:
            return [waited.asc(), Case.id.asc()]
        if f.sort is Sort.newest:
            return [waited.desc(), Case.id.desc()]
        if f.sort is Sort.group:
            return [func.coalesce(Case.group_size, 0).desc(), waited.asc(), Case.id.asc()]
        if f.sort is Sort.activity:
            return [Case.updated_at.desc(), Case.id.desc()]
        return [urgency.desc(), Case.id.asc()]

    async def list(self, viewer: Viewer, f: Filters) -> Page:
        """One page of the queue as ``viewer`` may see it."""
        where = self._where(viewer, f)
        urgency = self.urgency(utcnow()).label("urgency")
        async with self.store.transaction() as session:
            total = int(await session.scalar(select(func.count(Case.id)).where(and_(*where))) or 0)
            pages = max(1, -(-total // self.page_size))
            page = min(max(1, f.page), pages)
            # The page's ids first, from the covering index; then only those rows.
            top = (
                select(Case.id, urgency)
                .where(and_(*where))
                .order_by(*self._order(f, urgency))
                .offset((page - 1) * self.page_size)
                .limit(self.page_size)
            )
            ranked = (await session.execute(top)).all()
            found = {
                c.id: c
                for c in await session.scalars(
                    select(Case).where(Case.id.in_([i for i, _ in ranked]))
                )
            }
            result = [(found[i], u) for i, u in ranked if i in found]
            names = await _names(session, {c.assigned_to for c, _ in result if c.assigned_to})
            rows = [
                QueueRow(
                    id=c.id,
                    reference=c.reference,
                    state=c.state,
                    lang=c.lang,
                    channel=c.channel,
                    campaign=c.campaign,
                    group_size=c.group_size,
                    wounded=c.wounded,
                    flags=risk.decode(c.risk_flags),
                    submitted_at=c.submitted_at,
                    updated_at=c.updated_at,
                    assigned_to=c.assigned_to,
                    assigned_name=names.get(c.assigned_to) if c.assigned_to else None,
                    urgency=float(u or 0.0),
                )
                for c, u in result
            ]
            return Page(rows, total, page, pages)

    async def facets(self) -> dict[str, builtins.list[str]]:
        """Values the filters offer (languages, channels, campaigns in the open queue);
        cached for a minute, as they change slowly and cost three scans."""
        now = time.monotonic()
        if self._facets is not None and now - self._facets[0] < FACETS_SECONDS:
            return self._facets[1]
        out = await self._load_facets()
        self._facets = (now, out)
        return out

    async def _load_facets(self) -> dict[str, builtins.list[str]]:
        async with self.store.transaction() as session:
            out: dict[str, list[str]] = {}
            for name, column in (
                ("lang", Case.lang),
                ("channel", Case.channel),
                ("campaign", Case.campaign),
            ):
                values = await session.scalars(
                    select(column)
                    .where(Case.state.in_(QUEUE_STATES), column.is_not(None))
                    .distinct()
                    .order_by(column)
                    .limit(100)
                )
                out[name] = [str(v) for v in values if v]
            return out

    async def take_next(self, viewer: Viewer) -> str | None:
        """Give the operator the most urgent unassigned submitted case; ``None`` if none.

        Two operators pressing at once get two different cases: the row is locked and
        skipped by the other (PostgreSQL), or the whole take is one writer (SQLite)."""
        if viewer.role is not Role.operator:
            raise Forbidden("only operators take cases")
        urgency = self.urgency(utcnow())
        async with self.store.transaction() as session:
            query = (
                select(Case)
                .where(Case.state == CaseState.submitted.value, Case.assigned_to.is_(None))
                .order_by(urgency.desc(), Case.id.asc())
                .limit(1)
            )
            if self.store.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            case_ = await session.scalar(query)
            if case_ is None:
                return None
            case_.assigned_to = viewer.user_id
            await audit.append(
                session,
                viewer.actor,
                "case.assigned",
                case_.id,
                {"to": viewer.user_id, "by": "next"},
            )
            return case_.reference

    async def assign(self, reference: str, viewer: Viewer, to_user: int | None) -> None:
        """Take a case, hand it to another operator, or give it back to the queue
        (``to_user=None``). Operators only move cases that are theirs or free."""
        if viewer.role is not Role.operator:
            raise Forbidden("only operators assign cases")
        async with self.store.transaction() as session:
            case_ = await session.scalar(
                select(Case)
                .where(Case.reference == reference.upper(), case_scope(viewer))
                .with_for_update()
            )
            if case_ is None:
                raise CaseNotFound(reference[:16])
            if to_user is not None:
                target = await session.get(User, to_user)
                if target is None or target.role != Role.operator.value or target.disabled:
                    raise Forbidden("cases go to active operators only")
            before = case_.assigned_to
            case_.assigned_to = to_user
            await audit.append(
                session, viewer.actor, "case.assigned", case_.id, {"to": to_user, "from": before}
            )


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {int(i): str(n) for i, n in rows}
