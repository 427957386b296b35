"""Applicants under way keep their turn while new sessions flood the forms past the global
limit; progress is what the intake recorded for a bound session, not something a client
can claim."""

from __future__ import annotations

from tests.conftest import Env
from tests.web.conftest import KOREAN_APPLICATION, Browser, BrowserFactory

LIMITS = {"HAVEN_WEB_GLOBAL_LIMIT": "12/minute", "HAVEN_WEB_PROGRESS_ANSWERS": "3"}


async def flood(fresh: list[Browser]) -> list[int]:
    """Each fresh session posts its first answer (the language)."""
    statuses = []
    for other in fresh:
        await other.get("/")
        statuses.append((await other.post("/", choice="ru")).status)
    return statuses


async def test_an_applicant_several_answers_in_keeps_his_turn(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    applicant = await browser_for(sqlite_env, **LIMITS)
    await applicant.get("/", headers={"accept-language": "ko"})
    steps = [*KOREAN_APPLICATION, {"choice": "confirm"}]
    # The language and three answers, before any flood.
    for fields in steps[:4]:
        assert (await applicant.post("/", **fields)).status == 200
    refused = 0
    for fields in steps[4:]:
        fresh = [await browser_for(sqlite_env, same_as=applicant) for _ in range(4)]
        refused += (await flood(fresh)).count(429)
        page = await applicant.post("/", **fields)
        assert page.status == 200, page.text
    assert "신청번호" in applicant.pages[-1].text
    # The flood did go past the global limit: most new sessions were refused.
    assert refused >= 20


async def test_a_session_not_far_enough_competes_like_a_new_one(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    early = await browser_for(sqlite_env, **LIMITS)
    await early.get("/", headers={"accept-language": "ko"})
    for fields in KOREAN_APPLICATION[:3]:  # the language and two answers
        assert (await early.post("/", **fields)).status == 200
    fresh = [await browser_for(sqlite_env, same_as=early) for _ in range(12)]
    assert 429 in await flood(fresh)
    assert (await early.post("/", **KOREAN_APPLICATION[3])).status == 429


async def test_the_reserve_of_sessions_under_way_is_bounded(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    """Sessions that made progress go past the global limit only as far as their reserve."""
    limits = {
        **LIMITS,
        "HAVEN_WEB_GLOBAL_LIMIT": "20/minute",
        "HAVEN_WEB_PROGRESS_LIMIT": "3/minute",
    }
    first = await browser_for(sqlite_env, **limits)
    applicants = [first] + [await browser_for(sqlite_env, same_as=first) for _ in range(3)]
    for applicant in applicants:
        await applicant.get("/", headers={"accept-language": "ko"})
        for fields in KOREAN_APPLICATION[:4]:
            assert (await applicant.post("/", **fields)).status == 200
    # 16 of the 20 are spent; new sessions take the other 4.
    fresh = [await browser_for(sqlite_env, same_as=first) for _ in range(5)]
    assert await flood(fresh) == [200, 200, 200, 200, 429]
    statuses = [(await a.post("/", **KOREAN_APPLICATION[4])).status for a in applicants]
    assert statuses == [200, 200, 200, 429]


async def test_a_passphrase_proven_session_keeps_its_turn(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    applicant = await browser_for(sqlite_env, HAVEN_WEB_GLOBAL_LIMIT="14/minute")
    done = await applicant.apply()  # 11 posts
    await applicant.get("/return?l=ko")
    opened = await applicant.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert opened.status == 200 and opened.field("t")
    fresh = [await browser_for(sqlite_env, same_as=applicant) for _ in range(4)]
    assert 429 in await flood(fresh)
    sent = await applicant.post("/return", a="send", r=done.reference, t=opened.field("t"),
                                text="저녁에 다시 쓰겠습니다")  # fmt: skip
    assert sent.status == 200, sent.text
