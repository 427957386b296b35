"""Inbound rate limits: one limiter, whose rules (each sender's own limit, the limit everyone
shares, a reserve for senders that have earned their turn) are data (:class:`Rules`).

Where the counters live is the limiter's :class:`Counters`: in this process's memory
(:class:`MemoryCounters`, one process on SQLite), or in the database, where every intake
process counts in the same place (:class:`DbCounters`, PostgreSQL;
docs/adr/0012-shared-limits.md). A limit everyone shares is taken from the database a chunk
at a time (:meth:`Counters.chunk`), so that it costs a round trip per chunk, not per event.

The ``limits`` library's ``MemoryStorage`` expires its keys with a timer that walks every key a
hundred times a second. With a limit per chat or per browser session, a flood from thousands
of senders would spend the CPU there, exactly when genuine applicants must still be answered
(measured: 12% of the process at 300 new chats a second). :class:`LazyMemoryStorage` is a
``limits`` storage whose counters live in a bounded ``cachetools.TLRUCache`` instead: expired
counters are dropped lazily as new ones come in, and the oldest are evicted past ``maxsize``.
It serves ``limits.FixedWindowRateLimiter`` (the strategy that needs only counters).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import TLRUCache
from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from haven.services import metrics
from haven.store import counters as db_counters
from haven.store.batch import Coalesce
from haven.store.db import Store

MAXSIZE = 200_000


def _expires(_key: str, value: list[float], _now: float) -> float:
    return value[1]


class LazyMemoryStorage(Storage):
    """Fixed-window counters ``key -> [count, expiry]`` in a lazily expiring, bounded map."""

    STORAGE_SCHEME = ["haven-lazy-memory"]  # noqa: RUF012 - the base class declares it so

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        maxsize: int = MAXSIZE,
        **options: float | str | bool,
    ) -> None:
        self._counters: TLRUCache[str, list[float]] = TLRUCache(
            maxsize=maxsize, ttu=_expires, timer=time.time
        )
        self._lock = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._lock:
            entry = self._counters.get(key)
            if entry is None:
                entry = [0, time.time() + expiry]
                self._counters[key] = entry
            entry[0] += amount
            return int(entry[0])

    def get(self, key: str) -> int:
        with self._lock:
            entry = self._counters.get(key)
            return int(entry[0]) if entry is not None else 0

    def get_expiry(self, key: str) -> float:
        with self._lock:
            entry = self._counters.get(key)
            return entry[1] if entry is not None else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._counters)
            self._counters.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)


def limiter(maxsize: int = MAXSIZE) -> FixedWindowRateLimiter:
    """A rate limiter for many keys (chats, sessions, case references) in this process."""
    return FixedWindowRateLimiter(LazyMemoryStorage(maxsize=maxsize))


class Counters(Protocol):
    """Fixed-window counters: where a :class:`Limiter` counts."""

    async def add(self, key: str, amount: int, window: float) -> tuple[int, float]:
        """Count ``amount`` in ``key``'s window (a new one of ``window`` seconds once the last
        has expired): the count after it and the seconds the window has left."""
        ...

    async def sub(self, key: str, amount: int) -> None:
        """Take back what was counted in the running window."""
        ...

    async def hold(self, key: str, seconds: float) -> None:
        """Keep ``key``'s window running for at least ``seconds`` more."""
        ...

    def chunk(self, limit: int) -> int:
        """How much of a shared limit of ``limit`` a process takes at once."""
        ...

    def key(self, name: str, sender: str) -> str:
        """The counter's key for ``sender`` under the limit ``name``."""
        ...


class MemoryCounters:
    """Counters in this process's memory, bounded (:class:`LazyMemoryStorage`): exact, and
    the only process counts."""

    def __init__(self, maxsize: int = MAXSIZE) -> None:
        self.storage = LazyMemoryStorage(maxsize=maxsize)

    async def add(self, key: str, amount: int, window: float) -> tuple[int, float]:
        count = self.storage.incr(key, math.ceil(window), amount)
        return count, self.storage.get_expiry(key) - time.time()

    async def sub(self, key: str, amount: int) -> None:
        self.storage.incr(key, 0, -amount)

    async def hold(self, key: str, seconds: float) -> None:
        with self.storage._lock:
            entry = self.storage._counters.get(key)
            if entry is not None:
                self.storage._counters[key] = [entry[0], max(entry[1], time.time() + seconds)]

    def chunk(self, limit: int) -> int:
        return 1

    def key(self, name: str, sender: str) -> str:
        return f"{name}\x00{sender}"


#: The share of a shared limit one process takes from the database at once.
CHUNK_SHARE = 20


class DbCounters:
    """Counters in the database's ``rate_counters`` (:mod:`haven.store.counters`), seen by
    every intake process; keys are keyed hashes (``hasher``: the intake keys' lookup), never
    a chat id or a session id."""

    def __init__(self, store: Store, hasher: Callable[[str, str], str]) -> None:
        self.store = store
        self.hasher = hasher
        # What arrives while a statement is under way goes in the next: one round trip for
        # every event of that moment, however many.
        self._adds: Coalesce[db_counters.Add, tuple[int, float]] = Coalesce(
            lambda adds: db_counters.add_many(store, adds)
        )

    async def add(self, key: str, amount: int, window: float) -> tuple[int, float]:
        return await self._adds((key, amount, window))

    async def sub(self, key: str, amount: int) -> None:
        await db_counters.sub(self.store, key, amount)

    async def hold(self, key: str, seconds: float) -> None:
        await db_counters.hold(self.store, key, seconds)

    def chunk(self, limit: int) -> int:
        return max(1, limit // CHUNK_SHARE)

    def key(self, name: str, sender: str) -> str:
        return self.hasher("rate-limit", f"{name}\x00{sender}")


_SHARED: weakref.WeakKeyDictionary[Store, DbCounters] = weakref.WeakKeyDictionary()


def shared_counters(store: Store, hasher: Callable[[str, str], str]) -> Counters | None:
    """The counters every intake process shares: the database's on PostgreSQL (one per store,
    so that every limiter's events of a moment go in one statement); ``None`` (each limiter in
    memory) on SQLite, where one intake process is the only one."""
    if store.dialect != "postgresql":
        return None
    found = _SHARED.get(store)
    if found is None or found.hasher != hasher:
        found = _SHARED[store] = DbCounters(store, hasher)
    return found


@dataclass(frozen=True, slots=True)
class Rules:
    """What a :class:`Limiter` counts; a rule left out limits nothing."""

    #: Each sender's own limit (a chat, a browser session, a reference tried from a session).
    own: RateLimitItem | None = None
    #: The limit all senders share.
    shared: RateLimitItem | None = None
    #: Room kept for senders that have earned their turn, past the shared limit.
    reserve: RateLimitItem | None = None

    @classmethod
    def of(
        cls, own: str | None = None, shared: str | None = None, reserve: str | None = None
    ) -> Rules:
        """Rules from rates in the ``limits`` notation (``"20/minute"``)."""
        return cls(*(parse(rate) if rate else None for rate in (own, shared, reserve)))


@dataclass
class _Grant:
    """What this process holds of a shared limit's running window."""

    left: int
    until: float  # time.monotonic() at the window's end
    full: bool  # the window had no more room when last asked


class Limiter:
    """Counts inbound events by :class:`Rules` in its :class:`Counters` (``None``: this
    process's memory).

    An event refused by one limit is counted against none that could still admit others (a
    genuine sender refused during a flood keeps its own quota for when the flood is over;
    a limit already over stays over until its window ends, whatever more it counts).
    """

    def __init__(
        self,
        rules: Rules,
        maxsize: int = MAXSIZE,
        *,
        counters: Counters | None = None,
        name: str = "inbound",
    ) -> None:
        self.rules = rules
        self.counters: Counters = counters if counters is not None else MemoryCounters(maxsize)
        self.name = name
        self._grants: dict[str, _Grant] = {}
        self._fetching: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    def _key(self, item: RateLimitItem, sender: str) -> str:
        return self.counters.key(f"{self.name}/{item}", sender)

    async def hit(
        self, sender: str | None = None, *, ahead: bool = False, own_only: bool = False
    ) -> int:
        """Count one event of ``sender`` (``None``: the shared limit only): 0, or the seconds
        until the longest-blocked limit frees (and nothing was counted). ``own_only`` counts
        it against the sender's own limit alone.

        ``ahead`` is for a sender that has earned its turn (a server-recorded proof, not
        something it claims): only its own limit and the reserve can stop it, and it takes
        its share of the shared limit first, so that everyone else competes for what it
        leaves. With the reserve full (or none) it competes like anyone."""
        wait = await self._decide(sender, ahead, own_only)
        if wait:
            metrics.count("rate_limit_refusals", self.name)
        return wait

    async def _decide(self, sender: str | None, ahead: bool, own_only: bool) -> int:
        rules = self.rules
        own = rules.own if sender is not None else None
        shared = None if own_only else rules.shared
        if own is not None:
            assert sender is not None
            wait = await self._own(own, sender)
            if wait:
                return wait
        if not ahead or rules.reserve is None:
            wait = await self._shared(shared, force=ahead) if shared is not None else 0
        elif not await self._shared(rules.reserve):
            if shared is not None:
                await self._shared(shared, force=True)  # counted even past the limit
            wait = 0
        else:  # the reserve is full: it competes like anyone
            wait = await self._shared(shared) if shared is not None else 0
        if wait and own is not None:
            assert sender is not None
            await self.counters.sub(self._key(own, sender), 1)
        return wait

    async def over(self, sender: str, events: int = 1) -> int:
        """Count ``events`` against ``sender``'s own limit alone, at once: by how many events
        its window is past the limit now (0: within it; 1 for one event: it is the first
        over the limit, in whichever process)."""
        own = self.rules.own
        if own is None:
            return 0
        count, _left = await self.counters.add(self._key(own, sender), events, own.get_expiry())
        over = max(0, count - own.amount)
        if over:
            metrics.count("rate_limit_refusals", self.name, min(over, events))
        return over

    async def hold(self, sender: str, seconds: float) -> None:
        """Keep ``sender``'s own window (over its limit) closed for ``seconds`` more."""
        if self.rules.own is not None:
            await self.counters.hold(self._key(self.rules.own, sender), seconds)

    async def _own(self, item: RateLimitItem, sender: str) -> int:
        count, left = await self.counters.add(self._key(item, sender), 1, item.get_expiry())
        return 0 if count <= item.amount else max(1, math.ceil(left))

    async def _shared(self, item: RateLimitItem, *, force: bool = False) -> int:
        """Take one event's room in a shared limit: 0, or the seconds until it frees.
        ``force``: taken if there is room, and admitted all the same if there is none."""
        key = self._key(item, "all")
        wait = self._take(key, force)
        if wait is not None:
            return wait
        lock = self._fetching.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:  # one fetch at a time; those that waited find its chunk
                wait = self._take(key, force)
                if wait is not None:
                    return wait
                # Enough for everyone waiting here: a burst costs one round trip, not one
                # per chunk.
                waiting = self._waiting[key]
                chunk = self.counters.chunk(item.amount)
                if chunk > 1:
                    chunk = max(chunk, min(waiting, item.amount // 4))
                return await self._fetch(item, key, chunk, force)
        finally:
            self._waiting[key] -= 1

    async def _fetch(self, item: RateLimitItem, key: str, chunk: int, force: bool) -> int:
        """Take ``chunk`` of a shared limit from the counters, then one event's room of it."""
        count, left = await self.counters.add(key, chunk, item.get_expiry())
        granted = max(0, min(chunk, item.amount - (count - chunk)))
        self._grants[key] = _Grant(granted, time.monotonic() + left, count >= item.amount)
        if len(self._grants) > 1000:
            self._grants = {key: self._grants[key]}
        taken = self._take(key, force)
        return max(1, math.ceil(left)) if taken is None else taken

    def _take(self, key: str, force: bool) -> int | None:
        """From what this process holds: 0 (taken), the seconds to wait (the window is
        full), or ``None`` (ask the counters)."""
        grant = self._grants.get(key)
        now = time.monotonic()
        if grant is None or now >= grant.until:
            return None
        if grant.left > 0:
            grant.left -= 1
            return 0
        if grant.full:
            return 0 if force else max(1, math.ceil(grant.until - now))
        return None
