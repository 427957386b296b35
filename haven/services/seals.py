"""Account seals: a keyed hash over what a console account is and how it logs in, and the
console's memory of the newest seal it made or saw for each account.

A seal is made under a key only an unlocked console holds
(:meth:`haven.crypto.CaseKeyring.console_lookup`), so whoever writes the database cannot make
one. It could write back a row as it was, seal and all, after an admin disabled or reset it:
each seal therefore carries a version, and the console keeps the newest version of each
account it sealed or saw in a file of its own (on the console host, never in the database);
an older one no longer holds. A console without that file (a new host) trusts the newest
valid seal it meets from then on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from haven import crypto
from haven.store.models import User

log = logging.getLogger("haven.accounts")

#: Seals made in the current transaction, remembered once it commits: (user id, version).
_made: ContextVar[list[tuple[int, int]] | None] = ContextVar("seals_made", default=None)


def body(user: User) -> str:
    """What an account's seal covers: who it is, what it may do, how it logs in, and the
    seal's version. A translator's languages are appended when there are any, so that the
    seals of every other account stay what they were."""
    fields: list[object] = [
        user.id,
        user.name,
        user.role,
        user.sectors,
        bool(user.disabled),
        user.password_hash,
        None if user.totp_secret is None else bytes(user.totp_secret).hex(),
        bool(user.totp_enrolled),
        user.setup_token,
        None if user.setup_expires is None else user.setup_expires.isoformat(),
        int(user.seal_version or 0),
    ]
    if user.languages:
        fields.append(user.languages)
    return json.dumps(fields, separators=(",", ":"))


def fingerprint(user: User) -> str:
    """The row as it is (unkeyed): a session remembers the row it logged in with."""
    return hashlib.sha256(body(user).encode("utf-8")).hexdigest()


class Seals:
    """Makes and checks seals; remembers the newest version per account (in ``path``, when
    given: the console's own file)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._newest: dict[int, int] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text("utf-8"))
                self._newest = {int(k): int(v) for k, v in data.items()}
            except (ValueError, AttributeError, TypeError):
                log.warning("accounts event=seal_ledger_unreadable")

    def holds(self, keyring: crypto.CaseKeyring, user: User) -> bool:
        """Whether ``user``'s seal is genuine and not older than one the console knows."""
        if user.seal is None:
            return False
        expected = keyring.console_lookup("account", body(user))
        version = int(user.seal_version or 0)
        if not hmac.compare_digest(user.seal, expected):
            return False
        if version < self._newest.get(user.id, 0):
            log.warning("accounts event=seal_rolled_back user=%s", user.id)
            return False
        self._remember(user.id, version)
        return True

    def seal(self, keyring: crypto.CaseKeyring | None, user: User) -> None:
        """Seal ``user`` as it is now, one version past any the console knows; locked, the
        row is left unsealed. Remembered when the transaction commits (:meth:`transaction`)."""
        if keyring is None:
            user.seal = None
            return
        version = max(int(user.seal_version or 0), self._newest.get(user.id, 0)) + 1
        user.seal_version = version
        user.seal = keyring.console_lookup("account", body(user))
        made = _made.get()
        if made is not None:
            made.append((user.id, version))
        else:
            self._remember(user.id, version)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Around a transaction: the seals it makes are remembered only if it commits."""
        made: list[tuple[int, int]] = []
        token = _made.set(made)
        try:
            yield
        finally:
            _made.reset(token)
        for user_id, version in made:
            self._remember(user_id, version)

    def _remember(self, user_id: int, version: int) -> None:
        if self._newest.get(user_id, 0) >= version:
            return
        self._newest[user_id] = version
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".seals-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({str(k): v for k, v in self._newest.items()}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


#: The unlocked keyring of this console process, or ``None`` while it is locked.
KeyringSource = Callable[[], Awaitable["crypto.CaseKeyring | None"]]


async def no_keyring() -> crypto.CaseKeyring | None:
    """The source of a console that has no keyring (locked)."""
    return None


def fixed_keyring(keyring: crypto.CaseKeyring | None) -> KeyringSource:
    """A source that always gives ``keyring``: for an :class:`Accounts` outside a console
    (the CLI with the passphrase)."""

    async def source() -> crypto.CaseKeyring | None:
        return keyring

    return source
