"""Fairness under overload: which update is handled next, and how fast.

* :class:`FloodGuard`: a chat over the per-chat limit gets one notice and is then ignored
  for a while; nothing is handled faster than the global limit.
* :class:`Admission`: chats that never wrote before get their share of turns, newest first
  (docs/adr/0004-fair-under-overload.md).
* :class:`OutboxRoom`: no more updates are handled while the outbox holds a few seconds of
  replies, so that admission, not the outbox's queue, decides who is answered first.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from aiogram.types import Update

from haven.crypto import IntakeKeys
from haven.outbox import backlog
from haven.services import ratelimit
from haven.settings import Settings
from haven.store.db import Store

log = logging.getLogger("haven.telegram")


class FloodGuard:
    """Per-chat and global limits on what the bot accepts, counted in ``counters`` (shared by
    every intake process on PostgreSQL; this process's memory when ``None``)."""

    def __init__(
        self,
        per_chat: str,
        overall: str,
        pause: float,
        counters: ratelimit.Counters | None = None,
    ) -> None:
        self.limits = ratelimit.Limiter(
            ratelimit.Rules.of(own=per_chat, shared=overall), counters=counters, name="telegram"
        )
        self.pause = pause
        #: Chats this process knows to be muted (saves asking the counters again).
        self.muted: dict[str, float] = {}

    @classmethod
    def of(cls, settings: Settings, store: Store, keys: IntakeKeys) -> FloodGuard:
        """The intake process's guard, as configured, on the counters every process shares
        (PostgreSQL), or in this process's memory (SQLite)."""
        return cls(
            settings.intake_per_chat_limit,
            settings.intake_global_limit,
            settings.telegram_flood_pause_seconds,
            ratelimit.shared_counters(store, keys.lookup),
        )

    async def check(self, chat: str, events: int = 1) -> list[str]:
        """For each of a chat's ``events`` in order (counted at once): ``ok``, ``notice``
        (the first over the limit: tell once, whichever process sees it) or ``ignore``."""
        now = time.monotonic()
        until = self.muted.get(chat)
        if until is not None:
            if now < until:
                return ["ignore"] * events
            del self.muted[chat]
        over = await self.limits.over(chat, events)
        if not over:
            return ["ok"] * events
        self.muted[chat] = now + self.pause
        if len(self.muted) > 50_000:
            self.muted = {k: v for k, v in self.muted.items() if v > now}
        within = max(0, events - over)
        verdicts = ["ok"] * within + ["ignore"] * (events - within)
        if over <= events:  # the first over the limit is one of these
            verdicts[within] = "notice"
            await self.limits.hold(chat, self.pause)  # muted for every process
        return verdicts

    async def admit(self) -> None:
        """Wait for room under the global limit. Counters out of reach (the database away)
        admit: the update then fails in the intake and is delivered again."""
        while True:
            try:
                if not await self.limits.hit():
                    return
            except Exception as exc:
                log.warning("telegram event=limits_unavailable type=%s", type(exc).__name__)
                return
            await asyncio.sleep(0.005)


@dataclass
class Item:
    """An update waiting for its turn."""

    update: Update
    seq: int  # order of arrival
    row: int | None = None  # its inbox row (polling); ``None`` from the webhook
    future: asyncio.Future[None] | None = None
    failures: int = 0


@dataclass
class Chat:
    """A chat with updates waiting, in order."""

    address: str
    lookup: str
    fresh: bool  # its next turn is the first of a chat that never wrote before
    items: deque[Item] = field(default_factory=deque)
    busy: bool = False  # one update of a chat at a time, in order


class Admission:
    """Which chat's update is handled next (docs/adr/0004-fair-under-overload.md).

    Chats that have never written before and the others take turns, the new ones getting
    ``new_share`` of the turns while both wait, so that a newcomer's first turn comes quickly
    in a surge and a many-account flood of new chats still cannot take every turn. Within
    each kind the chat whose waiting update is newest goes first: once a backlog forms, a
    fresh conversation is worth more than a stale one. A chat has one update handled at a
    time, in order."""

    def __init__(self, new_share: float = 0.5) -> None:
        self.new_share = new_share
        self.chats: dict[str, Chat] = {}
        self._ready: dict[bool, list[tuple[int, str]]] = {True: [], False: []}
        self._changed = asyncio.Event()
        self._turns = 0.0  # turns of new chats minus their share of all turns
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, address: str, lookup: str, item: Item, fresh: bool) -> None:
        chat = self.chats.get(address)
        if chat is None:
            chat = self.chats[address] = Chat(address, lookup, fresh)
        chat.items.append(item)
        if len(chat.items) == 1 and not chat.busy:
            self._push(chat)

    def _push(self, chat: Chat) -> None:
        heapq.heappush(self._ready[chat.fresh], (-chat.items[0].seq, chat.address))
        self._changed.set()

    def _pop(self, fresh: bool) -> Chat | None:
        heap = self._ready[fresh]
        while heap:
            seq, address = heapq.heappop(heap)
            chat = self.chats.get(address)
            if (
                chat is not None
                and not chat.busy
                and chat.items
                and chat.fresh == fresh
                and chat.items[0].seq == -seq
            ):
                return chat
        return None

    def waiting(self) -> bool:
        return bool(self._ready[True] or self._ready[False])

    async def ready(self) -> None:
        """Wait until some chat has an update to hand out."""
        while not self.waiting():
            self._changed.clear()
            await self._changed.wait()

    def take(self) -> tuple[Chat, Item] | None:
        """The next turn, or ``None`` when nothing waits."""
        prefer_new = self._turns <= 0
        chat = self._pop(prefer_new) or self._pop(not prefer_new)
        if chat is None:
            return None
        if self._ready[not chat.fresh]:
            self._turns += (1.0 if chat.fresh else 0.0) - self.new_share
        else:
            self._turns = 0.0  # one kind alone: nothing is owed to the other
        chat.busy = True
        return chat, chat.items.popleft()

    def done(self, chat: Chat, item: Item | None = None) -> None:
        """The chat's turn is over; ``item`` is put back first to be tried again."""
        chat.busy = False
        if item is not None:
            chat.items.appendleft(item)
        else:
            chat.fresh = False
        if chat.items:
            self._push(chat)
        else:
            del self.chats[chat.address]

    @property
    def backlog(self) -> int:
        return sum(len(c.items) + c.busy for c in self.chats.values())


class OutboxRoom:
    """Turns wait while the outbox holds ``room`` automated messages: handling more then
    would only queue replies behind replies, where admission no longer chooses. ``None``:
    no limit."""

    def __init__(self, store: Store, room: int | None, channel: str | None = None) -> None:
        self.store = store
        self.room = room
        #: The bot's channel whose messages count (``None``: every channel's).
        self.channel = channel
        self._backlog = 0
        self._in_flight = 0  # turns being handled ...
        self._finished = 0  # ... and finished since the outbox was last counted

    async def wait(self) -> None:
        """Wait for room in the outbox."""
        if self.room is None:
            return
        while self._backlog + self._in_flight + self._finished >= self.room:  # noqa: ASYNC110 - a count another task refreshes
            await asyncio.sleep(0.01)

    def started(self) -> None:
        self._in_flight += 1

    def finished(self) -> None:
        self._in_flight -= 1
        self._finished += 1

    async def count_forever(self) -> None:
        """Count the outbox's automated messages every tenth of a second, beside the turns
        (a count waits for SQLite's writer: the turns must not)."""
        while True:
            try:
                finished = self._finished
                async with self.store.transaction() as session:
                    count = await backlog(session, self.channel)
                self._backlog, self._finished = count, self._finished - finished
            except Exception:
                log.exception("telegram event=outbox_count_failed")
            await asyncio.sleep(0.1)
