"""What is in each private chat, so that the bot can empty it again.

Telegram lets a bot delete the messages of a private chat, its own and the other side's, for
48 hours. For each message of that time the chat log keeps the message id under the routing
key, the chat by its keyed hash (:func:`~haven.outbox.queue.chat_key`, the same as
``Contact.lookup``) and when it was written; nothing else. One :class:`ChatWipe` row per chat
says when the chat is to be emptied: ``wipe_after`` after its last message (``idle``), or at
once after an erasure (``forget``, see :meth:`haven.outbox.Outbox.forget`). The
:class:`~haven.outbox.wipe.Wiper` carries it out.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, case, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from haven.crypto import IntakeKeys
from haven.domain.cases import Channel, medium
from haven.store.db import Store
from haven.store.models import ChatMessage, ChatWipe, utcnow

log = logging.getLogger("haven.outbox")

#: How long Telegram lets a bot delete a message of a private chat.
DELETABLE = timedelta(hours=48)
#: Deletions are tried only this far inside that window (clocks differ, a backlog takes time).
DELETE_WITHIN = DELETABLE - timedelta(minutes=10)


@dataclass(frozen=True)
class Written:
    """One message written in a private chat: by the bot or by the applicant."""

    channel: str
    chat: str  # the keyed hash
    address: bytes  # the chat id under the routing key
    message_id: int
    at: datetime


def is_private(channel: str, address: str) -> bool:
    """A one-to-one chat (Telegram: a user's positive numeric id; channels and groups are
    ``@name`` or negative)."""
    return medium(channel) == Channel.telegram.value and address.isdigit()


def note(session: Session, keys: IntakeKeys, written: Sequence[Written], wipe_after: float) -> None:
    """Record messages in the caller's transaction and move each chat's wipe on to
    ``wipe_after`` seconds after its newest message (a pending ``forget`` wipe keeps its time).

    Synchronous (a few Core statements); async callers use ``session.run_sync``.
    """
    if not written:
        return
    connection = session.connection()
    connection.execute(
        insert(ChatMessage),
        [
            {"chat": w.chat, "message": keys.seal_routing(str(w.message_id).encode()), "at": w.at}
            for w in written
        ],
    )
    latest: dict[str, Written] = {}
    for w in written:
        if w.chat not in latest or latest[w.chat].at < w.at:
            latest[w.chat] = w
    statement = _wipe_upsert(connection.dialect.name)
    connection.execute(
        statement,
        [
            {
                "chat": chat,
                "channel": latest[chat].channel,
                "address": latest[chat].address,
                "reason": "idle",
                "due_at": latest[chat].at + timedelta(seconds=wipe_after),
                "attempts": 0,
            }
            for chat in sorted(latest)  # one order for every writer: no deadlock between two
        ],
    )


@functools.cache
def _wipe_upsert(dialect: str) -> Insert:
    """A chat's wipe moved on to a later time (kept when a ``forget`` wipe is pending), built
    once: making the statement costs more than running it."""
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(ChatWipe)
    return statement.on_conflict_do_update(
        index_elements=[ChatWipe.chat],
        set_={
            "due_at": case(
                (ChatWipe.reason == "forget", ChatWipe.due_at),
                (ChatWipe.due_at > statement.excluded.due_at, ChatWipe.due_at),
                else_=statement.excluded.due_at,
            )
        },
    )


def forget(session: Session, chat: str) -> None:
    """The applicant erased himself: empty his chat now (in the erasure's transaction)."""
    session.execute(
        update(ChatWipe).where(ChatWipe.chat == chat).values(reason="forget", due_at=utcnow())
    )


@dataclass
class _Pending:
    items: list[Written]
    future: asyncio.Future[None]


class ChatLog:
    """Records the applicant's messages as they arrive, many inputs in one transaction
    (group commit): :meth:`note` returns once they are committed."""

    def __init__(self, store: Store, keys: IntakeKeys, wipe_after: float) -> None:
        self.store = store
        self.keys = keys
        self.wipe_after = wipe_after
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    def written(self, channel: str, chat: str, address: str, message_id: int) -> Written:
        return Written(
            channel, chat, self.keys.seal_routing(address.encode("utf-8")), message_id, utcnow()
        )

    async def note(self, items: Sequence[Written]) -> None:
        if not items:
            return
        loop = asyncio.get_running_loop()
        pending = _Pending(list(items), loop.create_future())
        self._pending.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write(), context=contextvars.Context())
        await pending.future

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            items = [w for p in batch for w in p.items]
            try:
                async with self.store.transaction() as session:
                    await session.run_sync(note, self.keys, items, self.wipe_after)
            except Exception as exc:
                log.error("outbox event=chat_log_failed type=%s", type(exc).__name__)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p in batch:
                if not p.future.done():
                    p.future.set_result(None)
