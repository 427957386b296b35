"""Web sessions the server issued: a planted cookie never leads to the victim's answers, a forged
one is replaced, ``__Host-`` over HTTPS, HSTS behind TLS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.responses import HTMLResponse

from haven.server import create_app
from haven.settings import load_settings
from haven.store.models import Case, Contact
from tests.conftest import Env
from tests.web.conftest import KOREAN_APPLICATION, Browser, BrowserFactory, served, session_id

VICTIM_TEXT = "쿠르스크 근처 마을"


def plant(browser: Browser, value: str, name: str = "s") -> None:
    """Put a cookie in a browser's jar in place of whatever it holds (as an attacker would)."""
    browser.client.cookies.clear()
    browser.client.cookies.set(name, value, domain="testserver.local", path="/")


async def counts(env: Env) -> tuple[int, int]:
    async with env.store.transaction() as session:
        cases = await session.scalar(select(func.count()).select_from(Case))
        contacts = await session.scalar(select(func.count()).select_from(Contact))
    return int(cases or 0), int(contacts or 0)


async def test_a_planted_cookie_never_sees_the_victims_answers(
    env: Env, browser_for: BrowserFactory
) -> None:
    """On SQLite and PostgreSQL: the attacker takes a cookie the server issued him, plants it
    in the victim's browser, the victim answers; the attacker's cookie shows none of it."""
    attacker = await browser_for(env)
    landing = await attacker.get("/", headers={"accept-language": "ko"})
    planted = attacker.client.cookies["s"]
    assert landing.headers["set-cookie"].startswith("s=" + planted)

    victim = await browser_for(env)
    plant(victim, planted)
    page = await victim.get("/", headers={"accept-language": "ko"})
    assert "set-cookie" not in page.headers  # a cookie the server issued is kept as it is
    first = await victim.post("/", **KOREAN_APPLICATION[0])
    assert first.status == 200
    bound = victim.client.cookies["s"]
    assert bound != planted and session_id(bound) != session_id(planted)
    for fields in KOREAN_APPLICATION[1:]:
        step = await victim.post("/", **fields)
        assert step.status == 200
    assert VICTIM_TEXT in step.text  # the victim's summary shows his answers

    # The attacker, with the planted cookie: the landing page, nothing of the victim's.
    seen = await attacker.get("/", headers={"accept-language": "ko"})
    assert seen.status == 200 and 'name="choice" value="ko"' in seen.html
    assert VICTIM_TEXT not in seen.text and "제94독립여단" not in seen.text
    # Answering with it starts a conversation of the attacker's own, at the first question.
    mine = await attacker.post("/", choice="ko")
    assert mine.status == 200 and VICTIM_TEXT not in mine.text
    assert "누구" in mine.text  # who are you? (the victim is at the summary)
    assert session_id(attacker.client.cookies["s"]) not in (
        session_id(planted),
        session_id(bound),
    )
    # The victim's conversation is intact and still his.
    again = await victim.get("/")
    assert VICTIM_TEXT in again.text
    assert await counts(env) == (2, 2)


@pytest.mark.parametrize(
    "cookie",
    [
        "A" * 43,  # the old format: any 43 characters were adopted
        "b" + "A" * 32 + "." + "0" * 32,  # the right shape, a MAC the server did not make
    ],
)
async def test_a_forged_cookie_is_replaced_and_changes_nothing(
    env: Env, browser_for: BrowserFactory, cookie: str
) -> None:
    browser = await browser_for(env)
    plant(browser, cookie)
    landing = await browser.get("/", headers={"accept-language": "ru"})
    assert landing.status == 200 and 'name="choice" value="ru"' in landing.html
    issued = browser.client.cookies["s"]
    assert issued != cookie and landing.headers["set-cookie"].startswith("s=")

    # A POST with the forged cookie and the CSRF token that would match it (as if the forger
    # had it): refused politely in the applicant's language, nothing stored, the form kept.
    plant(browser, cookie)
    token = env.keys.lookup("web-csrf", session_id(cookie))
    before = await counts(env)
    refused = await browser.post("/", csrf=token, choice="ru", l="ru")
    assert refused.status == 403
    assert "Срок действия страницы истёк" in refused.text
    assert refused.field("choice") == "ru"
    assert refused.headers["set-cookie"].startswith("s=")
    assert browser.client.cookies["s"] != cookie
    assert await counts(env) == before
    # Sent again, with the cookie that replaced it: it works.
    sent = await browser.post("/", choice="ru", l="ru")
    assert sent.status == 200 and "Кто вы?" in sent.text


async def test_an_unbound_cookie_cannot_be_made_bound(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    browser = await browser_for(sqlite_env)
    await browser.get("/")
    unbound = browser.client.cookies["s"]
    assert unbound.startswith("u")
    plant(browser, "b" + unbound[1:])
    page = await browser.get("/")
    assert page.headers["set-cookie"].startswith("s=u")  # replaced by a new unbound one


async def test_https_cookie_is_host_prefixed_and_hsts_only_over_https(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    secure = await browser_for(sqlite_env, scheme="https", HAVEN_HSTS_SECONDS="31536000")
    page = await secure.get("/")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-s=") and "Secure" in cookie and "Path=/" in cookie
    assert "domain" not in cookie.lower() and "HttpOnly" in cookie
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    step = await secure.post("/", choice="en")
    assert step.status == 200 and step.headers["set-cookie"].startswith("__Host-s=")
    assert "Who are you?" in step.text
    # A plain "s" cookie (one a network attacker could set over HTTP) means nothing here.
    plain = await browser_for(sqlite_env, HAVEN_HSTS_SECONDS="31536000")
    over_http = await plain.get("/")
    assert "strict-transport-security" not in over_http.headers
    fresh = await browser_for(sqlite_env, scheme="https")
    plant(fresh, plain.client.cookies["s"])
    replaced = await fresh.get("/")
    assert replaced.headers["set-cookie"].startswith("__Host-s=")
    assert "strict-transport-security" not in replaced.headers  # HSTS off by default


async def test_the_cookie_header_is_the_one_starlette_writes(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    for scheme, name in (("http", "s"), ("https", "__Host-s")):
        browser = await browser_for(sqlite_env, scheme=scheme)
        page = await browser.get("/")
        expected = HTMLResponse("")
        expected.set_cookie(
            name,
            browser.client.cookies[name],
            path="/",
            httponly=True,
            samesite="strict",
            secure=scheme == "https",
        )
        assert page.headers["set-cookie"] == expected.headers["set-cookie"]


async def test_landing_pages_differ_only_by_their_session(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    """The landing is rendered once per language: each session still gets its own token."""
    first = await browser_for(sqlite_env)
    second = await browser_for(sqlite_env, same_as=first)
    keys = first.app.state.keys
    pages = []
    for browser in (first, second):
        page = await browser.get("/", headers={"accept-language": "ko"})
        assert page.csrf == keys.lookup("web-csrf", session_id(browser.client.cookies["s"]))
        pages.append(page)
    one, two = pages
    assert one.csrf and two.csrf and one.csrf != two.csrf
    assert one.html.replace(one.csrf, "") == two.html.replace(two.csrf, "")
    russian = await first.get("/", headers={"accept-language": "ru"})
    assert russian.csrf == one.csrf and russian.field("l") == "ru" and one.field("l") == "ko"
    assert russian.html.replace(one.csrf, "") != one.html.replace(one.csrf, "")
    leaflet = await second.get("/?c=leaflet-7", headers={"accept-language": "ko"})
    assert leaflet.field("c") == "leaflet-7" and leaflet.csrf == two.csrf
    again = await second.get("/", headers={"accept-language": "ko"})
    assert again.field("c") is None and again.html == two.html
    sent = await second.post("/", choice="ko", l="ko")
    assert sent.status == 200 and sent.csrf != two.csrf  # the first answer binds a new session


@pytest.fixture
def server(sqlite_env: Env) -> Iterator[str]:
    """haven on 127.0.0.1 under uvicorn, as ``haven serve`` runs it (proxy headers trusted
    from loopback)."""
    settings = load_settings({**sqlite_env.environ, "HAVEN_HSTS_SECONDS": "600"})
    with served(create_app(settings)) as url:
        yield url


def test_behind_a_tls_proxy_on_loopback(server: str) -> None:
    """A reverse proxy on the same host says ``X-Forwarded-Proto: https``."""
    proxied = httpx.get(server, headers={"x-forwarded-proto": "https"}, timeout=10)
    assert proxied.headers["set-cookie"].startswith("__Host-s=")
    assert proxied.headers["strict-transport-security"] == "max-age=600"
    direct = httpx.get(server, timeout=10)
    assert direct.headers["set-cookie"].startswith("s=")
    assert "strict-transport-security" not in direct.headers
