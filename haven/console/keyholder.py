"""The case private key of this console process: unlocked once, by an admin or from
``HAVEN_PASSPHRASE``; while it is locked the console shows metadata only."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio

from haven import crypto
from haven.store.models import utcnow

log = logging.getLogger("haven.console")


@dataclass(frozen=True)
class UnlockInfo:
    by: str
    at: datetime


class KeyHolder:
    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self._keyring: crypto.CaseKeyring | None = None
        self.info: UnlockInfo | None = None
        self._lock = asyncio.Lock()

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
        """Unlock with ``passphrase``; False if it is wrong. Already unlocked: True."""
        async with self._lock:
            if self.keyring is not None:
                return True
            try:
                keyring = await anyio.to_thread.run_sync(crypto.unlock, self.keys_dir, passphrase)
            except crypto.WrongPassphrase:
                log.warning("console event=unlock_failed by=%s", by)
                return False
            self._keyring = keyring
            self.info = UnlockInfo(by, utcnow())
            log.info("console event=unlocked by=%s", by)
            return True
