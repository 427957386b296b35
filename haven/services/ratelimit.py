"""In-process rate limits that stay cheap however many keys there are.

The ``limits`` library's ``MemoryStorage`` expires its keys with a timer that walks every key a
hundred times a second. With a limit per chat or per browser session, a flood from thousands
of senders would spend the CPU there, exactly when genuine applicants must still be answered
(measured: 12% of the process at 300 new chats a second). :class:`LazyMemoryStorage` is a
``limits`` storage whose counters live in a bounded ``cachetools.TLRUCache`` instead: expired
counters are dropped lazily as new ones come in, and the oldest are evicted past ``maxsize``.
It serves ``limits.FixedWindowRateLimiter`` (the strategy that needs only counters).
"""

from __future__ import annotations

import threading
import time

from cachetools import TLRUCache
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

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
