"""The case private key of this console process: unlocked once, by an admin or from
``HAVEN_PASSPHRASE``; while it is locked the console shows metadata only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio

from haven import crypto
from haven.store.models import utcnow

log = logging.getLogger("haven.console")

#: Wrong passphrases after which each further attempt waits 1, 2, 4… seconds, whoever tries:
#: a forged admin of a locked console must not get a fast oracle for the passphrase.
UNLOCK_FREE = 3
UNLOCK_MAX_WAIT = 900


class UnlockThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong passphrases: wait {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class UnlockInfo:
    by: str
    at: datetime


class KeyHolder:
    def __init__(self, keys_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.keys_dir = keys_dir
        self._keyring: crypto.CaseKeyring | None = None
        self.info: UnlockInfo | None = None
        self._lock = asyncio.Lock()
        self._clock = clock
        self._failures = 0
        self._wait_until = 0.0

    @property
    def keyring(self) -> crypto.CaseKeyring | None:
        """The unlocked keyring; None while locked, and again once ``haven keys rotate`` has
        made a key this keyring does not hold (an admin unlocks with the new one)."""
        keyring = self._keyring
        if keyring is not None and keyring.intake.key_id not in keyring.key_ids:
            log.info("console event=relocked why=key_rotated")
            self._keyring = keyring = None
            self.info = None
        return keyring

    @property
    def unlocked(self) -> bool:
        return self.keyring is not None

    async def unlock(self, passphrase: str, by: str) -> bool:
        """Whether ``passphrase`` opens the case key (the console is then unlocked, if it was
        not). It is checked even when the console is already unlocked: a request admitted
        while locked must not pass for one that knew the passphrase. After
        :data:`UNLOCK_FREE` wrong ones, attempts during the wait raise :class:`UnlockThrottled`
        without being checked."""
        async with self._lock:
            now = self._clock()
            if now < self._wait_until:
                raise UnlockThrottled(max(1, int(self._wait_until - now + 0.999)))
            try:
                keyring = await anyio.to_thread.run_sync(crypto.unlock, self.keys_dir, passphrase)
            except crypto.WrongPassphrase:
                self._failures += 1
                if self._failures >= UNLOCK_FREE:
                    wait = min(2 ** (self._failures - UNLOCK_FREE), UNLOCK_MAX_WAIT)
                    self._wait_until = self._clock() + wait
                log.warning("console event=unlock_failed by=%s", by)
                return False
            self._failures = 0
            self._wait_until = 0.0
            if self.keyring is None:
                self._keyring = keyring
                self.info = UnlockInfo(by, utcnow())
                log.info("console event=unlocked by=%s", by)
            return True
