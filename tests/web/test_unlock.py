"""Unlock attempts: counted before argon2 runs, and a stranger who knows a reference cannot
lock its owner out (docs/adr/0003-unlock-attempts.md)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import select

from haven.services.applicant import Applicants, Issued, RateLimited, WrongCredentials
from haven.store.models import Case
from tests.conftest import Env
from tests.web.conftest import BrowserFactory
from tests.web.test_applicant import submit


class CountingHasher(PasswordHasher):
    """argon2id as the service uses it, counting the verifications it runs."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


async def issued_case(env: Env, applicants: Applicants) -> Issued:
    return await applicants.issue(await submit(env), "ru")


async def guesses(applicants: Applicants, reference: str, sessions: list[str]) -> list[object]:
    return await asyncio.gather(
        *(applicants.unlock(reference, "не та фраза", sid) for sid in sessions),
        return_exceptions=True,
    )


async def test_a_concurrent_burst_gets_at_most_the_limit_evaluated(env: Env) -> None:
    """On SQLite and PostgreSQL: 20 wrong guesses at once, one session, a limit of 5."""
    hasher = CountingHasher.from_parameters(RFC_9106_LOW_MEMORY)
    applicants = Applicants(
        env.store, env.keys, per_case_limit="5/hour", global_limit="1000/minute", hasher=hasher
    )
    issued = await issued_case(env, applicants)
    results = await guesses(applicants, issued.reference, ["one-session"] * 20)
    assert sum(isinstance(r, WrongCredentials) for r in results) == 5
    assert sum(isinstance(r, RateLimited) for r in results) == 15
    assert hasher.verified == 5
    # From 20 sessions at once, the overall limit holds the same way.
    hasher.verified = 0
    flooded = Applicants(
        env.store, env.keys, per_case_limit="5/hour", global_limit="5/minute", hasher=hasher
    )
    results = await guesses(flooded, issued.reference, [f"session-{n}" for n in range(20)])
    assert sum(isinstance(r, RateLimited) for r in results) == 15
    assert hasher.verified == 5
    # Nothing else changed: the owner still opens the case.
    unlocked = await applicants.unlock(issued.reference, issued.passphrase, "owner")
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == issued.reference))
    assert case is not None and unlocked.case_id == case.id and case.state == "submitted"


async def test_a_strangers_failures_do_not_stop_the_owner(
    env: Env, browser_for: BrowserFactory
) -> None:
    """On SQLite and PostgreSQL, over the web: a stranger who knows the reference uses up his
    own share; the owner, in his own browser, opens the case at once."""
    owner = await browser_for(env, HAVEN_WEB_UNLOCK_LIMIT="5/hour")
    done = await owner.apply()
    stranger = await browser_for(env, same_as=owner)  # the same process: the same limits
    await stranger.get("/return?l=ko")
    for n in range(5):
        wrong = await stranger.post("/return", a="open", r=done.reference, p=f"틀린 말 {n}")
        assert wrong.status == 200 and "틀렸습니다" in wrong.text
    limited = await stranger.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert limited.status == 429 and "분 후에 다시 오십시오" in limited.text
    # The owner, in the same process, is not locked out.
    await owner.get("/return?l=ko")
    opened = await owner.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert opened.status == 200 and opened.field("t")


async def test_a_session_that_proved_the_passphrase_keeps_its_turn(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    owner = await browser_for(sqlite_env, HAVEN_WEB_UNLOCK_GLOBAL_LIMIT="3/minute")
    done = await owner.apply()
    await owner.get("/return?l=ko")
    first = await owner.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert first.status == 200
    web = owner.app.routes[-1].app.web  # Mount -> SecurityHeaders
    # A flood of guesses from fresh sessions fills the overall limit.
    flood = await guesses(web.applicants, done.reference, [f"flood-{n}" for n in range(5)])
    assert any(isinstance(r, RateLimited) for r in flood)
    # The owner's session opens the case again; a session that never proved it waits.
    again = await owner.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert again.status == 200 and again.field("t")
    with pytest.raises(RateLimited):
        await web.applicants.unlock(done.reference, done.passphrase, "a-new-session")
