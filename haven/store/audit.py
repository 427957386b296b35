"""The audit log: a chain of keyed links that a database writer cannot rewrite.

Each event's link is a MAC of the previous link and the event's fields under a key of its own;
the next event's key is derived from it one-way (:func:`haven.crypto.audit_next_key`), and
only the key for the *next* event is kept in the database (``audit_chain``), sealed under a
key derived from the routing key (:class:`haven.crypto.ChainKeys`). Whoever holds the
database, and every key of the intake host, can therefore append but not rewrite: recomputing
the chain after deleting or changing an event needs the earlier keys, which are gone. Sealed,
the earlier versions of the chain's row that PostgreSQL keeps (dead tuples, write-ahead log,
backups) give the database host no earlier key either; a host that holds both those files and
the routing key does get them back (docs/threat-model.md).

The first key lives wrapped inside ``case.key`` (the passphrase opens it), so :func:`verify`
runs where the case key is unlocked: it walks every event from the first key and checks that
it arrives at the key the database holds (cutting events off the end is noticed too). A head
(:func:`head`) kept elsewhere pins the log as it was when it was taken; it alone notices the
whole chain set back to an earlier state (a backup, an earlier row version).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from haven import crypto

from .db import mark_wipe
from .models import AuditChain, AuditEvent, utcnow

GENESIS = "0" * 64
CHAIN_ROW = 1


class AuditNotReady(Exception):
    """The database has no audit chain yet: ``haven db upgrade`` starts it."""


def _canonical(
    id_: int, at: datetime, actor: str, action: str, case_id: int | None, detail: str
) -> bytes:
    return json.dumps(
        [id_, at.isoformat(timespec="microseconds"), actor, action, case_id, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def link_of(key: bytes, prev: str, event: AuditEvent) -> str:
    body = _canonical(event.id, event.at, event.actor, event.action, event.case_id, event.detail)
    return crypto.audit_link(key, prev, body)


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
    """:func:`append` for synchronous units of work (:meth:`haven.store.db.Store.run_sync`).

    The chain's row is locked for the rest of the transaction (PostgreSQL; SQLite has one
    writer), so appends never fork the chain.
    """
    chain = session.get(AuditChain, CHAIN_ROW, with_for_update=True, populate_existing=True)
    if chain is None:
        raise AuditNotReady("the audit log has no chain yet: run `haven db upgrade`")
    sealer = crypto.chain_keys_of(chain.key)
    key = sealer.open(chain.key)
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        case_id=case_id,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True),
        prev_hash=chain.head,
        hash="",
    )
    session.add(event)
    session.flush()
    event.hash = link_of(key, chain.head, event)
    chain.key = sealer.seal(crypto.audit_next_key(key))
    chain.head = event.hash
    chain.last_id = event.id
    session.flush()
    # The keys before this one must not survive in SQLite's log either.
    mark_wipe(session)
    return event


def start_chain(session: Session, first_key: bytes, sealer: crypto.ChainKeys) -> int:
    """Start the chain with its first key, linking any events already there (a log from
    before the chain was keyed) in order; its next key is sealed with ``sealer``. Returns how
    many were linked."""
    key, prev, count, last_id = first_key, GENESIS, 0, None
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        event.prev_hash = prev
        event.hash = prev = link_of(key, prev, event)
        key = crypto.audit_next_key(key)
        count += 1
        last_id = event.id
    session.add(AuditChain(id=CHAIN_ROW, key=sealer.seal(key), head=prev, last_id=last_id))
    session.flush()
    return count


def has_chain(session: Session) -> bool:
    return session.get(AuditChain, CHAIN_ROW) is not None


@dataclass(frozen=True)
class Head:
    """Where the log stood: the last event's id and link (``0:000…`` for an empty log)."""

    last_id: int
    link: str

    def __str__(self) -> str:
        return f"{self.last_id}:{self.link}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """``ID:LINK`` as :func:`head` prints it; ValueError otherwise."""
        id_text, sep, link = text.strip().partition(":")
        if not sep or not id_text.isdigit() or len(link) != 64:
            raise ValueError("a head looks like 1234:<64 hex digits>, as `haven audit head` prints")
        int(link, 16)
        return cls(int(id_text), link.lower())


async def head(session: AsyncSession) -> Head:
    chain = await session.get(AuditChain, CHAIN_ROW)
    if chain is None:
        raise AuditNotReady("the audit log has no chain yet: run `haven db upgrade`")
    return Head(chain.last_id or 0, chain.head)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    broken_id: int | None = None
    why: str = ""


async def verify(
    session: AsyncSession, first_key: bytes, pinned: Head | None = None, batch: int = 5000
) -> Verdict:
    """Walk the chain from its first key: every link must match, the walk must end at the key
    the database holds for the next event, and a ``pinned`` head must be on the way. The
    process must have loaded the routing key (:class:`haven.crypto.IntakeKeys`), which
    opens the key the database holds."""
    chain = await session.get(AuditChain, CHAIN_ROW)
    if chain is None:
        return Verdict(False, 0, None, "the log has no chain")
    try:
        sealer = crypto.chain_keys_of(chain.key)
        held = sealer.open(chain.key)
    except crypto.CryptoError:  # not sealed, or under a routing key this host does not hold
        return Verdict(False, 0, None, "the chain's key is not sealed under the routing key")
    key, prev, checked, last_id = first_key, GENESIS, 0, 0
    # Where the chain's key, once kept in plaintext, was sealed (migration 0010): from there
    # on, the keys also depend on the routing key, so the plaintext ones lead nowhere.
    rekeyed_after = chain.rekeyed_after
    if rekeyed_after == 0:
        key = sealer.rekey(key)
    pinned_seen = pinned is None or (pinned.last_id == 0 and pinned.link == GENESIS)
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
            break
        for event in rows:
            if pinned is not None and not pinned_seen and event.id > pinned.last_id:
                return Verdict(False, checked, event.id, "the pinned head's event is missing")
            if event.prev_hash != prev:
                return Verdict(False, checked, event.id, "does not follow the event before it")
            if link_of(key, prev, event) != event.hash:
                return Verdict(False, checked, event.id, "its content does not match its link")
            if pinned is not None and event.id == pinned.last_id:
                if event.hash != pinned.link:
                    return Verdict(False, checked, event.id, "it differs from the pinned head")
                pinned_seen = True
            prev = event.hash
            key = crypto.audit_next_key(key)
            if event.id == rekeyed_after:
                key = sealer.rekey(key)
            checked += 1
            last_id = event.id
    if not pinned_seen:
        return Verdict(False, checked, None, "the pinned head's event is missing")
    if chain.head != prev or held != key or (chain.last_id or 0) != last_id:
        return Verdict(False, checked, None, "events are missing at the end of the log")
    return Verdict(True, checked)
