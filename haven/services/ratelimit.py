"""Inbound rate limits: one limiter, whose rules (each sender's own limit, the limit everyone
shares, a reserve for senders that have earned their turn) are data (:class:`Rules`).

The counters are in-process and stay cheap however many keys there are.

The ``limits`` library's ``MemoryStorage`` expires its keys with a timer that walks every key a
hundred times a second. With a limit per chat or per browser session, a flood from thousands
of senders would spend the CPU there, exactly when genuine applicants must still be answered
(measured: 12% of the process at 300 new chats a second). :class:`LazyMemoryStorage` is a
``limits`` storage whose counters live in a bounded ``cachetools.TLRUCache`` instead: expired
counters are dropped lazily as new ones come in, and the oldest are evicted past ``maxsize``.
It serves ``limits.FixedWindowRateLimiter`` (the strategy that needs only counters).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from cachetools import TLRUCache
from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from haven.services import metrics

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


#: One limit and the key it is counted under.
Check = tuple[RateLimitItem, str]


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


class Limiter:
    """Counts inbound events by :class:`Rules`, in this process's memory.

    An event refused by one limit is counted against none (a genuine sender refused during
    a flood keeps its own quota for when the flood is over).
    """

    def __init__(self, rules: Rules, maxsize: int = MAXSIZE, *, name: str = "inbound") -> None:
        self.rules = rules
        self.limiter = limiter(maxsize)
        #: What the refusals are counted as (:data:`haven.services.metrics.LIMITS`).
        self.name = name

    def hit(self, sender: str | None = None, *, ahead: bool = False, own_only: bool = False) -> int:
        """Count one event of ``sender`` (``None``: the shared limit only): 0, or the seconds
        until the longest-blocked limit frees (and nothing was counted). ``own_only`` counts
        it against the sender's own limit alone.

        ``ahead`` is for a sender that has earned its turn (a server-recorded proof, not
        something it claims): only its own limit and the reserve can stop it, and it takes
        its share of the shared limit first, so that everyone else competes for what it
        leaves. With the reserve full (or none) it competes like anyone."""
        wait = self._decide(sender, ahead, own_only)
        if wait:
            metrics.count("rate_limit_refusals", self.name)
        return wait

    def _decide(self, sender: str | None, ahead: bool, own_only: bool) -> int:
        rules = self.rules
        own: list[Check] = [(rules.own, sender)] if rules.own and sender is not None else []
        shared: list[Check] = [] if own_only or not rules.shared else [(rules.shared, "all")]
        if not ahead:
            return self._hit(own + shared)
        reserve: list[Check] = [(rules.reserve, "reserve")] if rules.reserve else []
        wait = self._hit(own + reserve)
        if not wait:
            for item, key in shared:
                self.limiter.hit(item, key)  # counted even past the limit: it goes first
            return 0
        if reserve and not self._retry_after(own):
            return self._hit(own + shared)
        return wait

    def _hit(self, checks: list[Check]) -> int:
        wait = self._retry_after(checks)
        if wait:
            return wait
        for item, key in checks:
            self.limiter.hit(item, key)
        return 0

    def _retry_after(self, checks: list[Check]) -> int:
        wait = 0
        for item, key in checks:
            if not self.limiter.test(item, key):
                reset = self.limiter.get_window_stats(item, key).reset_time
                wait = max(wait, math.ceil(reset - time.time()), 1)
        return wait
