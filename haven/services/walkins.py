"""Walk-ins: someone who reached our soldiers with no contact before, often holding a leaflet.

A front unit (or a coordinator) records him in one transaction: a new case straight in
``arrived`` (the lifecycle's walk-in transition, audited like every other), the leaflet he
carried resolved to its campaign and print batch (what the funnel counts), and the walk-in's
sector, time and the front's notes sealed to the case key. Front units and coordinators see
the walk-ins of their own sectors only, found by the same keyed hash of the sector as
hand-offs (:meth:`Handoffs.sector_key`), and make the capture card of each, as for any other
arrival (:func:`haven.services.handoff.capture_card`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from haven.content import LANGS
from haven.crypto import CaseKeyring
from haven.domain import risk
from haven.domain.cases import WALK_IN, CaseState, Channel
from haven.domain.reference import new_reference
from haven.services.campaigns import CampaignError, Leaflet, find_leaflet, leaflet_payload
from haven.services.cases import BadText, CaseNotFound, Forbidden, clean_text, move_case
from haven.services.handoff import Handoffs, capture_card
from haven.services.identity import Role, Viewer
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Case, LeafletBatch, Walkin, utcnow

#: The roles that record walk-ins, each for its own sectors.
RECORDERS = frozenset({Role.front, Role.coordinator})
GROUP_MAX = 100
#: How far back a walk-in may be recorded, and how far ahead a clock may run.
BACK_DAYS = 7
AHEAD_MINUTES = 15
#: Walk-ins one account may record in an hour: a stolen front account cannot flood the figures.
PER_HOUR = 60
LIST_MAX = 50


@dataclass(frozen=True)
class WalkinRow:
    """A walk-in as its sector's front unit sees it (opened with the case key)."""

    id: int
    reference: str
    sector: str
    arrived_at: datetime | None
    group_size: int | None
    wounded: bool | None
    lang: str
    campaign: str | None
    batch: int | None
    recorded_at: datetime


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _leaflet(batch: LeafletBatch | None) -> Leaflet | None:
    return Leaflet(batch.code, batch.campaign, batch.number) if batch is not None else None


def _row(w: Walkin, case: Case, leaflet: Leaflet | None, details: dict[str, Any]) -> WalkinRow:
    """A walk-in as shown; ``leaflet``: its print batch, when its campaign code names one."""
    return WalkinRow(
        id=w.id,
        reference=case.reference,
        sector=str(details.get("sector", "")),
        arrived_at=_when(details.get("arrived_at")),
        group_size=case.group_size,
        wounded=case.wounded,
        lang=case.lang,
        campaign=leaflet.campaign if leaflet is not None else case.campaign,
        batch=leaflet.batch if leaflet is not None else None,
        recorded_at=w.recorded_at,
    )


class Walkins:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _recorder(viewer: Viewer) -> None:
        if viewer.role not in RECORDERS:
            raise Forbidden("only front units and coordinators record walk-ins")

    @staticmethod
    def scope(viewer: Viewer, keyring: CaseKeyring) -> ColumnElement[bool]:
        """The walk-ins a viewer may see, as a WHERE clause: those of his sectors."""
        if viewer.role not in RECORDERS:
            return false()
        if viewer.sectors is None:
            return true()
        keys = sorted(Handoffs.sector_key(keyring, s) for s in viewer.sectors)
        return Walkin.sector_key.in_(keys)

    async def record(
        self,
        viewer: Viewer,
        *,
        sector: str,
        arrived_at: datetime,
        group_size: int,
        wounded: bool,
        lang: str,
        leaflet: str = "",
        keyring: CaseKeyring,
        now: datetime | None = None,
    ) -> WalkinRow:
        """Record a walk-in: a new case, arrived, with what the leaflet he carried says.

        ``arrived_at`` is naive UTC. A leaflet code that is no campaign's or batch's is kept as
        ``unknown``, like a forged link: the person is recorded all the same."""
        self._recorder(viewer)
        sector = clean_text(sector, 100)
        if viewer.sectors is not None and sector not in viewer.sectors:
            raise Forbidden("this sector is not one of yours")
        if not 1 <= group_size <= GROUP_MAX:
            raise BadText(f"a group of 1 to {GROUP_MAX} people")
        if lang not in LANGS:
            raise BadText(f"a language: one of {', '.join(LANGS)}")
        moment = now or utcnow()
        if (
            not moment - timedelta(days=BACK_DAYS)
            <= arrived_at
            <= moment + timedelta(minutes=AHEAD_MINUTES)
        ):
            raise BadText(f"a time of arrival within the last {BACK_DAYS} days")
        try:
            payload = leaflet_payload(leaflet) or ""
        except CampaignError as exc:
            raise BadText(str(exc)) from None
        keys = keyring.sealing_keys
        details = {"sector": sector, "arrived_at": arrived_at.isoformat()}
        async with self.store.transaction() as session:
            await self._check_rate(session, viewer, moment)
            found = await find_leaflet(session, payload)
            case = Case(
                reference=new_reference(),
                state=CaseState.draft.value,
                lang=lang,
                channel=Channel.walk_in.value,
                campaign=found.code if found is not None else None,
                flow=WALK_IN,
                flow_version=0,
                group_size=group_size,
                wounded=wounded,
                risk_flags=risk.encode(risk.triage_flags(group_size)),
            )
            session.add(case)
            await session.flush()
            walkin = Walkin(
                case_id=case.id,
                sector_key=Handoffs.sector_key(keyring, sector),
                details=keys.seal_json(details),
                recorded_by=viewer.user_id,
                recorded_at=moment,
            )
            session.add(walkin)
            await session.flush()
            await session.run_sync(
                move_case,
                case,
                CaseState.arrived,
                None,
                viewer.actor,
                origin=WALK_IN,
                walkin=walkin.id,
            )
            await audit.append(
                session,
                viewer.actor,
                "walkin.recorded",
                case.id,
                {"walkin": walkin.id, "leaflet": found is not None},
            )
            return _row(walkin, case, found, details)

    @staticmethod
    async def _check_rate(session: AsyncSession, viewer: Viewer, moment: datetime) -> None:
        recent = await session.scalar(
            select(func.count(Walkin.id)).where(
                Walkin.recorded_by == viewer.user_id,
                Walkin.recorded_at > moment - timedelta(hours=1),
            )
        )
        if int(recent or 0) >= PER_HOUR:
            raise BadText(f"at most {PER_HOUR} walk-ins an hour from one account")

    async def list(
        self, viewer: Viewer, keyring: CaseKeyring, limit: int = LIST_MAX
    ) -> list[WalkinRow]:
        """The viewer's walk-ins, newest first; audited as a read of sealed details."""
        self._recorder(viewer)
        async with self.store.transaction() as session:
            found = (
                await session.execute(
                    self._query(viewer, keyring)
                    .order_by(Walkin.recorded_at.desc(), Walkin.id.desc())
                    .limit(min(limit, LIST_MAX))
                )
            ).all()
            rows = [_row(w, c, _leaflet(b), self._open(keyring, w)) for w, c, b in found]
            if rows:
                await audit.append(
                    session, viewer.actor, "walkin.listed", None, {"count": len(rows)}
                )
            return rows

    async def get(self, viewer: Viewer, walkin_id: int, keyring: CaseKeyring) -> WalkinRow:
        """One walk-in of the viewer's sectors; audited."""
        async with self.store.transaction() as session:
            walkin, case, batch = await self._get(session, viewer, walkin_id, keyring)
            await audit.append(
                session, viewer.actor, "walkin.viewed", case.id, {"walkin": walkin.id}
            )
            return _row(walkin, case, _leaflet(batch), self._open(keyring, walkin))

    async def pow_record(
        self, viewer: Viewer, walkin_id: int, keyring: CaseKeyring
    ) -> dict[str, str]:
        """The capture card's record of a walk-in, as of any arrival; audited as an export."""
        async with self.store.transaction() as session:
            walkin, case, _batch = await self._get(session, viewer, walkin_id, keyring)
            if case.state != CaseState.arrived.value:
                raise BadText("only an arrived person has a record")
            details = self._open(keyring, walkin)
            record = capture_card(
                power="",
                taken_on=_when(details.get("arrived_at")) or walkin.recorded_at,
                sector=str(details.get("sector", "")),
                wounded=bool(case.wounded),
                number=f"W{walkin.id:06d}",
            )
            await audit.append(session, viewer.actor, "pow.export", case.id, {"walkin": walkin.id})
            return record

    def _query(self, viewer: Viewer, keyring: CaseKeyring) -> Any:
        return (
            select(Walkin, Case, LeafletBatch)
            .join(Case, Case.id == Walkin.case_id)
            .outerjoin(LeafletBatch, LeafletBatch.code == Case.campaign)
            .where(self.scope(viewer, keyring))
        )

    async def _get(
        self, session: AsyncSession, viewer: Viewer, walkin_id: int, keyring: CaseKeyring
    ) -> tuple[Walkin, Case, LeafletBatch | None]:
        self._recorder(viewer)
        found = (
            await session.execute(self._query(viewer, keyring).where(Walkin.id == walkin_id))
        ).first()
        if found is None:
            raise CaseNotFound(f"walk-in {walkin_id}")
        return found[0], found[1], found[2]

    @staticmethod
    def _open(keyring: CaseKeyring, walkin: Walkin) -> dict[str, Any]:
        value: Any = keyring.open_json(walkin.details)
        return value if isinstance(value, dict) else {}
