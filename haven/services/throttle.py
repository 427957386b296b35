"""The slow-down after failed console logins, and the budget of password checks.

After :data:`SLOW_AFTER` failed attempts (password or TOTP) each attempt on a name must wait
1, 2, 4… seconds, the same for a name that exists and one that does not; the wait ends by
itself. Password checks (argon2, tens of milliseconds of CPU each) run in a few threads,
never on the event loop, under one budget for whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from haven.store.models import User

#: Failed logins after which each attempt must wait.
SLOW_AFTER = 3
#: The longest wait between two attempts on one name (``haven user unlock`` lifts it at once).
SLOW_MAX_SECONDS = 900
#: Password checks run at most this many at a time.
LOGIN_WORKERS = 2
#: Password checks allowed overall, whoever asks: the rest are told to wait a second.
LOGIN_BUDGET = "10/second"
#: Names that are no account, whose failures are remembered.
STRANGERS_MAX = 50_000


class LoginThrottle:
    """How long a name must wait, counted on its account row, or here for a name that is no
    account (so that no answer tells the two apart)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        hasher: PasswordHasher,
        slow_after: int = SLOW_AFTER,
        login_budget: str = LOGIN_BUDGET,
    ) -> None:
        self.clock = clock
        self.hasher = hasher
        self.slow_after = slow_after
        self._workers = anyio.CapacityLimiter(LOGIN_WORKERS)
        self._budget = parse_limit(login_budget)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        #: Failures of names that are no account (or a disabled one): (count, wait until).
        self._strangers: TTLCache[str, tuple[int, datetime | None]] = TTLCache(
            maxsize=STRANGERS_MAX, ttl=2 * SLOW_MAX_SECONDS
        )

    def in_budget(self) -> bool:
        """Whether one more password check fits the overall budget (counted now)."""
        return self._limiter.hit(self._budget, "login")

    def wait(self, failures: int) -> timedelta | None:
        """How long a name must wait after ``failures`` failed attempts (None: not at all)."""
        if failures < self.slow_after:
            return None
        return timedelta(seconds=min(2 ** (failures - self.slow_after), SLOW_MAX_SECONDS))

    def retry_after(self, until: datetime | None) -> int | None:
        """Whole seconds left until ``until``, or None once it has passed."""
        now = self.clock()
        if until is not None and until > now:
            return max(1, int((until - now).total_seconds() + 0.999))
        return None

    def fail(self, user: User) -> None:
        """Count a failed attempt on ``user``'s row, and set its wait."""
        user.failed_logins += 1
        wait = self.wait(user.failed_logins)
        user.locked_until = self.clock() + wait if wait is not None else None

    def stranger(self, key: str) -> int | None:
        """An attempt on a name that is no account (``key``: its keyed lookup): the seconds it
        must still wait (the attempt is then not counted), or None once counted."""
        failures, until = self._strangers.get(key, (0, None))
        left = self.retry_after(until)
        if left is not None:
            return left
        wait = self.wait(failures + 1)
        self._strangers[key] = (failures + 1, self.clock() + wait if wait else None)
        return None

    async def verify(self, password_hash: str, password: str) -> bool:
        """The password check, in one of the few worker threads."""
        return await anyio.to_thread.run_sync(
            self._verify, password_hash, password, limiter=self._workers
        )

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False
