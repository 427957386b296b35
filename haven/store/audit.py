"""The audit log as a hash chain: each row's hash covers its fields and the previous hash.

``verify`` recomputes the chain and names the first row that does not match. Rows are appended
under a lock (PostgreSQL advisory lock; SQLite's single writer), so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .models import AuditEvent, utcnow

GENESIS = "0" * 64
_LOCK_ID = 0x6A7E0A0D  # pg_advisory_xact_lock key for appends


def _canonical(
    id_: int, at: datetime, actor: str, action: str, case_id: int | None, detail: str
) -> bytes:
    return json.dumps(
        [id_, at.isoformat(timespec="microseconds"), actor, action, case_id, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def link_hash(prev_hash: str, event: AuditEvent) -> str:
    body = _canonical(event.id, event.at, event.actor, event.action, event.case_id, event.detail)
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body).hexdigest()


async def append(
    session: AsyncSession,
    actor: str,
    action: str,
    case_id: int | None = None,
    detail: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Add an event to the chain, in the caller's transaction."""
    return await session.run_sync(append_sync, actor, action, case_id, detail)


def append_sync(
    session: Session,
    actor: str,
    action: str,
    case_id: int | None = None,
    detail: Mapping[str, object] | None = None,
) -> AuditEvent:
    """:func:`append` for synchronous units of work (:meth:`haven.store.db.Store.run_sync`)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        case_id=case_id,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True),
        prev_hash=last or GENESIS,
        hash="",
    )
    session.add(event)
    session.flush()
    event.hash = link_hash(event.prev_hash, event)
    session.flush()
    return event


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    broken_id: int | None = None
    why: str = ""


async def verify(session: AsyncSession, batch: int = 5000) -> Verdict:
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            return Verdict(True, checked)
        for event in rows:
            if event.prev_hash != prev:
                return Verdict(False, checked, event.id, "does not follow the row before it")
            if link_hash(prev, event) != event.hash:
                return Verdict(False, checked, event.id, "its content does not match its hash")
            prev = event.hash
            checked += 1
            last_id = event.id
