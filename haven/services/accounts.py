"""Console accounts: users and roles, argon2id passwords, mandatory TOTP, one-time setup links,
the slow-down after failed logins (:mod:`haven.services.throttle`), and sessions with an idle
timeout (:mod:`haven.services.sessions`, in the console process's memory only).

Each account row carries a seal, a keyed hash
under a key that only an unlocked console holds (:meth:`haven.crypto.CaseKeyring.console_lookup`):
while the case key is unlocked, a row whose seal does not match (written by anyone but the
console, or by a console that was locked) opens no session. While the console is locked, rows
cannot be checked; sessions then see only what the database shows anyway, and only an admin
may set up an account (his row is sealed when he unlocks). The setup token is stored as a
SHA-256 only; the TOTP secret is kept under the routing key.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from haven import crypto
from haven.store import audit
from haven.store.db import Store
from haven.store.models import User, utcnow

from . import seals, totp
from .identity import SECTOR_ROLES, Principal, parse_languages, parse_sectors
from .identity import Role as Role
from .identity import Viewer as Viewer
from .seals import KeyringSource, Seals, no_keyring
from .sessions import Live, Sessions, digest
from .throttle import LOGIN_BUDGET, SLOW_AFTER, LoginThrottle

log = logging.getLogger("haven.accounts")


CONSOLE_LANGS: tuple[str, ...] = ("uk", "en")
PASSWORD_MIN = 12
NAME_MAX = 64
SETUP_HOURS = 72


class AccountError(Exception):
    """Base of this module's errors; ``str()`` is safe to show."""


class BadLogin(AccountError):
    """Name, password or code wrong (deliberately not saying which)."""


class Throttled(AccountError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts: wait {retry_after} s")
        self.retry_after = retry_after


class BadSetup(AccountError):
    """The setup link is unknown, used or expired."""


class WeakPassword(AccountError):
    pass


class BadName(AccountError):
    pass


class NotSealed(AccountError):
    """The account's row cannot be trusted now (see the module docstring)."""


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    role: str
    lang: str
    sectors: str
    active: bool
    enrolled: bool
    failed_logins: int
    locked: bool
    disabled: bool
    created_at: datetime
    #: Whether the row's seal holds (``None``: the console is locked and cannot tell).
    sealed: bool | None = None
    languages: str = ""


class Accounts:
    def __init__(
        self,
        store: Store,
        keys: crypto.IntakeKeys,
        *,
        idle_minutes: int = 30,
        clock: Callable[[], datetime] = utcnow,
        hasher: PasswordHasher | None = None,
        slow_after: int = SLOW_AFTER,
        login_budget: str = LOGIN_BUDGET,
        keyring: KeyringSource = no_keyring,
        seals: Seals | None = None,
    ) -> None:
        self.store = store
        self.seals = seals or Seals()
        self.keyring = keyring
        self.keys = keys
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._decoy = self.hasher.hash(crypto.random_token(16))
        self.throttle = LoginThrottle(
            clock=clock, hasher=self.hasher, slow_after=slow_after, login_budget=login_budget
        )
        self.sessions = Sessions(idle=timedelta(minutes=idle_minutes), clock=clock)

    async def _keyring_for(self, by: Principal | None) -> crypto.CaseKeyring | None:
        """The keyring an admin's action runs under: the one his session was checked with
        (a keyring unlocked since would seal for a row nobody checked), else the console's."""
        return by.keyring if by is not None else await self.keyring()

    def use_keyring(self, source: KeyringSource) -> None:
        """Where the console's unlocked keyring comes from (rows are checked and sealed
        with it)."""
        self.keyring = source

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        """A transaction whose seals the console remembers once it commits."""
        with self.seals.transaction():
            async with self.store.transaction() as session:
                yield session

    def _check(self, keyring: crypto.CaseKeyring | None, user: User) -> None:
        if keyring is not None and not self.seals.holds(keyring, user):
            log.warning("accounts event=row_not_sealed user=%s", user.id)
            raise NotSealed(
                "this account was changed outside the console, or set up while it was "
                "locked: an admin disables it and adds the person again"
            )

    @staticmethod
    def _locked_setup(keyring: crypto.CaseKeyring | None, user: User) -> None:
        """Locked, only an admin sets up an account (sealed when he unlocks)."""
        if keyring is None and user.role != Role.admin.value:
            raise NotSealed(
                "the console is locked: ask an admin to unlock it, then open this page again"
            )

    # -- users ------------------------------------------------------------------------------

    def _new_setup(self, user: User) -> str:
        token = crypto.random_token(24)
        user.setup_token = digest(token)
        user.setup_expires = self.clock() + timedelta(hours=SETUP_HOURS)
        return token

    async def add_user(
        self,
        name: str,
        role: Role | str,
        actor: str,
        *,
        sectors: str = "*",
        lang: str = "en",
        languages: str = "",
        by: Principal | None = None,
    ) -> str:
        """Create a user; returns the one-time setup token (the link is shown once).

        The row is sealed with the unlocked keyring (``by``'s, for a console session); without
        one only an admin may be added (he is sealed when he unlocks the console)."""
        name = name.strip()
        if not name or len(name) > NAME_MAX or not name.isprintable():
            raise BadName("a name of 1 to 64 printable characters")
        role = Role(role)
        if lang not in CONSOLE_LANGS:
            raise AccountError(f"console language must be one of {', '.join(CONSOLE_LANGS)}")
        keyring = await self._keyring_for(by)
        if keyring is None and role is not Role.admin:
            raise NotSealed(
                "only an unlocked console (or `haven user add` with the master passphrase) "
                "can add an account that is not an admin"
            )
        async with self._tx() as session:
            if await session.scalar(select(User.id).where(User.name == name)):
                raise BadName(f"a user named {name!r} exists")
            user = User(
                name=name,
                role=role.value,
                lang=lang,
                sectors=sectors if role in SECTOR_ROLES else "",
                languages=",".join(sorted(parse_languages(languages)))
                if role is Role.translator
                else "",
                totp_enrolled=False,
                failed_logins=0,
                disabled=False,
            )
            token = self._new_setup(user)
            session.add(user)
            await session.flush()
            self.seals.seal(keyring, user)
            await audit.append(session, actor, "user.added", None, {"user": user.id, "role": role})
        return token

    async def reset(self, user_id: int, actor: str, *, by: Principal | None = None) -> str:
        """New setup link; the password, the TOTP secret and every session are dropped."""
        keyring = await self._keyring_for(by)
        async with self._tx() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such user")
            self._check(keyring, user)
            self._locked_setup(keyring, user)
            user.password_hash = None
            user.totp_secret = None
            user.totp_enrolled = False
            user.totp_last_step = None
            user.failed_logins = 0
            user.locked_until = None
            user.disabled = False
            token = self._new_setup(user)
            self.seals.seal(keyring, user)
            self.sessions.end_user(user_id)
            await audit.append(session, actor, "user.reset", None, {"user": user_id})
        return token

    async def set_disabled(
        self, user_id: int, disabled: bool, actor: str, *, by: Principal | None = None
    ) -> None:
        keyring = await self._keyring_for(by)
        async with self._tx() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such user")
            held = keyring is not None and self.seals.holds(keyring, user)
            if not disabled:
                if keyring is None:
                    raise NotSealed("unlock the console to enable an account")
                self._check(keyring, user)
            user.disabled = disabled
            if held:
                self.seals.seal(keyring, user)
            if disabled:
                self.sessions.end_user(user_id)
            action = "user.disabled" if disabled else "user.enabled"
            await audit.append(session, actor, action, None, {"user": user_id})

    async def set_lang(self, user_id: int, lang: str) -> None:
        if lang not in CONSOLE_LANGS:
            raise AccountError("unknown console language")
        async with self._tx() as session:
            user = await session.get(User, user_id)
            if user is not None:
                user.lang = lang

    async def seal_all(self, keyring: crypto.CaseKeyring, actor: str) -> list[tuple[str, str]]:
        """Seal every account as it is now (``haven user seal``, with the master passphrase,
        after an upgrade from a version without seals): whoever runs it vouches for the rows,
        whose names and roles are returned for him to see. A pending setup link is dropped,
        not sealed: nobody can tell whose it is (an admin makes a new one)."""
        async with self._tx() as session:
            rows = (await session.scalars(select(User).order_by(User.id))).all()
            for user in rows:
                user.setup_token = None
                user.setup_expires = None
                self.seals.seal(keyring, user)
            await audit.append(session, actor, "user.sealed", None, {"users": len(rows)})
            return [(user.name, user.role) for user in rows]

    async def seal_own(self, token: str) -> bool:
        """At an unlock: seal the row of the admin who unlocked, if it is still the row he
        logged in with (he proved the passphrase; nobody vouches for anyone else)."""
        keyring = await self.keyring()
        live = self.sessions.peek(token)
        if keyring is None or live is None:
            return False
        async with self._tx() as session:
            user = await session.get(User, live.user_id)
            if (
                user is None
                or user.role != Role.admin.value
                or user.disabled
                or user.password_hash is None
                or not user.totp_enrolled
                or user.setup_token is not None  # a pending setup link is nobody's to vouch
                or not hmac.compare_digest(seals.fingerprint(user), live.fingerprint)
            ):
                return False
            if not self.seals.holds(keyring, user):
                self.seals.seal(keyring, user)
                live.fingerprint = seals.fingerprint(user)  # the console's own change
                await audit.append(session, f"user:{user.id}", "user.sealed", None, {"users": 1})
            return True

    async def users(self) -> list[UserRow]:
        now = self.clock()
        keyring = await self.keyring()
        async with self._tx() as session:
            rows = (await session.scalars(select(User).order_by(User.name))).all()
            return [
                UserRow(
                    u.id,
                    u.name,
                    u.role,
                    u.lang,
                    u.sectors,
                    u.password_hash is not None,
                    u.totp_enrolled,
                    u.failed_logins,
                    u.locked_until is not None and u.locked_until > now,
                    u.disabled,
                    u.created_at,
                    None if keyring is None else self.seals.holds(keyring, u),
                    u.languages or "",
                )
                for u in rows
            ]

    async def operators(self) -> list[tuple[int, str]]:
        """Active operators (for reassignment)."""
        async with self._tx() as session:
            rows = await session.execute(
                select(User.id, User.name)
                .where(User.role == Role.operator.value, User.disabled.is_(False))
                .order_by(User.name)
            )
            return [(int(i), str(n)) for i, n in rows]

    # -- setup links --------------------------------------------------------------------------

    async def setup_user(self, token: str) -> str | None:
        """The name a valid setup link is for, or ``None``."""
        keyring = await self.keyring()
        async with self._tx() as session:
            user = await self._by_setup(session, token, keyring)
            return user.name if user is not None else None

    async def _by_setup(
        self, session: AsyncSession, token: str, keyring: crypto.CaseKeyring | None
    ) -> User | None:
        if not token or len(token) > 200:
            return None
        user = await session.scalar(select(User).where(User.setup_token == digest(token)))
        if user is None or user.disabled:
            return None
        if user.setup_expires is None or user.setup_expires < self.clock():
            return None
        if keyring is not None and not self.seals.holds(keyring, user):
            log.warning("accounts event=row_not_sealed user=%s", user.id)
            return None
        return user

    async def complete_setup(self, token: str, password: str) -> str:
        """Set the password from a setup link (used up); returns a session token whose
        stage is ``password``: TOTP enrolment comes next."""
        check_password(password)
        password_hash = self.hasher.hash(password)
        keyring = await self.keyring()
        async with self._tx() as session:
            user = await self._by_setup(session, token, keyring)
            if user is None:
                raise BadSetup("this setup link is unknown, used or expired")
            self._locked_setup(keyring, user)
            user.password_hash = password_hash
            user.setup_token = None
            user.setup_expires = None
            user.totp_secret = None
            user.totp_enrolled = False
            user.failed_logins = 0
            user.locked_until = None
            self.seals.seal(keyring, user)
            await audit.append(session, f"user:{user.id}", "user.setup", None, {})
            return self._open_session(user, "password")

    # -- login ----------------------------------------------------------------------------------

    def _open_session(self, user: User, stage: str) -> str:
        return self.sessions.open(user.id, stage, seals.fingerprint(user))

    def _gate(self, user: User) -> None:
        """Throttled while ``user`` must still wait after failed attempts."""
        left = self.throttle.retry_after(user.locked_until)
        if left is not None:
            raise Throttled(left)

    async def login(self, name: str, password: str) -> str:
        """Check name and password; returns a session token at stage ``password``
        (the TOTP code is asked next, or enrolled at the first login).

        Every attempt is counted before its password is checked (concurrent guesses cannot
        slip under the limit), and the check runs in a small pool of threads under one
        budget for all. A name that is no account fails, waits and takes as long as one that
        is: the answers never tell them apart."""
        name = name.strip()[:NAME_MAX]
        if not self.throttle.in_budget():
            raise Throttled(1)
        keyring = await self.keyring()
        async with self._tx() as session:
            user = await session.scalar(select(User).where(User.name == name))
            unsealed = (
                user is not None and keyring is not None and not self.seals.holds(keyring, user)
            )
            if unsealed:
                log.warning("accounts event=row_not_sealed user=%s", user.id if user else "")
            if user is None or user.disabled or user.password_hash is None or unsealed:
                user_id, password_hash, before, seen = None, self._decoy, None, ""
                left = self.throttle.stranger(self.keys.lookup("login-name", name.casefold()))
                if left is not None:
                    raise Throttled(left)
            else:
                self._gate(user)
                user_id, password_hash = user.id, user.password_hash
                before = (user.failed_logins, user.locked_until)
                seen = seals.fingerprint(user)  # the row whose password is checked
                self.throttle.fail(user)  # counted now; given back if the password is right
        ok = await self.throttle.verify(password_hash, password)
        token = ""
        async with self._tx() as session:
            user = None if user_id is None else await session.get(User, user_id)
            if user is None or before is None:  # the same work as for a real account
                ok = False
                await audit.append(session, "login", "login.failed", None, {"step": "password"})
            elif not ok:
                await audit.append(
                    session, f"user:{user.id}", "login.failed", None, {"step": "password"}
                )
            else:
                await session.refresh(user)
                user.failed_logins = max(0, user.failed_logins - 1)
                if user.failed_logins <= before[0]:
                    user.locked_until = before[1]
                if not hmac.compare_digest(seals.fingerprint(user), seen):
                    ok = False  # the row changed while its password was being checked
                else:
                    if keyring is not None and self.hasher.check_needs_rehash(password_hash):
                        user.password_hash = self.hasher.hash(password)
                        self.seals.seal(keyring, user)
                    token = self._open_session(user, "password")
        if not ok:
            raise BadLogin("wrong name, password or code")
        return token

    async def unlock(self, name: str, actor: str) -> None:
        """Lift the wait on an account at once (``haven user unlock``)."""
        async with self._tx() as session:
            user = await session.scalar(select(User).where(User.name == name.strip()))
            if user is None:
                raise AccountError(f"no user {name.strip()[:NAME_MAX]!r}")
            user.failed_logins = 0
            user.locked_until = None
            await audit.append(session, actor, "user.unlocked", None, {"user": user.id})

    # -- TOTP --------------------------------------------------------------------------------

    def _secret(self, user: User) -> str | None:
        if user.totp_secret is None:
            return None
        return self.keys.open_routing(user.totp_secret).decode("ascii")

    async def enrolment(self, token: str) -> tuple[str, str]:
        """For a session at stage ``password`` of a user without TOTP: the secret (made now
        if needed) and its ``otpauth://`` URI, for the QR code."""
        keyring = await self.keyring()
        async with self._tx() as session:
            found = await self._session_user(session, token, keyring)
            if found is None or found[1].stage != "password" or found[2].totp_enrolled:
                raise BadLogin("no enrolment under way")
            _key, live, user = found
            secret = self._secret(user)
            if secret is None:
                self._locked_setup(keyring, user)
                secret = totp.new_secret()
                user.totp_secret = self.keys.seal_routing(secret.encode("ascii"))
                self.seals.seal(keyring, user)
                live.fingerprint = seals.fingerprint(user)
            uri = totp.provisioning_uri(secret, user.name)
            return secret, uri

    async def verify_totp(self, token: str, code: str) -> str:
        """Second factor (or the first code of an enrolment): returns the token of a new,
        ``full`` session that replaces the half-open one."""
        keyring = await self.keyring()
        async with self._tx() as session:
            found = await self._session_user(session, token, keyring)
            if found is None or found[1].stage != "password":
                raise BadLogin("wrong name, password or code")
            key, _live, user = found
            self._gate(user)
            secret = self._secret(user)
            step = (
                None
                if secret is None
                else totp.matching_step(secret, code, user.totp_last_step, self.clock())
            )
            if step is None:
                self.throttle.fail(user)
                await audit.append(
                    session, f"user:{user.id}", "login.failed", None, {"step": "totp"}
                )
                failed = True
            else:
                failed = False
                first = not user.totp_enrolled
                if first:
                    self._locked_setup(keyring, user)
                    user.totp_enrolled = True
                    self.seals.seal(keyring, user)
                user.totp_last_step = step
                user.failed_logins = 0
                user.locked_until = None
                # A new session token at the privilege change: no fixation of the old one.
                self.sessions.drop(key)
                new_token = self._open_session(user, "full")
                await audit.append(
                    session, f"user:{user.id}", "login", None, {"totp_enrolled_now": first}
                )
        if failed:
            raise BadLogin("wrong name, password or code")
        return new_token

    # -- sessions ---------------------------------------------------------------------------

    async def _session_user(
        self, session: AsyncSession, token: str, keyring: crypto.CaseKeyring | None
    ) -> tuple[str, Live, User] | None:
        """The live session of ``token`` and its account row, if both still hold: not idle
        too long, the row unchanged since the login, and sealed when the console can tell."""
        found = self.sessions.get(token)
        if found is None:
            return None
        key, live = found
        user = await session.get(User, live.user_id)
        if (
            user is None
            or user.disabled
            or not hmac.compare_digest(seals.fingerprint(user), live.fingerprint)
            or (keyring is not None and not self.seals.holds(keyring, user))
        ):
            if user is not None:
                log.warning("accounts event=session_refused user=%s", user.id)
            self.sessions.drop(key)
            return None
        return key, live, user

    async def session(self, token: str) -> Principal | None:
        """The principal of a session cookie, or ``None`` (unknown, idle too long, disabled,
        or its account row changed or unsealed)."""
        keyring = await self.keyring()
        async with self._tx() as session:
            found = await self._session_user(session, token, keyring)
            if found is None:
                return None
            key, live, user = found
            live.last_seen = self.clock()
            return Principal(
                session_id=key,
                user_id=user.id,
                name=user.name,
                role=Role(user.role),
                lang=user.lang if user.lang in CONSOLE_LANGS else "en",  # not under the seal
                stage=live.stage,
                csrf=live.csrf,
                totp_enrolled=user.totp_enrolled,
                sectors=parse_sectors(user.sectors) if user.role in SECTOR_ROLES else None,
                keyring=keyring,
                languages=parse_languages(user.languages or "")
                if user.role == Role.translator
                else frozenset(),
            )

    async def logout(self, token: str) -> None:
        live = self.sessions.pop(token)
        if live is not None:
            async with self._tx() as session:
                await audit.append(session, f"user:{live.user_id}", "logout", None, {})

    def purge_sessions(self) -> int:
        """Drop sessions that have run out (housekeeping)."""
        return self.sessions.purge()


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"the password needs at least {PASSWORD_MIN} characters")
    if len(password) > 1024:
        raise WeakPassword("the password is too long")
