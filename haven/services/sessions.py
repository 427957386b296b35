"""Console sessions, held in the console process's memory only: the intake writes the same
database, and a session row it could add would be a login.

A session keeps the fingerprint of its account row as it was when it opened
(:func:`haven.services.seals.fingerprint`): the caller ends the session when the row has
changed behind the console's back. Tokens are kept as their SHA-256 only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from haven import crypto

#: The longest a session lives, however busy.
SESSION_MAX_HOURS = 12
#: The longest a session waits for its TOTP code.
HALF_OPEN_MINUTES = 15
#: Sessions held at once (the oldest idle one goes first beyond it).
SESSIONS_MAX = 10_000
#: Longer tokens are not looked up.
TOKEN_MAX = 200


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Live:
    """A session; ``fingerprint`` is its account row as it was when the session opened."""

    user_id: int
    stage: str  # password (TOTP still due) | full
    csrf: str
    created_at: datetime
    last_seen: datetime
    fingerprint: str


class Sessions:
    """The live sessions of one console process, by the digest of their token."""

    def __init__(self, *, idle: timedelta, clock: Callable[[], datetime]) -> None:
        self.idle = idle
        self.clock = clock
        self._live: dict[str, Live] = {}

    def open(self, user_id: int, stage: str, fingerprint: str) -> str:
        """A new session; returns its token (shown once, in the cookie)."""
        token = crypto.random_token(32)
        now = self.clock()
        if len(self._live) >= SESSIONS_MAX:
            self.purge()
        while len(self._live) >= SESSIONS_MAX:
            oldest = min(self._live, key=lambda k: self._live[k].last_seen)
            del self._live[oldest]
        self._live[digest(token)] = Live(
            user_id=user_id,
            stage=stage,
            csrf=crypto.random_token(24),
            created_at=now,
            last_seen=now,
            fingerprint=fingerprint,
        )
        return token

    def get(self, token: str) -> tuple[str, Live] | None:
        """The key and the session of ``token``, unless unknown or run out (then dropped)."""
        if not token or len(token) > TOKEN_MAX:
            return None
        key = digest(token)
        live = self._live.get(key)
        if live is None:
            return None
        if self.expired(live):
            del self._live[key]
            return None
        return key, live

    def peek(self, token: str) -> Live | None:
        """The session of ``token`` as it is, run out or not."""
        return self._live.get(digest(token)) if token else None

    def drop(self, key: str) -> None:
        self._live.pop(key, None)

    def pop(self, token: str) -> Live | None:
        """End the session of ``token``; returns it if there was one."""
        return self._live.pop(digest(token), None) if token else None

    def end_user(self, user_id: int) -> None:
        """End every session of ``user_id``."""
        for key in [k for k, live in self._live.items() if live.user_id == user_id]:
            del self._live[key]

    def expired(self, live: Live) -> bool:
        now = self.clock()
        return (
            now - live.last_seen > self.idle
            or now - live.created_at > timedelta(hours=SESSION_MAX_HOURS)
            or (
                live.stage != "full"
                and now - live.created_at > timedelta(minutes=HALF_OPEN_MINUTES)
            )
        )

    def purge(self) -> int:
        """Drop sessions that have run out (housekeeping)."""
        gone = [k for k, live in self._live.items() if self.expired(live)]
        for key in gone:
            del self._live[key]
        return len(gone)
