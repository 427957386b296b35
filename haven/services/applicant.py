"""The web applicant's side after submission.

When a web questionnaire ends the applicant gets a passphrase of words from their language's
list. It is stored only as an argon2id hash (argon2-cffi); a second argon2id derivation of it
(:func:`haven.crypto.derive_applicant_key`) gives the applicant's own keypair, whose public
half is stored so that operator replies can be sealed to it as well as to the case key
(DESIGN.md, "who can read what"). With the case reference and the passphrase the applicant
comes back, reads the replies and writes more.

Attempts are counted before the passphrase is verified (so a burst gets at most the limit
evaluated), per case reference *and* browser session, and overall: a stranger who knows a
reference fills only his own sessions' share and cannot lock the owner out. A session that
proved the passphrase keeps its turn when a flood fills the overall limit
(docs/adr/0003-unlock-attempts.md).

Nothing here ever holds the applicant's private key beyond one request: the web page carries
it wrapped under the routing key (:meth:`Applicants.page_token`), bound to the browser's
session and a short expiry.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from haven import crypto
from haven.content import LANGS, passphrase_words
from haven.domain import codephrase
from haven.domain.cases import CaseState
from haven.domain.reference import BadReference, normalize
from haven.flows import Effect, Engine, Mode, Reply, State, default_engine
from haven.flows.inputs import Text
from haven.services import erasure, ratelimit
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Case, Message, WebAccess, WebThread, utcnow

log = logging.getLogger("haven.applicant")

#: Words in a web passphrase, all different: 7 of a 512-word list give about 63 bits.
PASSPHRASE_WORDS = 7
#: How long a page that shows the conversation stays usable without the passphrase again.
PAGE_TOKEN_SECONDS = 30 * 60
#: How long a session that proved a passphrase keeps its turn past the overall limit, and how
#: many such sessions are remembered (keyed hashes, in this process's memory).
PROVEN_SECONDS = 12 * 3600
PROVEN_MAX = 100_000

_SEPARATORS = str.maketrans({c: " " for c in ",.;:-_·/\\|"})
#: Tajik letters as a Russian keyboard types them: a Tajik passphrase must be typeable on the
#: phones most Tajik recruits have (the Tajik word list stays distinct under this folding).
_FOLD = str.maketrans("ӣӯқғҳҷ", "иукгхч")


def passphrase_bits(lang: str, count: int = PASSPHRASE_WORDS) -> float:
    """Entropy of a passphrase of ``count`` different words of the language's list."""
    return codephrase.passphrase_bits(len(set(passphrase_words(lang))), count)


def normalize_passphrase(text: str) -> str:
    """The passphrase as typed: case, extra spaces and separators between words ignored, and
    Tajik letters read as their Russian-keyboard look-alikes."""
    text = unicodedata.normalize("NFC", text).translate(_SEPARATORS).casefold().translate(_FOLD)
    return " ".join(text.split())


class ApplicantError(Exception):
    """Base of this module's errors."""


class WrongCredentials(ApplicantError):
    """The case reference or the passphrase is wrong (deliberately not saying which)."""


class RateLimited(ApplicantError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Issued:
    reference: str
    passphrase: str
    bits: float


@dataclass(frozen=True)
class Unlocked:
    """A case opened with its passphrase, for the length of one request."""

    case_id: int
    reference: str
    lang: str
    key: crypto.ApplicantKey


@dataclass(frozen=True)
class ThreadItem:
    direction: str  # in (the applicant) | out (an operator)
    text: str
    at: datetime


@dataclass(frozen=True)
class Posted:
    """What became of a message the applicant wrote: stored, or re-asked with a reason."""

    stored: bool
    replies: tuple[Reply, ...]


class Applicants:
    def __init__(
        self,
        store: Store,
        keys: crypto.IntakeKeys,
        *,
        per_case_limit: str = "5/hour",
        global_limit: str = "60/minute",
        hasher: PasswordHasher | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.store = store
        self.keys = keys
        self.hasher = hasher or PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        self.engine = engine or default_engine()
        self.limits = ratelimit.Limiter(
            ratelimit.Rules.of(per_case_limit, global_limit), name="unlock"
        )
        self.proven: TTLCache[str, bool] = TTLCache(PROVEN_MAX, PROVEN_SECONDS)

    @cached_property
    def _decoy_hash(self) -> str:
        return self.hasher.hash(crypto.random_token())

    # -- issuing ------------------------------------------------------------------------

    async def issue(self, case_id: int, lang: str) -> Issued:
        """Make the passphrase of a just-submitted web case (once; it is never shown again)."""
        lang = lang if lang in LANGS else "en"
        phrase = codephrase.new_passphrase(passphrase_words(lang), PASSPHRASE_WORDS)
        normal = normalize_passphrase(phrase)
        salt = crypto.applicant_salt()
        hashed = await anyio.to_thread.run_sync(self.hasher.hash, normal)
        key = await anyio.to_thread.run_sync(crypto.derive_applicant_key, normal, salt)
        async with self.store.transaction() as session:
            case = await session.get(Case, case_id)
            if case is None or case.channel != "web" or case.state == CaseState.draft.value:
                raise ApplicantError("only a submitted web case gets a passphrase")
            if await session.get(WebAccess, case_id) is not None:
                raise ApplicantError("this case already has a passphrase")
            session.add(
                WebAccess(
                    case_id=case_id,
                    passphrase_hash=hashed,
                    key_salt=salt,
                    public_key=key.public_key,
                )
            )
            await audit.append(session, "intake", "web.passphrase_issued", case_id, {})
            reference = case.reference
        log.info("applicant event=passphrase_issued case=%s", case_id)
        return Issued(reference, phrase, passphrase_bits(lang))

    # -- coming back ----------------------------------------------------------------------

    def _admit(self, reference: str, session_id: str) -> tuple[str, int]:
        """Count one attempt before it is verified: the key of this reference and session,
        and 0, or the seconds to wait (then nothing was counted). Synchronous, so that
        concurrent attempts are counted one after the other."""
        mine = self.keys.lookup("web-unlock", f"{reference}|{session_id}")
        # One that proved the passphrase before goes ahead: only its own share can stop it.
        return mine, self.limits.hit(mine, ahead=mine in self.proven)

    async def _access(self, reference: str) -> tuple[WebAccess, Case] | None:
        """The web access record of a case, with the case, by its reference."""
        async with self.store.transaction() as session:
            row = (
                await session.execute(
                    select(WebAccess, Case)
                    .join(Case, Case.id == WebAccess.case_id)
                    .where(Case.reference == reference)
                )
            ).first()
        return (row[0], row[1]) if row is not None else None

    async def unlock(self, reference_text: str, passphrase: str, session_id: str) -> Unlocked:
        """Check a reference and passphrase from a server-issued browser session;
        :class:`RateLimited` or :class:`WrongCredentials`."""
        try:
            reference = normalize(reference_text[:64])
        except BadReference:
            reference = "invalid"
        mine, wait = self._admit(reference, session_id)
        if wait:
            log.info("applicant event=unlock_limited")
            raise RateLimited(wait)
        normal = normalize_passphrase(passphrase[:1000])
        row = await self._access(reference)
        stored = row[0].passphrase_hash if row is not None else self._decoy_hash
        try:
            await anyio.to_thread.run_sync(self.hasher.verify, stored, normal)
            ok = row is not None and row[1].state != CaseState.closed.value
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None:
            log.info("applicant event=unlock_failed")
            raise WrongCredentials("wrong case reference or passphrase")
        access, case = row
        key = await anyio.to_thread.run_sync(crypto.derive_applicant_key, normal, access.key_salt)
        if key.public_key != access.public_key:  # pragma: no cover - same passphrase, same key
            raise WrongCredentials("the passphrase does not derive the stored key")
        self.proven[mine] = True
        log.info("applicant event=unlocked case=%s", case.id)
        return Unlocked(case.id, case.reference, case.lang or "en", key)

    def page_token(self, unlocked: Unlocked, session_id: str) -> str:
        """The applicant's key, wrapped for a hidden field of the page (see module doc)."""
        expires = int(time.time()) + PAGE_TOKEN_SECONDS
        return crypto.wrap_applicant_key(
            self.keys, unlocked.key, self._context(unlocked.reference, session_id), expires
        )

    def _context(self, reference: str, session_id: str) -> str:
        return f"{reference}|{self.keys.lookup('web-session', session_id)}"

    async def resume(self, reference_text: str, token: str, session_id: str) -> Unlocked:
        """A page token back into an :class:`Unlocked` case; :class:`WrongCredentials` if not."""
        try:
            reference = normalize(reference_text[:64])
            key = crypto.unwrap_applicant_key(
                self.keys, token[:4096], self._context(reference, session_id), int(time.time())
            )
        except (BadReference, crypto.BadEnvelope):
            raise WrongCredentials("the page has expired") from None
        row = await self._access(reference)
        if row is None or row[0].public_key != key.public_key:
            raise WrongCredentials("the page has expired")
        if row[1].state == CaseState.closed.value:
            raise WrongCredentials("the case is closed")
        return Unlocked(row[1].id, row[1].reference, row[1].lang or "en", key)

    # -- the conversation -----------------------------------------------------------------

    async def thread(self, unlocked: Unlocked) -> list[ThreadItem]:
        """The conversation, opened with the applicant's own key."""
        async with self.store.transaction() as session:
            rows = (
                await session.scalars(
                    select(WebThread)
                    .where(WebThread.case_id == unlocked.case_id)
                    .order_by(WebThread.id)
                )
            ).all()
        items = []
        for row in rows:
            content = unlocked.key.open_json(row.body)
            text = str(content.get("text", "")) if isinstance(content, dict) else ""
            items.append(ThreadItem(row.direction, text, row.created_at))
        return items

    async def post(self, unlocked: Unlocked, text: str) -> Posted:
        """The applicant writes to the operators: validated like the bot's messages."""
        state = State(
            flow=self.engine.flow.id,
            version=self.engine.flow.version,
            lang=unlocked.lang,
            mode=Mode.submitted,
        )
        out = self.engine.step(state, Text(text))
        if out.effect is not Effect.message or not isinstance(out.message, Text):
            return Posted(False, out.replies)
        async with self.store.transaction() as session:
            case = await session.get(Case, unlocked.case_id)
            access = await session.get(WebAccess, unlocked.case_id)
            if case is None or access is None or case.state == CaseState.closed.value:
                raise WrongCredentials("the case is closed")
            await add_message(session, self.keys, case, access, "in", out.message.text, None)
        log.info("applicant event=message case=%s", unlocked.case_id)
        return Posted(True, out.replies)

    async def reply(self, reference: str, text: str, author: int | None) -> None:
        """An operator's reply (what the console does for a web case, in one transaction)."""
        async with self.store.transaction() as session:
            case = await session.scalar(select(Case).where(Case.reference == normalize(reference)))
            if case is None:
                raise ApplicantError("no such case")
            access = await session.get(WebAccess, case.id)
            await add_message(session, self.keys, case, access, "out", text, author)
            await audit.append(session, f"user:{author}", "case.replied", case.id, {})

    # -- erasing ---------------------------------------------------------------------------

    async def erase(self, unlocked: Unlocked) -> None:
        """Erase-me from the passphrase page: the same as the bot's /forget, and the access."""
        async with self.store.transaction() as session:
            case = await session.get(Case, unlocked.case_id)
            if case is None:
                return
            await session.run_sync(erasure.erase, case, "intake", "web")
        log.info("applicant event=erased case=%s", unlocked.case_id)


async def add_message(
    session: AsyncSession,
    keys: crypto.IntakeKeys,
    case: Case,
    access: WebAccess | None,
    direction: str,
    text: str,
    author: int | None,
) -> Message:
    """A text message of a case: sealed to the case key for the console and, for a web case
    with a passphrase, to the applicant's own key for the passphrase page. Use inside the
    caller's transaction (the console calls this when an operator answers a web case)."""
    message = Message(
        case_id=case.id,
        direction=direction,
        kind="text",
        body=keys.seal_json({"text": text}),
        author=author,
    )
    session.add(message)
    await session.flush()
    if access is not None:
        session.add(
            WebThread(
                case_id=case.id,
                message_id=message.id,
                direction=direction,
                body=crypto.seal_json_to_applicant(access.public_key, {"text": text}),
            )
        )
    case.updated_at = utcnow()
    return message
