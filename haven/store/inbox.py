"""Channel updates taken but not handled yet: stored before they are confirmed to the channel,
so that a process killed with a backlog loses none of them, and erased once handled.

The rows hold the update under the routing key and the chat by keyed hash only; sealing is
the caller's (it holds the keys).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .db import Store, mark_wipe
from .models import Contact, InboxUpdate, ProcessedUpdate


async def take(
    store: Store, rows: Sequence[dict[str, object]], chats: Collection[str] = ()
) -> tuple[dict[str, int], set[str]]:
    """Store updates (``channel``, ``key``, ``chat``, ``body``, ``at``) in one transaction,
    skipping those stored or handled before. Returns the new ones' ids by key, and which of
    ``chats`` (keyed hashes) have written before (they have a contact).

    Through :meth:`Store.run_sync` (the hot path: one hand-over to the store's thread)."""
    if not rows and not chats:
        return {}, set()
    keys = [str(r["key"]) for r in rows]
    wanted = list(chats)

    def work(session: Session) -> tuple[dict[str, int], set[str]]:
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            known.update(session.scalars(select(Contact.lookup).where(Contact.lookup.in_(part))))
        handled = set(
            session.scalars(select(ProcessedUpdate.key).where(ProcessedUpdate.key.in_(keys)))
        )
        fresh = [r for r in rows if r["key"] not in handled]
        if not fresh:
            return {}, known
        connection = session.connection()
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(InboxUpdate).on_conflict_do_nothing().returning(InboxUpdate.key, InboxUpdate.id)
        )
        result = connection.execute(statement, list(fresh))
        return {str(key): int(row_id) for key, row_id in result.all()}, known

    return await store.run_sync(work)


async def pending(store: Store, channel: str) -> list[InboxUpdate]:
    """Every update of the channel still to be handled, in the order taken."""
    async with store.transaction() as session:
        query = select(InboxUpdate).where(InboxUpdate.channel == channel).order_by(InboxUpdate.id)
        return list((await session.scalars(query)).all())


async def known_chats(store: Store, chats: Collection[str]) -> set[str]:
    """The chats (keyed hashes) that have written before: they have a contact."""
    async with store.transaction() as session:
        return await _known(session, chats)


async def known_each(store: Store, chats: list[str]) -> list[bool]:
    """For each chat (keyed hash), whether it has written before: one autocommit statement."""
    query = select(Contact.lookup).where(Contact.lookup.in_(set(chats)))
    async with store.autocommit().connect() as connection:
        found = set((await connection.scalars(query)).all())
    return [chat in found for chat in chats]


async def _known(session: AsyncSession, chats: Collection[str]) -> set[str]:
    found: set[str] = set()
    chats = list(chats)
    for start in range(0, len(chats), 500):
        part = chats[start : start + 500]
        found.update(await session.scalars(select(Contact.lookup).where(Contact.lookup.in_(part))))
    return found


async def erase(store: Store, ids: Collection[int], *, wipe: bool = False) -> None:
    """Erase handled updates; ``wipe`` has them go from SQLite's log at once too (after an
    erasure of the chat)."""
    ids = list(ids)
    if not ids:
        return
    async with store.transaction() as session:
        for start in range(0, len(ids), 500):
            await session.execute(
                delete(InboxUpdate).where(InboxUpdate.id.in_(ids[start : start + 500]))
            )
        if wipe:
            mark_wipe(session)


async def erase_chat(store: Store, chat: str, up_to: int) -> None:
    """After the chat was erased (``/forget``): every update of it up to ``up_to`` (the
    ``/forget`` itself) goes at once, and from SQLite's log; later ones are still to be
    handled."""
    async with store.transaction() as session:
        await session.execute(
            delete(InboxUpdate).where(InboxUpdate.chat == chat, InboxUpdate.id <= up_to)
        )
        mark_wipe(session)
