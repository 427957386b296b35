"""Erasing what a case holds about a person: one place for /forget, the web page's erase
button and the retention purge of closed cases (DESIGN.md, Security model).

What stays of an erased case is its triage skeleton without the person: state, close reason,
times, language, channel and campaign, which the funnel counts. Everything sealed goes:
answers, code phrase, messages, notes, photos, web replies and passphrase record, hand-off
details, queued messages; and with them group size, wounded and risk flags.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from haven.domain.cases import CaseState, CloseReason
from haven.services.cases import move_case
from haven.store import audit
from haven.store.db import Store, mark_wipe
from haven.store.models import (
    Attachment,
    Case,
    Contact,
    Handoff,
    Message,
    OutboxMessage,
    Translation,
    Walkin,
    WebAccess,
    WebThread,
    utcnow,
)

#: Tables whose rows belong to one case and say something about the person.
CASE_CONTENT = (
    Message,
    Attachment,
    Translation,
    WebThread,
    WebAccess,
    Handoff,
    Walkin,
    OutboxMessage,
)


def wipe(session: Session, case: Case, *, contacts: bool = True) -> int:
    """Delete a case's content in the caller's transaction; returns how many rows went.

    ``contacts=False`` when the caller deletes the conversation's contact itself. Synchronous
    (the intake's units of work are); async callers go through ``session.run_sync``.
    """
    mark_wipe(session)
    removed = 0
    for model in CASE_CONTENT:
        result = session.execute(delete(model).where(model.case_id == case.id))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    if contacts:
        result = session.execute(delete(Contact).where(Contact.case_id == case.id))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    removed += sum(value is not None for value in (case.answers, case.code_phrase, case.group_size))
    case.answers = None
    case.code_phrase = None
    case.group_size = None
    case.wounded = None
    case.risk_flags = ""
    return removed


def erase(session: Session, case: Case, actor: str, channel: str, *, contacts: bool = True) -> None:
    """The applicant's erase-me: wipe, close an open case as ``erased`` (a transition like
    any other), and audit the erasure.

    Synchronous like :func:`wipe`: ``await session.run_sync(erase, case, actor, channel)``.
    """
    wipe(session, case, contacts=contacts)
    if case.state not in (CaseState.closed, CaseState.arrived):
        move_case(session, case, CaseState.closed, CloseReason.erased, actor, channel=channel)
    audit.append_sync(session, actor, "case.erased", case.id, {"channel": channel})


async def purge_closed(store: Store, retention_days: int, batch: int = 500) -> int:
    """Wipe every case closed more than ``retention_days`` ago; returns how many were purged.

    Idempotent: cases already wiped are passed over without an audit event.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    purged = 0
    last = 0
    while True:
        async with store.transaction() as session:
            cases = (
                await session.scalars(
                    select(Case)
                    .where(
                        Case.state == CaseState.closed.value,
                        Case.closed_at < cutoff,
                        Case.id > last,
                    )
                    .order_by(Case.id)
                    .limit(batch)
                )
            ).all()
            for case in cases:
                if await session.run_sync(wipe, case):
                    purged += 1
                    await audit.append(
                        session, "retention", "case.purged", case.id, {"days": retention_days}
                    )
        if len(cases) < batch:
            return purged
        last = cases[-1].id


async def purge_drafts(store: Store, hours: int, batch: int = 500) -> int:
    """Erase every questionnaire left unfinished for more than ``hours``, through the same
    erasure as /forget: the draft case closed as erased, its conversation deleted. Returns how
    many went. Conversations of submitted cases are not drafts and stay."""
    cutoff = utcnow() - timedelta(hours=hours)
    purged = 0
    while True:
        async with store.transaction() as session:
            stale = (
                await session.execute(
                    select(Contact.id, Contact.case_id)
                    .outerjoin(Case, Case.id == Contact.case_id)
                    .where(
                        Contact.updated_at < cutoff,
                        (Contact.case_id.is_(None)) | (Case.state == CaseState.draft.value),
                    )
                    .order_by(Contact.id)
                    .limit(batch)
                )
            ).all()
            for contact_id, case_id in stale:
                case = await session.get(Case, case_id) if case_id is not None else None
                if case is not None:
                    await session.run_sync(erase, case, "retention", case.channel)
                await session.execute(delete(Contact).where(Contact.id == contact_id))
                mark_wipe(session)
                purged += 1
        if len(stale) < batch:
            return purged
