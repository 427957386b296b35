"""Hand-offs: the card for the receiving unit, the outcome, and the POW record export.

A card carries only what the unit needs (sector, meeting point, time window, recognition
signal, group size, wounded, the code phrase with its Cyrillic transliteration): no name, no
unit, no contact details. All of it is sealed to the case key, sector and time window
included: a copy of the database must not say where and when a crossing happens. Coordinators
see the cards of their sectors only; the scope is part of every query, through a keyed hash
of the sector (:meth:`Handoffs.sector_key`). Issuing one moves the case to ``scheduled`` and
sends the applicant the place, the time and the crossing steps in their language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from haven.content import N_, gettext_for, texts
from haven.content.readings import code_phrase_reading
from haven.crypto import CaseKeyring, IntakeKeys
from haven.domain.cases import CaseState
from haven.services.accounts import Role, Viewer
from haven.services.cases import (
    BadText,
    CaseNotFound,
    Forbidden,
    NoRoute,
    Sender,
    clean_text,
    deliver_text,
    move_case,
)
from haven.services.verify import Check, check_text, verify_for
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Case, Handoff, utcnow

#: What the applicant receives when a hand-off is issued (then the crossing steps).
M_READY = N_("Everything is ready. Here are the place and the time.")
M_PLACE = N_("Meeting point: {place}")
M_TIME = N_("Time: from {start} to {end}, {zone}. Be on time.")
M_SIGNAL = N_(
    "Recognition signal: {signal}. Show it when you reach our soldiers (step 6), before you "
    "say your code phrase."
)
#: The zone a coordinator gives the window in, and how the applicant is told it.
WINDOW_ZONE = "Europe/Moscow"
ZONE_NAMES: dict[str, str] = {
    "Europe/Moscow": N_("Moscow time"),
    "Europe/Kyiv": N_("Kyiv time"),
    "Asia/Pyongyang": N_("Pyongyang time"),
}

ISSUED, ARRIVED, NO_SHOW = "issued", "arrived", "no_show"
NO_SHOW_REASONS: tuple[str, ...] = ("not_seen", "code_wrong", "called_off", "other")
WINDOW_MAX_HOURS = 72
#: ``sector_key`` of hand-offs issued before the sector was keyed for the console alone: their
#: scope is checked on the opened placement instead.
LEGACY_SECTOR = ""

#: ``who`` answers of the questionnaire -> the Power on which the prisoner depends.
POWERS: dict[str, str] = {
    "kpa": "Democratic People's Republic of Korea",
    "russian_army": "Russian Federation",
}


@dataclass(frozen=True)
class ReadyRow:
    """A verified case waiting for a hand-off: metadata only."""

    reference: str
    lang: str
    channel: str
    group_size: int | None
    wounded: bool | None
    submitted_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class HandoffRow:
    """A hand-off as a list shows it; sector, window, group size and wounded are empty while
    the case key is locked."""

    id: int
    reference: str
    sector: str
    window_start: datetime | None
    window_end: datetime | None
    group_size: int | None
    wounded: bool | None
    status: str
    outcome_reason: str | None
    issued_at: datetime
    outcome_at: datetime | None


@dataclass(frozen=True)
class Card:
    row: HandoffRow
    meeting_point: str
    signal: str
    code_phrase: str
    code_cyrillic: str
    lang: str


@dataclass(frozen=True)
class Issued:
    id: int
    #: Whether the applicant was sent the place and the time (a phone case is told by phone).
    sent: bool
    text: str


def zone_label(zone: str, at: datetime, _: Callable[[str], str]) -> str:
    """The zone as the applicant reads it, with its UTC offset at ``at`` ("Moscow time,
    UTC+3"): Moscow, Kyiv and Pyongyang time differ, and the window is short."""
    offset = at.replace(tzinfo=ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    hours, rest = divmod(abs(minutes), 60)
    utc = "UTC"
    if minutes:
        utc += ("+" if minutes > 0 else "-") + str(hours) + (f":{rest:02d}" if rest else "")
    name = ZONE_NAMES.get(zone)
    return f"{_(name)}, {utc}" if name else utc


def applicant_text(
    lang: str,
    place: str,
    start: datetime,
    end: datetime,
    signal: str,
    check: Check,
    zone: str = WINDOW_ZONE,
) -> str:
    """The message an applicant gets at hand-off, in their language, ending with the check:
    a look-alike that sends a place and a time of its own is a trap. ``start`` and ``end``
    are wall-clock times in ``zone``, and the message names that zone."""
    _ = gettext_for(lang or "en")
    steps = "\n".join(f"{n}. {_(s)}" for n, s in enumerate(texts.CROSSING_STEPS, start=1))
    when = _(M_TIME).format(
        start=f"{start:%Y-%m-%d %H:%M}", end=f"{end:%H:%M}", zone=zone_label(zone, start, _)
    )
    return "\n".join(
        [
            _(M_READY),
            _(M_PLACE).format(place=place),
            when,
            _(M_SIGNAL).format(signal=signal),
            "",
            _(texts.CROSSING_TITLE),
            steps,
            _(texts.NO_DRONE),
            "",
            *check_text(lang or "en", check).lines,
        ]
    )


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _row(h: Handoff, reference: str, details: dict[str, Any] | None) -> HandoffRow:
    d = details or {}
    group = d.get("group_size")
    wounded = d.get("wounded")
    return HandoffRow(
        id=h.id,
        reference=reference,
        sector=str(d.get("sector", "")),
        window_start=_when(d.get("window_start")),
        window_end=_when(d.get("window_end")),
        group_size=int(group) if isinstance(group, int) else None,
        wounded=bool(wounded) if isinstance(wounded, bool) else None,
        status=h.status,
        outcome_reason=h.outcome_reason,
        issued_at=h.issued_at,
        outcome_at=h.outcome_at,
    )


def placement(
    sector: str, start: datetime, end: datetime, group_size: int | None, wounded: bool | None
) -> dict[str, object]:
    """Where, when and whom: a hand-off's ``placement``, sealed to the case key."""
    return {
        "sector": sector,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "group_size": group_size,
        "wounded": wounded,
    }


def _open(keyring: CaseKeyring | None, handoff: Handoff) -> dict[str, Any] | None:
    """A hand-off's sealed placement and details, as one dict (None while locked)."""
    if keyring is None:
        return None
    opened: dict[str, Any] = {}
    for blob in (handoff.placement, handoff.details):
        value: Any = keyring.open_json(blob)
        if isinstance(value, dict):
            opened.update(value)
    return opened


def capture_card(
    *, power: str, taken_on: datetime, sector: str, wounded: bool, number: str
) -> dict[str, str]:
    """The record for the capture card (Third Geneva Convention, Art. 70 and Annex IV B) of
    anyone who arrived, however he came: recorded as captured, never as having come of his
    own will. Identity fields the hotline never asked are left empty for the detaining
    authority to fill."""
    return {
        "record": "Capture card (Geneva Convention III, Art. 70, Annex IV B)",
        "status": "captured",
        "power_on_which_dependent": power,
        "surname": "",
        "first_names": "",
        "first_name_of_father": "",
        "date_of_birth": "",
        "place_of_birth": "",
        "rank": "",
        "service_number": "",
        "address_of_next_of_kin": "",
        "taken_prisoner_on": f"{taken_on:%Y-%m-%d}",
        "sector_of_capture": sector,
        "state_of_health": "wounded" if wounded else "not wounded",
        "record_number": number,
    }


class Handoffs:
    def __init__(
        self,
        store: Store,
        keys: IntakeKeys,
        *,
        check: Check | None = None,
    ) -> None:
        self.store = store
        self.keys = keys
        #: The check the message carries (the deployment's; without a bot, the bare code).
        self.check = check or verify_for("", keys)

    @staticmethod
    def sector_key(keyring: CaseKeyring, sector: str) -> str:
        """The keyed hash a hand-off is found by for its sector's coordinators: one only the
        unlocked console can compute, so the intake host cannot map hand-offs to sectors."""
        return keyring.console_lookup("handoff-sector", sector)

    def sector_scope(self, viewer: Viewer, keyring: CaseKeyring | None) -> ColumnElement[bool]:
        """The hand-offs a viewer may see, as a WHERE clause: coordinators their sectors (none
        while the key is locked, for those of some sectors only). Hand-offs from before the
        keyed sector (``LEGACY_SECTOR``) are let through and filtered once opened."""
        if viewer.role is not Role.coordinator:
            return false()
        if viewer.sectors is None:
            return true()
        if keyring is None:
            return false()
        keys = sorted(self.sector_key(keyring, s) for s in viewer.sectors)
        return Handoff.sector_key.in_(keys) | (Handoff.sector_key == LEGACY_SECTOR)

    @staticmethod
    def _in_scope(viewer: Viewer, handoff: Handoff, details: dict[str, Any] | None) -> bool:
        if handoff.sector_key != LEGACY_SECTOR or viewer.sectors is None:
            return True
        return details is not None and details.get("sector") in viewer.sectors

    @staticmethod
    def _coordinator(viewer: Viewer) -> None:
        if viewer.role is not Role.coordinator:
            raise Forbidden("only coordinators handle hand-offs")

    async def ready(self, viewer: Viewer, limit: int = 200) -> list[ReadyRow]:
        """Verified cases without a hand-off yet (metadata only)."""
        self._coordinator(viewer)
        async with self.store.transaction() as session:
            rows = await session.scalars(
                select(Case)
                .where(Case.state == CaseState.verified.value)
                .order_by(Case.submitted_at.asc(), Case.id.asc())
                .limit(limit)
            )
            return [
                ReadyRow(
                    c.reference,
                    c.lang,
                    c.channel,
                    c.group_size,
                    c.wounded,
                    c.submitted_at,
                    c.updated_at,
                )
                for c in rows
            ]

    async def list(
        self,
        viewer: Viewer,
        keyring: CaseKeyring | None = None,
        status: str | None = None,
        limit: int = 200,
    ) -> list[HandoffRow]:
        """The viewer's hand-offs, newest issued first; their details opened when the case
        key is unlocked (sector and window are sealed)."""
        self._coordinator(viewer)
        async with self.store.transaction() as session:
            query = (
                select(Handoff, Case.reference)
                .join(Case, Case.id == Handoff.case_id)
                .where(self.sector_scope(viewer, keyring))
                .order_by(Handoff.issued_at.desc(), Handoff.id.desc())
                .limit(limit)
            )
            if status:
                query = query.where(Handoff.status == status)
            found = [(h, ref, _open(keyring, h)) for h, ref in (await session.execute(query)).all()]
            rows = [_row(h, ref, d) for h, ref, d in found if self._in_scope(viewer, h, d)]
            if keyring is not None and rows:
                await audit.append(
                    session, viewer.actor, "handoff.listed", None, {"count": len(rows)}
                )
            return rows

    async def issue(
        self,
        viewer: Viewer,
        reference: str,
        *,
        sector: str,
        meeting_point: str,
        window_start: datetime,
        window_end: datetime,
        signal: str,
        meeting_point_applicant: str = "",
        signal_applicant: str = "",
        sender: Sender | None = None,
        keyring: CaseKeyring,
    ) -> Issued:
        """Issue a hand-off card for a verified case; the case moves to ``scheduled`` and the
        applicant is sent the place, the time and the crossing steps in their language."""
        self._coordinator(viewer)
        sector = clean_text(sector, 100)
        meeting_point = clean_text(meeting_point, 500)
        signal = clean_text(signal, 300)
        told_place = (
            clean_text(meeting_point_applicant, 500)
            if meeting_point_applicant.strip()
            else meeting_point
        )
        told_signal = clean_text(signal_applicant, 300) if signal_applicant.strip() else signal
        if viewer.sectors is not None and sector not in viewer.sectors:
            raise Forbidden("this sector is not one of yours")
        if not window_start < window_end:
            raise BadText("the time window ends before it starts")
        if (window_end - window_start).total_seconds() > WINDOW_MAX_HOURS * 3600:
            raise BadText(f"the time window is longer than {WINDOW_MAX_HOURS} hours")
        async with self.store.transaction() as session:
            case = await session.scalar(
                select(Case).where(Case.reference == reference.strip().upper()).with_for_update()
            )
            if case is None or case.state != CaseState.verified.value:
                raise CaseNotFound(reference[:16])
            handoff = Handoff(
                case_id=case.id,
                sector_key=self.sector_key(keyring, sector),
                placement=keyring.sealing_keys.seal_json(
                    placement(sector, window_start, window_end, case.group_size, case.wounded)
                ),
                details=keyring.sealing_keys.seal_json(
                    {
                        "meeting_point": meeting_point,
                        "signal": signal,
                        "meeting_point_applicant": told_place,
                        "signal_applicant": told_signal,
                    }
                ),
                status=ISSUED,
                issued_by=viewer.user_id,
                issued_at=utcnow(),
            )
            session.add(handoff)
            await session.flush()
            await session.run_sync(
                move_case, case, CaseState.scheduled, None, viewer.actor, handoff=handoff.id
            )
            text = applicant_text(
                case.lang, told_place, window_start, window_end, told_signal, self.check
            )
            try:
                await deliver_text(
                    session, keyring.sealing_keys, case, text, viewer.user_id, sender
                )
                sent = True
            except NoRoute:
                sent = False
            await audit.append(
                session,
                viewer.actor,
                "handoff.issued",
                case.id,
                {"handoff": handoff.id, "sent": sent},
            )
            return Issued(handoff.id, sent, text)

    async def _get(
        self,
        session: AsyncSession,
        viewer: Viewer,
        handoff_id: int,
        keyring: CaseKeyring | None,
    ) -> tuple[Handoff, Case]:
        self._coordinator(viewer)
        found = (
            await session.execute(
                select(Handoff, Case)
                .join(Case, Case.id == Handoff.case_id)
                .where(Handoff.id == handoff_id, self.sector_scope(viewer, keyring))
            )
        ).first()
        if found is None or not self._in_scope(viewer, found[0], _open(keyring, found[0])):
            raise CaseNotFound(f"hand-off {handoff_id}")
        return found[0], found[1]

    async def card(self, viewer: Viewer, handoff_id: int, keyring: CaseKeyring) -> Card:
        """The card decrypted (meeting point, signal, code phrase); audited."""
        async with self.store.transaction() as session:
            handoff, case = await self._get(session, viewer, handoff_id, keyring)
            details = _open(keyring, handoff) or {}
            phrase = keyring.open(case.code_phrase).decode() if case.code_phrase else ""
            await audit.append(
                session, viewer.actor, "handoff.viewed", case.id, {"handoff": handoff.id}
            )
            return Card(
                row=_row(handoff, case.reference, details),
                meeting_point=str(details.get("meeting_point", "")),
                signal=str(details.get("signal", "")),
                code_phrase=phrase,
                code_cyrillic=code_phrase_reading(case.lang, phrase) if phrase else "",
                lang=case.lang,
            )

    async def outcome(
        self,
        viewer: Viewer,
        handoff_id: int,
        keyring: CaseKeyring | None,
        *,
        arrived: bool,
        reason: str | None = None,
    ) -> str:
        """Record what happened: ``arrived`` (the code phrase was confirmed at the front), or a
        no-show with a reason (the case goes back to ``verified`` to be planned again)."""
        if not arrived and reason not in NO_SHOW_REASONS:
            raise BadText("a no-show needs a reason")
        async with self.store.transaction() as session:
            handoff, case = await self._get(session, viewer, handoff_id, keyring)
            if handoff.status != ISSUED or case.state != CaseState.scheduled.value:
                raise BadText("this hand-off already has an outcome")
            target = CaseState.arrived if arrived else CaseState.verified
            handoff.status = ARRIVED if arrived else NO_SHOW
            handoff.outcome_reason = None if arrived else reason
            handoff.outcome_by = viewer.user_id
            handoff.outcome_at = utcnow()
            await session.run_sync(move_case, case, target, None, viewer.actor, handoff=handoff.id)
            await audit.append(
                session,
                viewer.actor,
                "handoff.outcome",
                case.id,
                {"handoff": handoff.id, "status": handoff.status, "reason": handoff.outcome_reason},
            )
            return handoff.status

    async def pow_record(
        self, viewer: Viewer, handoff_id: int, keyring: CaseKeyring
    ) -> dict[str, str]:
        """The record for the capture card (Third Geneva Convention, Art. 70 and Annex IV B)
        of an arrived person: recorded as captured. Identity fields the hotline never asked
        are left empty for the detaining authority to fill. Audited as an export."""
        async with self.store.transaction() as session:
            handoff, case = await self._get(session, viewer, handoff_id, keyring)
            if handoff.status != ARRIVED or case.state != CaseState.arrived.value:
                raise BadText("only an arrived person has a record")
            answers: Any = keyring.open_json(case.answers) if case.answers else {}
            details = _open(keyring, handoff) or {}
            who = str(((answers or {}).get("answers") or {}).get("who", {}).get("value", ""))
            record = capture_card(
                power=POWERS.get(who, ""),
                taken_on=handoff.outcome_at or utcnow(),
                sector=str(details.get("sector", "")),
                wounded=bool(details.get("wounded")),
                number=f"{handoff.id:06d}",
            )
            await audit.append(
                session, viewer.actor, "pow.export", case.id, {"handoff": handoff.id}
            )
            return record
