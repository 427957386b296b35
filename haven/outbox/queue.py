"""Writing to the outbox: always inside the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from haven.crypto import IntakeKeys
from haven.domain.contacts import contact_lookup
from haven.flows import Reply
from haven.store.models import ContactValues, OutboxMessage, utcnow

from . import chatlog
from .payload import Payload, payloads_for

log = logging.getLogger("haven.outbox")

PENDING, SENDING, SENT, FAILED, DROPPED = "pending", "sending", "sent", "failed", "dropped"

#: The classes the outbox serves in order (lower first, see docs/adr/0004-fair-under-overload.md):
#: operator messages (replies, crossing instructions); answers to conversations under way;
#: first answers to new conversations; notices, channel posts and broadcasts.
OPERATOR, UNDER_WAY, FIRST, BULK = 0, 1, 2, 3
RANKS: dict[str, int] = {
    "operator": OPERATOR,
    "reply": UNDER_WAY,
    "first": FIRST,
    "notice": BULK,
    "post": BULK,
    "broadcast": BULK,
}
#: The classes of automated replies: newest first once a backlog forms.
AUTOMATED = (UNDER_WAY, FIRST)


def chat_key(keys: IntakeKeys, channel: str, address: str) -> str:
    """The keyed hash a destination is known by (the same as :attr:`Contact.lookup`)."""
    return contact_lookup(keys, channel, address)


def enqueue(
    session: Session | AsyncSession,
    keys: IntakeKeys,
    target: ContactValues | tuple[str, str],
    payload: Payload,
    *,
    case_id: int | None = None,
    kind: str = "reply",
    keep: bool = False,
    not_before: datetime | None = None,
    detached: bool = False,
    replaceable: bool = False,
) -> OutboxMessage | None:
    """Queue one message in the caller's transaction; it is sent after the commit.

    ``target`` is a contact (its sealed address is copied) or ``(channel, address)``
    (e.g. ``("telegram", "@channel")`` for channel posts). Nothing is queued for a contact
    marked unreachable (it blocked the bot): returns ``None``. ``keep`` seals the text to the
    case key once sent (operator replies); otherwise it is erased once sent. ``detached``
    leaves the row unlinked from a contact that is being deleted, and from its case
    (``/forget``).

    Synchronous (it only adds a row), so it serves async sessions and the synchronous units
    of work of :meth:`haven.store.db.Store.run_sync` alike.
    """
    values = row_values(
        keys,
        target,
        payload,
        case_id=case_id,
        kind=kind,
        keep=keep,
        not_before=not_before,
        detached=detached,
        replaceable=replaceable,
    )
    if values is None:
        return None
    row = OutboxMessage(**values)
    session.add(row)
    return row


def row_values(
    keys: IntakeKeys,
    target: ContactValues | tuple[str, str],
    payload: Payload,
    *,
    case_id: int | None,
    kind: str,
    keep: bool = False,
    not_before: datetime | None = None,
    detached: bool = False,
    replaceable: bool = False,
) -> dict[str, object] | None:
    """The columns of one outbox row (see :func:`enqueue`); ``None`` for an unreachable
    contact."""
    if not isinstance(target, tuple):
        if target.unreachable:
            log.info("outbox event=skipped_unreachable contact=%s", target.id)
            return None
        channel, chat, address = target.channel, target.lookup, target.address
        contact_id = None if detached else target.id
        if detached:
            case_id = None  # nothing links the message to the erased case
        elif case_id is None:
            case_id = target.case_id
    else:
        channel, plain = target
        chat = chat_key(keys, channel, plain)
        address = keys.seal_routing(plain.encode("utf-8"))
        contact_id = None
    return {
        "channel": channel,
        "chat": chat,
        "address": address,
        "contact_id": contact_id,
        "case_id": case_id,
        "kind": kind,
        "rank": RANKS[kind],
        "replaceable": replaceable and RANKS[kind] in AUTOMATED,
        "payload": keys.seal_routing(payload.encode()),
        "keep": keep,
        "state": PENDING,
        "attempts": 0,
        "next_at": not_before or utcnow(),
    }


class Outbox:
    """Where the intake writes replies (``Intake.handle(..., deliver=True)``), in the same
    transaction as the state change, a whole batch's rows with one statement."""

    def __init__(
        self, keys: IntakeKeys, text_max: int = 4096, wipe_after: float | None = None
    ) -> None:
        self.keys = keys
        self.text_max = text_max
        #: Seconds of silence after which a private chat is emptied; the applicant's messages
        #: are noted in the chat log (:mod:`.chatlog`). ``None``: nothing is noted.
        self.wipe_after = wipe_after

    def rows(
        self,
        contact: ContactValues,
        replies: Sequence[Reply],
        *,
        case_id: int | None,
        context: str | None,
        detached: bool = False,
        kind: str = "reply",
        replaceable: bool = False,
    ) -> list[dict[str, object]]:
        """The outbox rows of one input's replies, for :meth:`write`: ``kind`` ``reply`` in a
        conversation under way, ``first`` for a new one; ``replaceable`` unless the replies
        carry what the applicant must get (the completion, an erasure's confirmation)."""
        rows = []
        for payload in payloads_for(replies, context, self.text_max):
            values = row_values(
                self.keys,
                contact,
                payload,
                case_id=case_id,
                kind=kind,
                detached=detached,
                replaceable=replaceable,
            )
            if values is not None:
                rows.append(values)
        return rows

    def write(self, session: Session, rows: list[dict[str, object]]) -> None:
        """Queue rows made by :meth:`rows` in one INSERT, with no ORM object per row (the
        intake's hot path; a statement costs far more than a row here).

        The replaceable replies still waiting for the same chats are dropped first: the chat
        has written again, and the newer reply replaces them instead of following them."""
        if not rows:
            return
        connection = session.connection()
        chats = sorted({str(r["chat"]) for r in rows})
        for start in range(0, len(chats), 500):
            connection.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.chat.in_(chats[start : start + 500]),
                    OutboxMessage.state == PENDING,
                    OutboxMessage.replaceable.is_(True),
                )
            )
        connection.execute(insert(OutboxMessage), rows)

    def note(
        self, session: Session, seen: Sequence[tuple[ContactValues, int]], at: datetime
    ) -> None:
        """Note the applicant's messages (contact, message id) of private chats in the chat log,
        in the caller's transaction: the transaction that handles them, so that an id is
        durable before anything is answered to it, at no commit of its own."""
        if self.wipe_after is None or not seen:
            return
        written = [
            chatlog.Written(c.channel, c.lookup, c.address, message_id, at)
            for c, message_id in seen
        ]
        chatlog.note(session, self.keys, written, self.wipe_after)

    def forget(self, session: Session, contact: ContactValues) -> None:
        """Erase every message to this contact's chat, sent or not, and have the chat
        itself emptied at once (``/forget``)."""
        session.execute(delete(OutboxMessage).where(OutboxMessage.chat == contact.lookup))
        chatlog.forget(session, contact.lookup)

    def enqueue(
        self,
        session: Session | AsyncSession,
        target: ContactValues | tuple[str, str],
        payload: Payload,
        **kwargs: object,
    ) -> OutboxMessage | None:
        return enqueue(session, self.keys, target, payload, **kwargs)  # type: ignore[arg-type]


async def drop_chat(session: AsyncSession, chat: str, reason: str) -> int:
    """Stop sending to a chat: its pending messages are dropped and their texts erased."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat == chat, OutboxMessage.state.in_((PENDING, SENDING)))
        .values(state=DROPPED, payload=None, error=reason, lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def backlog(session: AsyncSession, channel: str | None = None) -> int:
    """How many automated messages (all but operator messages) wait or are under way, of one
    channel or of all: what the intake's admission keeps within a few seconds of sending
    (each bot sends at its own rate)."""
    query = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state.in_((PENDING, SENDING)), OutboxMessage.rank > OPERATOR)
    )
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return int(await session.scalar(query) or 0)
