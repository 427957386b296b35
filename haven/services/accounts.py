"""Console accounts: users and roles, argon2id passwords, mandatory TOTP, one-time setup links,
the slow-down and lock-out after failed logins, and sessions with an idle timeout.

Sessions live in the console process's memory only: the intake writes the same database,
and a session row it could add would be a login. Each account row carries a seal, a keyed hash
under a key that only an unlocked console holds (:meth:`haven.crypto.CaseKeyring.console_lookup`):
while the case key is unlocked, a row whose seal does not match (written by anyone but the
console, or by a console that was locked) opens no session. While the console is locked, rows
cannot be checked; sessions then see only what the database shows anyway, and only an admin
may set up an account (his row is sealed when he unlocks). The setup token is stored as a
SHA-256 only; the TOTP secret is kept under the routing key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import anyio
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from haven import crypto
from haven.store import audit
from haven.store.db import Store
from haven.store.models import User, utcnow

log = logging.getLogger("haven.accounts")


class Role(StrEnum):
    operator = "operator"
    coordinator = "coordinator"
    analyst = "analyst"
    admin = "admin"


CONSOLE_LANGS: tuple[str, ...] = ("uk", "en")
PASSWORD_MIN = 12
NAME_MAX = 64
#: Failed logins (password or TOTP) after which each attempt must wait 1, 2, 4… seconds, the
#: same for a name that exists and one that does not; the wait ends by itself.
SLOW_AFTER = 3
#: The longest wait between two attempts on one name (``haven user unlock`` lifts it at once).
SLOW_MAX_SECONDS = 900
#: Password checks (argon2, tens of milliseconds of CPU each) run at most this many at a time,
#: in threads, never on the event loop.
LOGIN_WORKERS = 2
#: Password checks allowed overall, whoever asks: the rest are told to wait a second.
LOGIN_BUDGET = "10/second"
SETUP_HOURS = 72
SESSION_MAX_HOURS = 12
#: Sessions held at once (the oldest idle one goes first beyond it).
SESSIONS_MAX = 10_000
TOTP_ISSUER = "haven"


class AccountError(Exception):
    """Base of this module's errors; ``str()`` is safe to show."""


class BadLogin(AccountError):
    """Name, password or code wrong (deliberately not saying which)."""


class Throttled(AccountError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts: wait {retry_after} s")
        self.retry_after = retry_after


class Locked(AccountError):
    """Kept for callers that catch it; logins are throttled (:class:`Throttled`), never locked."""


class BadSetup(AccountError):
    """The setup link is unknown, used or expired."""


class WeakPassword(AccountError):
    pass


class BadName(AccountError):
    pass


class NotSealed(AccountError):
    """The account's row cannot be trusted now (see the module docstring)."""


#: The unlocked keyring of this console process, or ``None`` while it is locked.
KeyringSource = Callable[[], Awaitable["crypto.CaseKeyring | None"]]


async def no_keyring() -> crypto.CaseKeyring | None:
    return None


@dataclass(frozen=True)
class Viewer:
    """Who asks: every service query that touches cases is built from this."""

    user_id: int
    role: Role
    #: Coordinators' sectors; ``None`` means every sector.
    sectors: frozenset[str] | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True)
class Principal:
    """A console session as the web app sees it."""

    session_id: str
    user_id: int
    name: str
    role: Role
    lang: str
    stage: str  # password | full
    csrf: str
    totp_enrolled: bool
    sectors: frozenset[str] | None
    #: The case keyring as it was when this session was checked (``None``: locked). Handlers
    #: use this one, never a keyring unlocked while the request ran, whose row went unchecked.
    keyring: crypto.CaseKeyring | None = field(default=None, repr=False, compare=False)

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.user_id, self.role, self.sectors)


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


@dataclass
class _Live:
    """A session, in this process's memory only; ``fingerprint`` is the account row as it was
    when the session opened: a row changed behind the console's back ends the session."""

    user_id: int
    stage: str  # password (TOTP still due) | full
    csrf: str
    created_at: datetime
    last_seen: datetime
    fingerprint: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _row_body(user: User) -> str:
    """What an account's seal covers: who it is, what it may do, and how it logs in."""
    return json.dumps(
        [
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
        ],
        separators=(",", ":"),
    )


def _fingerprint(user: User) -> str:
    return digest(_row_body(user))


def _seal_of(keyring: crypto.CaseKeyring, user: User) -> str:
    return keyring.console_lookup("account", _row_body(user))


def _holds(keyring: crypto.CaseKeyring, user: User) -> bool:
    return user.seal is not None and hmac.compare_digest(user.seal, _seal_of(keyring, user))


def parse_sectors(text: str) -> frozenset[str] | None:
    parts = {p.strip() for p in text.replace(";", ",").split(",") if p.strip()}
    return None if "*" in parts else frozenset(parts)


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
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.keys = keys
        self.idle = timedelta(minutes=idle_minutes)
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.slow_after = slow_after
        self._decoy = self.hasher.hash(crypto.random_token(16))
        self._workers = anyio.CapacityLimiter(LOGIN_WORKERS)
        self._budget = parse_limit(login_budget)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        #: Failures of names that are no account (or a disabled one): (count, wait until),
        #: so that they are throttled exactly like real ones and no answer tells them apart.
        self._strangers: TTLCache[str, tuple[int, datetime]] = TTLCache(
            maxsize=50_000, ttl=2 * SLOW_MAX_SECONDS
        )
        self._live: dict[str, _Live] = {}

    def use_keyring(self, source: KeyringSource) -> None:
        """Where the console's unlocked keyring comes from (rows are checked and sealed
        with it)."""
        self.keyring = source

    @staticmethod
    def _seal(keyring: crypto.CaseKeyring | None, user: User) -> None:
        """Seal ``user`` as it is now; locked, the row is left unsealed."""
        user.seal = None if keyring is None else _seal_of(keyring, user)

    @staticmethod
    def _check(keyring: crypto.CaseKeyring | None, user: User) -> None:
        if keyring is not None and not _holds(keyring, user):
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
        self, name: str, role: Role | str, actor: str, *, sectors: str = "*", lang: str = "en"
    ) -> str:
        """Create a user; returns the one-time setup token (the link is shown once).

        The row is sealed with the unlocked keyring; without one only an admin may be added
        (he is sealed when he unlocks the console)."""
        name = name.strip()
        if not name or len(name) > NAME_MAX or not name.isprintable():
            raise BadName("a name of 1 to 64 printable characters")
        role = Role(role)
        if lang not in CONSOLE_LANGS:
            raise AccountError(f"console language must be one of {', '.join(CONSOLE_LANGS)}")
        keyring = await self.keyring()
        if keyring is None and role is not Role.admin:
            raise NotSealed(
                "only an unlocked console (or `haven user add` with the master passphrase) "
                "can add an account that is not an admin"
            )
        async with self.store.transaction() as session:
            if await session.scalar(select(User.id).where(User.name == name)):
                raise BadName(f"a user named {name!r} exists")
            user = User(
                name=name,
                role=role.value,
                lang=lang,
                sectors=sectors if role is Role.coordinator else "",
                totp_enrolled=False,
                failed_logins=0,
                disabled=False,
            )
            token = self._new_setup(user)
            session.add(user)
            await session.flush()
            self._seal(keyring, user)
            await audit.append(session, actor, "user.added", None, {"user": user.id, "role": role})
        return token

    async def reset(self, user_id: int, actor: str) -> str:
        """New setup link; the password, the TOTP secret and every session are dropped."""
        keyring = await self.keyring()
        async with self.store.transaction() as session:
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
            self._seal(keyring, user)
            self._end_sessions(user_id)
            await audit.append(session, actor, "user.reset", None, {"user": user_id})
        return token

    async def set_disabled(self, user_id: int, disabled: bool, actor: str) -> None:
        keyring = await self.keyring()
        async with self.store.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such user")
            held = keyring is not None and _holds(keyring, user)
            if not disabled:
                if keyring is None:
                    raise NotSealed("unlock the console to enable an account")
                self._check(keyring, user)
            user.disabled = disabled
            if held:
                self._seal(keyring, user)
            if disabled:
                self._end_sessions(user_id)
            action = "user.disabled" if disabled else "user.enabled"
            await audit.append(session, actor, action, None, {"user": user_id})

    async def set_lang(self, user_id: int, lang: str) -> None:
        if lang not in CONSOLE_LANGS:
            raise AccountError("unknown console language")
        async with self.store.transaction() as session:
            user = await session.get(User, user_id)
            if user is not None:
                user.lang = lang

    async def seal_all(self, keyring: crypto.CaseKeyring, actor: str) -> int:
        """Seal every account as it is now (``haven user seal``, with the master passphrase,
        after an upgrade from a version without seals): whoever runs it vouches for the rows."""
        async with self.store.transaction() as session:
            rows = (await session.scalars(select(User).order_by(User.id))).all()
            for user in rows:
                self._seal(keyring, user)
            await audit.append(session, actor, "user.sealed", None, {"users": len(rows)})
            return len(rows)

    async def seal_own(self, token: str) -> bool:
        """At an unlock: seal the row of the admin who unlocked, if it is still the row he
        logged in with (he proved the passphrase; nobody vouches for anyone else)."""
        keyring = await self.keyring()
        live = self._live.get(digest(token)) if token else None
        if keyring is None or live is None:
            return False
        async with self.store.transaction() as session:
            user = await session.get(User, live.user_id)
            if (
                user is None
                or user.role != Role.admin.value
                or user.disabled
                or user.password_hash is None
                or not user.totp_enrolled
                or user.setup_token is not None  # a pending setup link is nobody's to vouch
                or not hmac.compare_digest(_fingerprint(user), live.fingerprint)
            ):
                return False
            if not _holds(keyring, user):
                self._seal(keyring, user)
                await audit.append(session, f"user:{user.id}", "user.sealed", None, {"users": 1})
            return True

    async def users(self) -> list[UserRow]:
        now = self.clock()
        keyring = await self.keyring()
        async with self.store.transaction() as session:
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
                    None if keyring is None else _holds(keyring, u),
                )
                for u in rows
            ]

    async def operators(self) -> list[tuple[int, str]]:
        """Active operators (for reassignment)."""
        async with self.store.transaction() as session:
            rows = await session.execute(
                select(User.id, User.name)
                .where(User.role == Role.operator.value, User.disabled.is_(False))
                .order_by(User.name)
            )
            return [(int(i), str(n)) for i, n in rows]

    async def count(self) -> int:
        async with self.store.transaction() as session:
            return int(await session.scalar(select(func.count(User.id))) or 0)

    # -- setup links --------------------------------------------------------------------------

    async def setup_user(self, token: str) -> str | None:
        """The name a valid setup link is for, or ``None``."""
        keyring = await self.keyring()
        async with self.store.transaction() as session:
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
        if keyring is not None and not _holds(keyring, user):
            log.warning("accounts event=row_not_sealed user=%s", user.id)
            return None
        return user

    async def complete_setup(self, token: str, password: str) -> str:
        """Set the password from a setup link (used up); returns a session token whose
        stage is ``password``: TOTP enrolment comes next."""
        check_password(password)
        password_hash = self.hasher.hash(password)
        keyring = await self.keyring()
        async with self.store.transaction() as session:
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
            self._seal(keyring, user)
            await audit.append(session, f"user:{user.id}", "user.setup", None, {})
            return self._open_session(user, "password")

    # -- login ----------------------------------------------------------------------------------

    def _open_session(self, user: User, stage: str) -> str:
        token = crypto.random_token(32)
        now = self.clock()
        if len(self._live) >= SESSIONS_MAX:
            self.purge_sessions()
        while len(self._live) >= SESSIONS_MAX:
            oldest = min(self._live, key=lambda k: self._live[k].last_seen)
            del self._live[oldest]
        self._live[digest(token)] = _Live(
            user_id=user.id,
            stage=stage,
            csrf=crypto.random_token(24),
            created_at=now,
            last_seen=now,
            fingerprint=_fingerprint(user),
        )
        return token

    def _end_sessions(self, user_id: int) -> None:
        for key in [k for k, live in self._live.items() if live.user_id == user_id]:
            del self._live[key]

    def _wait(self, failures: int) -> timedelta | None:
        """How long a name must wait after ``failures`` failed attempts (None: not at all)."""
        if failures < self.slow_after:
            return None
        return timedelta(seconds=min(2 ** (failures - self.slow_after), SLOW_MAX_SECONDS))

    def _gate_until(self, until: datetime | None) -> None:
        now = self.clock()
        if until is not None and until > now:
            raise Throttled(max(1, int((until - now).total_seconds() + 0.999)))

    def _gate(self, user: User) -> None:
        self._gate_until(user.locked_until)

    def _fail(self, user: User) -> None:
        user.failed_logins += 1
        wait = self._wait(user.failed_logins)
        user.locked_until = self.clock() + wait if wait is not None else None

    def _stranger(self, name: str) -> str:
        return self.keys.lookup("login-name", name.casefold())

    async def login(self, name: str, password: str) -> str:
        """Check name and password; returns a session token at stage ``password``
        (the TOTP code is asked next, or enrolled at the first login).

        Every attempt is counted before its password is checked (concurrent guesses cannot
        slip under the limit), and the check runs in a small pool of threads under one
        budget for all. A name that is no account fails, waits and takes as long as one that
        is: the answers never tell them apart."""
        name = name.strip()[:NAME_MAX]
        if not self._limiter.hit(self._budget, "login"):
            raise Throttled(1)
        keyring = await self.keyring()
        async with self.store.transaction() as session:
            user = await session.scalar(select(User).where(User.name == name))
            unsealed = user is not None and keyring is not None and not _holds(keyring, user)
            if unsealed:
                log.warning("accounts event=row_not_sealed user=%s", user.id if user else "")
            if user is None or user.disabled or user.password_hash is None or unsealed:
                user_id, password_hash, before, seen = None, self._decoy, None, ""
                key = self._stranger(name)
                failures, until = self._strangers.get(key, (0, None))
                self._gate_until(until)
                wait = self._wait(failures + 1)
                self._strangers[key] = (failures + 1, self.clock() + wait if wait else None)
            else:
                self._gate(user)
                user_id, password_hash = user.id, user.password_hash
                before = (user.failed_logins, user.locked_until)
                seen = _fingerprint(user)  # the row whose password is checked
                self._fail(user)  # counted now; given back if the password is right
        ok = await anyio.to_thread.run_sync(
            self._verify, password_hash, password, limiter=self._workers
        )
        token = ""
        async with self.store.transaction() as session:
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
                if not hmac.compare_digest(_fingerprint(user), seen):
                    ok = False  # the row changed while its password was being checked
                else:
                    if keyring is not None and self.hasher.check_needs_rehash(password_hash):
                        user.password_hash = self.hasher.hash(password)
                        self._seal(keyring, user)
                    token = self._open_session(user, "password")
        if not ok:
            raise BadLogin("wrong name, password or code")
        return token

    async def unlock(self, name: str, actor: str) -> None:
        """Lift the wait on an account at once (``haven user unlock``)."""
        async with self.store.transaction() as session:
            user = await session.scalar(select(User).where(User.name == name.strip()))
            if user is None:
                raise AccountError(f"no user {name.strip()[:NAME_MAX]!r}")
            user.failed_logins = 0
            user.locked_until = None
            await audit.append(session, actor, "user.unlocked", None, {"user": user.id})

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    # -- TOTP --------------------------------------------------------------------------------

    def _secret(self, user: User) -> str | None:
        if user.totp_secret is None:
            return None
        return self.keys.open_routing(user.totp_secret).decode("ascii")

    async def enrolment(self, token: str) -> tuple[str, str]:
        """For a session at stage ``password`` of a user without TOTP: the secret (made now
        if needed) and its ``otpauth://`` URI, for the QR code."""
        keyring = await self.keyring()
        async with self.store.transaction() as session:
            found = await self._session_user(session, token, keyring)
            if found is None or found[1].stage != "password" or found[2].totp_enrolled:
                raise BadLogin("no enrolment under way")
            _key, live, user = found
            secret = self._secret(user)
            if secret is None:
                self._locked_setup(keyring, user)
                secret = pyotp.random_base32()
                user.totp_secret = self.keys.seal_routing(secret.encode("ascii"))
                self._seal(keyring, user)
                live.fingerprint = _fingerprint(user)
            uri = pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name=TOTP_ISSUER)
            return secret, uri

    def _match(self, secret: str, code: str, last_step: int | None) -> int | None:
        code = "".join(code.split())
        if not (code.isascii() and code.isdecimal() and len(code) == 6):
            return None
        totp = pyotp.TOTP(secret)
        now = self.clock().replace(tzinfo=UTC)
        for offset in (-1, 0, 1):
            moment = now + timedelta(seconds=30 * offset)
            step = int(totp.timecode(moment))
            if last_step is not None and step <= last_step:
                continue
            if hmac.compare_digest(totp.at(moment), code):
                return step
        return None

    async def verify_totp(self, token: str, code: str) -> str:
        """Second factor (or the first code of an enrolment): returns the token of a new,
        ``full`` session that replaces the half-open one."""
        keyring = await self.keyring()
        async with self.store.transaction() as session:
            found = await self._session_user(session, token, keyring)
            if found is None or found[1].stage != "password":
                raise BadLogin("wrong name, password or code")
            key, _live, user = found
            self._gate(user)
            secret = self._secret(user)
            step = None if secret is None else self._match(secret, code, user.totp_last_step)
            if step is None:
                self._fail(user)
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
                    self._seal(keyring, user)
                user.totp_last_step = step
                user.failed_logins = 0
                user.locked_until = None
                # A new session token at the privilege change: no fixation of the old one.
                del self._live[key]
                new_token = self._open_session(user, "full")
                await audit.append(
                    session, f"user:{user.id}", "login", None, {"totp_enrolled_now": first}
                )
        if failed:
            raise BadLogin("wrong name, password or code")
        return new_token

    # -- sessions ---------------------------------------------------------------------------

    def _expired(self, live: _Live) -> bool:
        now = self.clock()
        return (
            now - live.last_seen > self.idle
            or now - live.created_at > timedelta(hours=SESSION_MAX_HOURS)
            or (live.stage != "full" and now - live.created_at > timedelta(minutes=15))
        )

    async def _session_user(
        self, session: AsyncSession, token: str, keyring: crypto.CaseKeyring | None
    ) -> tuple[str, _Live, User] | None:
        """The live session of ``token`` and its account row, if both still hold: not idle
        too long, the row unchanged since the login, and sealed when the console can tell."""
        if not token or len(token) > 200:
            return None
        key = digest(token)
        live = self._live.get(key)
        if live is None:
            return None
        if self._expired(live):
            del self._live[key]
            return None
        user = await session.get(User, live.user_id)
        if (
            user is None
            or user.disabled
            or not hmac.compare_digest(_fingerprint(user), live.fingerprint)
            or (keyring is not None and not _holds(keyring, user))
        ):
            if user is not None:
                log.warning("accounts event=session_refused user=%s", user.id)
            self._live.pop(key, None)
            return None
        return key, live, user

    async def session(self, token: str) -> Principal | None:
        """The principal of a session cookie, or ``None`` (unknown, idle too long, disabled,
        or its account row changed or unsealed)."""
        keyring = await self.keyring()
        async with self.store.transaction() as session:
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
                lang=user.lang,
                stage=live.stage,
                csrf=live.csrf,
                totp_enrolled=user.totp_enrolled,
                sectors=parse_sectors(user.sectors) if user.role == Role.coordinator else None,
                keyring=keyring,
            )

    async def logout(self, token: str) -> None:
        live = self._live.pop(digest(token), None) if token else None
        if live is not None:
            async with self.store.transaction() as session:
                await audit.append(session, f"user:{live.user_id}", "logout", None, {})

    def purge_sessions(self) -> int:
        """Drop sessions that have run out (housekeeping)."""
        gone = [k for k, live in self._live.items() if self._expired(live)]
        for key in gone:
            del self._live[key]
        return len(gone)


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"the password needs at least {PASSWORD_MIN} characters")
    if len(password) > 1024:
        raise WeakPassword("the password is too long")
