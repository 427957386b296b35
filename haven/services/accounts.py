"""Console accounts: users and roles, argon2id passwords, mandatory TOTP, one-time setup links,
the slow-down and lock-out after failed logins, and sessions with an idle timeout.

Session and setup tokens are random; only their SHA-256 is stored. The TOTP secret is kept
under the routing key (the console holds it; a copy of the database alone does not).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
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
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from haven import crypto
from haven.store import audit
from haven.store.db import Store
from haven.store.models import ConsoleSession, User, utcnow

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
#: ``last_seen`` is written at most this often (not on every request).
TOUCH_SECONDS = 15
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


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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
    ) -> None:
        self.store = store
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

    # -- users ------------------------------------------------------------------------------

    def _new_setup(self, user: User) -> str:
        token = crypto.random_token(24)
        user.setup_token = digest(token)
        user.setup_expires = self.clock() + timedelta(hours=SETUP_HOURS)
        return token

    async def add_user(
        self, name: str, role: Role | str, actor: str, *, sectors: str = "*", lang: str = "en"
    ) -> str:
        """Create a user; returns the one-time setup token (the link is shown once)."""
        name = name.strip()
        if not name or len(name) > NAME_MAX or not name.isprintable():
            raise BadName("a name of 1 to 64 printable characters")
        role = Role(role)
        if lang not in CONSOLE_LANGS:
            raise AccountError(f"console language must be one of {', '.join(CONSOLE_LANGS)}")
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
            await audit.append(session, actor, "user.added", None, {"user": user.id, "role": role})
        return token

    async def reset(self, user_id: int, actor: str) -> str:
        """New setup link; the password, the TOTP secret and every session are dropped."""
        async with self.store.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such user")
            user.password_hash = None
            user.totp_secret = None
            user.totp_enrolled = False
            user.totp_last_step = None
            user.failed_logins = 0
            user.locked_until = None
            user.disabled = False
            token = self._new_setup(user)
            await session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
            await audit.append(session, actor, "user.reset", None, {"user": user_id})
        return token

    async def set_disabled(self, user_id: int, disabled: bool, actor: str) -> None:
        async with self.store.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such user")
            user.disabled = disabled
            if disabled:
                await session.execute(
                    delete(ConsoleSession).where(ConsoleSession.user_id == user_id)
                )
            action = "user.disabled" if disabled else "user.enabled"
            await audit.append(session, actor, action, None, {"user": user_id})

    async def set_lang(self, user_id: int, lang: str) -> None:
        if lang not in CONSOLE_LANGS:
            raise AccountError("unknown console language")
        async with self.store.transaction() as session:
            user = await session.get(User, user_id)
            if user is not None:
                user.lang = lang

    async def users(self) -> list[UserRow]:
        now = self.clock()
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
        async with self.store.transaction() as session:
            user = await self._by_setup(session, token)
            return user.name if user is not None else None

    async def _by_setup(self, session: AsyncSession, token: str) -> User | None:
        if not token or len(token) > 200:
            return None
        user = await session.scalar(select(User).where(User.setup_token == digest(token)))
        if user is None or user.disabled:
            return None
        if user.setup_expires is None or user.setup_expires < self.clock():
            return None
        return user

    async def complete_setup(self, token: str, password: str) -> str:
        """Set the password from a setup link (used up); returns a session token whose
        stage is ``password``: TOTP enrolment comes next."""
        check_password(password)
        password_hash = self.hasher.hash(password)
        async with self.store.transaction() as session:
            user = await self._by_setup(session, token)
            if user is None:
                raise BadSetup("this setup link is unknown, used or expired")
            user.password_hash = password_hash
            user.setup_token = None
            user.setup_expires = None
            user.totp_secret = None
            user.totp_enrolled = False
            user.failed_logins = 0
            user.locked_until = None
            await audit.append(session, f"user:{user.id}", "user.setup", None, {})
            return await self._open_session(session, user, "password")

    # -- login ----------------------------------------------------------------------------------

    async def _open_session(self, session: AsyncSession, user: User, stage: str) -> str:
        token = crypto.random_token(32)
        now = self.clock()
        session.add(
            ConsoleSession(
                id=digest(token),
                user_id=user.id,
                stage=stage,
                csrf=crypto.random_token(24),
                created_at=now,
                last_seen=now,
            )
        )
        return token

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
        async with self.store.transaction() as session:
            user = await session.scalar(select(User).where(User.name == name))
            if user is None or user.disabled or user.password_hash is None:
                user_id, password_hash, before = None, self._decoy, None
                key = self._stranger(name)
                failures, until = self._strangers.get(key, (0, None))
                self._gate_until(until)
                wait = self._wait(failures + 1)
                self._strangers[key] = (failures + 1, self.clock() + wait if wait else None)
            else:
                self._gate(user)
                user_id, password_hash = user.id, user.password_hash
                before = (user.failed_logins, user.locked_until)
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
                if self.hasher.check_needs_rehash(user.password_hash or ""):
                    user.password_hash = self.hasher.hash(password)
                token = await self._open_session(session, user, "password")
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
        async with self.store.transaction() as session:
            row, user = await self._session_user(session, token)
            if row is None or user is None or row.stage != "password" or user.totp_enrolled:
                raise BadLogin("no enrolment under way")
            secret = self._secret(user)
            if secret is None:
                secret = pyotp.random_base32()
                user.totp_secret = self.keys.seal_routing(secret.encode("ascii"))
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
        async with self.store.transaction() as session:
            row, user = await self._session_user(session, token)
            if row is None or user is None or row.stage != "password":
                raise BadLogin("wrong name, password or code")
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
                user.totp_enrolled = True
                user.totp_last_step = step
                user.failed_logins = 0
                user.locked_until = None
                # A new session token at the privilege change: no fixation of the old one.
                await session.delete(row)
                new_token = await self._open_session(session, user, "full")
                await audit.append(
                    session, f"user:{user.id}", "login", None, {"totp_enrolled_now": first}
                )
        if failed:
            raise BadLogin("wrong name, password or code")
        return new_token

    # -- sessions ---------------------------------------------------------------------------

    async def _session_user(
        self, session: AsyncSession, token: str
    ) -> tuple[ConsoleSession | None, User | None]:
        if not token or len(token) > 200:
            return None, None
        row = await session.get(ConsoleSession, digest(token))
        if row is None:
            return None, None
        now = self.clock()
        if (
            now - row.last_seen > self.idle
            or now - row.created_at > timedelta(hours=SESSION_MAX_HOURS)
            or (row.stage != "full" and now - row.created_at > timedelta(minutes=15))
        ):
            await session.delete(row)
            return None, None
        user = await session.get(User, row.user_id)
        if user is None or user.disabled:
            await session.delete(row)
            return None, None
        return row, user

    async def session(self, token: str) -> Principal | None:
        """The principal of a session cookie, or ``None`` (unknown, idle too long, disabled)."""
        async with self.store.transaction() as session:
            row, user = await self._session_user(session, token)
            if row is None or user is None:
                return None
            now = self.clock()
            if (now - row.last_seen).total_seconds() > TOUCH_SECONDS:
                row.last_seen = now
            return Principal(
                session_id=row.id,
                user_id=user.id,
                name=user.name,
                role=Role(user.role),
                lang=user.lang,
                stage=row.stage,
                csrf=row.csrf,
                totp_enrolled=user.totp_enrolled,
                sectors=parse_sectors(user.sectors) if user.role == Role.coordinator else None,
            )

    async def logout(self, token: str) -> None:
        async with self.store.transaction() as session:
            row = await session.get(ConsoleSession, digest(token))
            if row is not None:
                await audit.append(session, f"user:{row.user_id}", "logout", None, {})
                await session.delete(row)

    async def purge_sessions(self) -> int:
        """Drop idle sessions (housekeeping)."""
        async with self.store.transaction() as session:
            result = await session.execute(
                delete(ConsoleSession).where(ConsoleSession.last_seen < self.clock() - self.idle)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"the password needs at least {PASSWORD_MIN} characters")
    if len(password) > 1024:
        raise WeakPassword("the password is too long")
