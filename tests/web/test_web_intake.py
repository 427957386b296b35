"""The web intake over HTTP (in process, ASGI): the flow, headers, weight, CSRF, limits."""

from __future__ import annotations

import re

from sqlalchemy import select

from haven.content import LANGUAGE_NAMES
from haven.services.applicant import Applicants
from haven.services.campaigns import Campaigns, CampaignSpec
from haven.store.models import Case, Contact, Message, WebAccess, WebThread
from tests.conftest import Env
from tests.web.conftest import KOREAN_APPLICATION, STYLE_BYTES_LIMIT, Browser, BrowserFactory

HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


def assert_safe_headers(page_headers, *, css: bool = False) -> None:
    csp = page_headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "http" not in csp
    assert page_headers["referrer-policy"] == "no-referrer"
    if not css:
        assert page_headers["cache-control"] == "no-store"


async def test_landing_offers_each_language_in_itself_and_preselects(browser: Browser) -> None:
    page = await browser.get("/?c=Leaflet-7", headers={"accept-language": "uk-UA,uk;q=0.9"})
    assert page.status == 200
    for code, name in LANGUAGE_NAMES.items():
        assert f'<label class="opt" lang="{code}"><input type="radio" name="choice" ' in page.html
        assert name in page.html
    assert re.search(r'value="uk" checked', page.html)
    assert len(re.findall(r" checked", page.html)) == 1
    assert page.field("c") == "leaflet-7"
    assert '<html lang="uk" dir="ltr">' in page.html
    # Without a language of ours in the header, the configured default (Korean) is preselected.
    other = await browser.get("/", headers={"accept-language": "de, pt;q=0.5"})
    assert re.search(r'value="ko" checked', other.html)


async def test_korean_application_end_to_end(env: Env, browser_for: BrowserFactory) -> None:
    """On SQLite and PostgreSQL: apply, get reference and passphrase, read a reply, write."""
    await Campaigns(env.store).add(CampaignSpec("leaflet-7", "Leaflet 7"))
    browser = await browser_for(env)
    done = await browser.apply()
    reference, passphrase = done.reference, done.passphrase
    assert len(passphrase.split()) == len(set(passphrase.split())) == 7
    assert "열쇠말" in done.text and "암호말" in done.text
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        assert (case.state, case.channel, case.lang) == ("submitted", "web", "ko")
        assert case.campaign == "leaflet-7" and case.group_size == 3 and case.wounded is True
        access = await session.get(WebAccess, case.id)
        assert access is not None and access.passphrase_hash.startswith("$argon2id$")
        contacts = (await session.scalars(select(Contact))).all()
        assert all(b"\x00" not in c.address[:2] for c in contacts)  # sealed envelopes
    answers = env.keyring().open_json(case.answers)
    assert answers["answers"]["unit"]["value"] == "제94독립여단"

    # An operator answers, as the console does for a web case.
    applicants = Applicants(env.store, env.keys)
    await applicants.reply(reference, "내일 저녁 8시에 다시 련락하겠습니다.", author=1)

    # The applicant comes back, in a fresh browser, with the reference and the passphrase.
    again = await browser_for(env)
    await again.get("/return?l=ko")
    wrong = await again.post("/return", a="open", r=reference, p="소나무 " * 9, l="ko")
    assert "틀렸습니다" in wrong.text and wrong.field("r") == reference
    thread = await again.post("/return", a="open", r=reference.lower(), p=passphrase, l="ko")
    assert "내일 저녁 8시에 다시 련락하겠습니다." in thread.text
    assert "담당자" in thread.text
    sent = await again.post(
        "/return",
        a="send",
        r=thread.field("r"),
        t=thread.field("t"),
        text="알았습니다. 기다리겠습니다.",
    )
    assert "알았습니다. 기다리겠습니다." in sent.text
    # Too long a message is refused politely and kept in the form.
    long = "가" * 4001
    refused = await again.post("/return", a="send", r=sent.field("r"), t=sent.field("t"), text=long)
    assert "4000" in refused.text and long in refused.html
    async with env.store.transaction() as session:
        messages = (await session.scalars(select(Message).where(Message.case_id == case.id))).all()
        thread_rows = (
            await session.scalars(select(WebThread).where(WebThread.case_id == case.id))
        ).all()
    assert [m.direction for m in messages] == ["out", "in"]
    assert env.keyring().open_json(messages[1].body) == {"text": "알았습니다. 기다리겠습니다."}
    assert len(thread_rows) == 2  # the applicant's copies, sealed to their own key

    # Erase-me from the passphrase page.
    confirm = await again.post("/return", a="erase", r=sent.field("r"), t=sent.field("t"))
    assert "정말 지우겠습니까" in confirm.text
    erased = await again.post("/return", a="erase_yes", r=confirm.field("r"), t=confirm.field("t"))
    assert "지웠습니다" in erased.text
    async with env.store.transaction() as session:
        case = await session.get(Case, case.id)
        assert (case.state, case.close_reason, case.answers) == ("closed", "erased", None)
        assert await session.get(WebAccess, case.id) is None
        assert not (await session.scalars(select(Message).where(Message.case_id == case.id))).all()
    await again.get("/return")
    gone = await again.post("/return", a="open", r=reference, p=passphrase)
    assert "틀렸습니다" in gone.text


async def test_headers_cookie_mirrors_and_onion(sqlite_env: Env, browser_for) -> None:
    browser = await browser_for(
        sqlite_env,
        HAVEN_ONION_URL="http://havenexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion/",
        HAVEN_MIRRORS="https://mirror-one.example https://mirror-two.example/h/",
    )
    page = await browser.get("/", headers={"accept-language": "ru"})
    assert_safe_headers(page.headers)
    assert page.headers["onion-location"].endswith(".onion/")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("s=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie and "expires" not in cookie.lower()
    assert "mirror-one.example" in page.html and "mirror-two.example/h/" in page.html
    assert "Tor Browser" in page.html and ".onion/</code>" in page.html
    # One cookie, renewed once: the first answer binds the session to a fresh id.
    step = await browser.post("/", choice="ru")
    assert step.headers["set-cookie"].startswith("s=") and step.status == 200
    again = await browser.post("/", choice="russian_army")
    assert "set-cookie" not in again.headers and again.status == 200
    for path in ("/return", "/no-such-page", "/healthz"):
        other = await browser.get(path)
        assert_safe_headers(other.headers)
        assert "onion-location" in other.headers or path == "/healthz"
    css = await browser.client.get("/style.css")
    assert css.headers["content-type"].startswith("text/css")
    assert_safe_headers(css.headers, css=True)
    secure = await browser_for(sqlite_env, scheme="https")
    page = await secure.get("/")
    assert "Secure" in page.headers["set-cookie"]


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', html)


async def test_every_page_is_light_relative_and_script_free(sqlite_env: Env, browser_for) -> None:
    browser = await browser_for(sqlite_env)
    css = len((await browser.client.get("/style.css")).content)
    done = await browser.apply()
    await browser.get("/return?l=ko")
    await browser.post("/return", a="open", r=done.reference, p="틀린 말", l="ko")
    opened = await browser.post("/return", a="open", r=done.reference, p=done.passphrase, l="ko")
    await browser.post("/return", a="erase", r=opened.field("r"), t=opened.field("t"))
    await browser.post("/", csrf="forged", text="x")  # CSRF page
    await browser.get("/nowhere")
    await browser.post("/", choice="ko")
    await browser.post("/", cmd="lang")
    await browser.post("/", cmd="forget")
    # Correcting an answer from the summary, and the rate-limit page.
    other = await browser_for(sqlite_env, HAVEN_WEB_SESSION_LIMIT="12/minute")
    await other.get("/")
    for fields in KOREAN_APPLICATION:
        await other.post("/", **fields)
    await other.post("/", choice="correct")
    await other.post("/", choice="who")
    limited = await other.post("/", choice="kpa", text="가" * 300)
    assert limited.status == 429
    pages = browser.pages + other.pages
    assert len(pages) > 30
    for page in pages:
        assert len(page.html.encode("utf-8")) + css < STYLE_BYTES_LIMIT, page.text[:80]
        assert "<script" not in page.html.lower()
        assert not re.search(r"\son[a-z]+=", page.html)
        for url in _urls(page.html):
            assert not url.startswith(("/", "http:", "https:", "//")), url


async def test_csrf_and_missing_cookie_are_refused_and_change_nothing(browser: Browser) -> None:
    await browser.get("/", headers={"accept-language": "ko"})
    await browser.post("/", choice="ko")
    first = await browser.post("/", choice="kpa")
    assert "혼자" in first.text
    forged = await browser.post("/", csrf="0" * 64, choice="group", l="ko")
    assert forged.status == 403 and "다시 보내십시오" in forged.text
    assert forged.field("choice") == "group"  # kept, to send again with a valid token
    again = await browser.get("/")
    assert "혼자" in again.text  # still the same question: nothing changed
    # A token from another session does not work either.
    other_token = browser.last.csrf if browser.last else None
    browser.client.cookies.clear()
    stolen = await browser.post("/", csrf=other_token, text="침입")
    assert stolen.status == 403 and "set-cookie" in stolen.headers
    assert "침입" in stolen.html  # what they typed is not lost


async def test_session_rate_limit_keeps_what_was_typed(sqlite_env: Env, browser_for) -> None:
    browser = await browser_for(sqlite_env, HAVEN_WEB_SESSION_LIMIT="4/minute")
    await browser.get("/", headers={"accept-language": "ko"})
    await browser.post("/", choice="ko")
    await browser.post("/", choice="kpa")
    await browser.post("/", choice="alone")
    await browser.post("/", choice="no")
    limited = await browser.post("/", text="쿠르스크 근처 숲", l="ko")
    assert limited.status == 429
    assert "1분 후에 다시 오십시오" in limited.text
    assert int(limited.headers["retry-after"]) <= 60
    assert "쿠르스크 근처 숲</textarea>" in limited.html
    # A different session is not affected.
    other = await browser_for(sqlite_env, HAVEN_WEB_SESSION_LIMIT="4/minute")
    await other.get("/")
    assert (await other.post("/", choice="ru")).status == 200


async def test_global_rate_limit(sqlite_env: Env, browser_for) -> None:
    first = await browser_for(sqlite_env, HAVEN_WEB_GLOBAL_LIMIT="3/minute")
    await first.get("/", headers={"accept-language": "ru"})
    statuses = [(await first.post("/", choice="ru", l="ru")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "мин" in first.pages[-1].text


async def test_passphrase_guesses_are_rate_limited(sqlite_env: Env, browser_for) -> None:
    browser = await browser_for(sqlite_env, HAVEN_WEB_UNLOCK_LIMIT="3/hour")
    done = await browser.apply()
    await browser.get("/return?l=ko")
    for n in range(3):
        wrong = await browser.post("/return", a="open", r=done.reference, p=f"틀린 {n}")
        assert wrong.status == 200 and "틀렸습니다" in wrong.text
    right = await browser.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert right.status == 429 and "분 후에 다시 오십시오" in right.text
    assert right.field("r") == done.reference and "60분" in right.text
    assert 3500 <= int(right.headers["retry-after"]) <= 3600


async def test_passphrase_guesses_are_rate_limited_globally(sqlite_env, browser_for) -> None:
    browser = await browser_for(sqlite_env, HAVEN_WEB_UNLOCK_GLOBAL_LIMIT="2/minute")
    done = await browser.apply()
    await browser.get("/return")
    await browser.post("/return", a="open", r="AAAA-AAAA-A", p="x")
    await browser.post("/return", a="open", r="not a reference", p="y")
    right = await browser.post("/return", a="open", r=done.reference, p=done.passphrase)
    assert right.status == 429


async def test_commands_change_language_start_over_and_erase(sqlite_env, browser_for) -> None:
    browser = await browser_for(sqlite_env)
    await browser.get("/", headers={"accept-language": "ko"})
    await browser.post("/", choice="ko")
    await browser.post("/", choice="kpa")
    lang = await browser.post("/", cmd="lang")
    assert "Русский" in lang.html
    ru = await browser.post("/", choice="ru")
    assert "Язык" in ru.text or "русск" in ru.text.lower()
    restart = await browser.post("/", cmd="restart")
    assert "Кто вы?" in restart.text
    ask = await browser.post("/", cmd="forget")
    assert "Вы уверены?" in ask.text
    erased = await browser.post("/", choice="forget_yes")
    assert "удалено" in erased.text and "set-cookie" in erased.headers
    async with sqlite_env.store.transaction() as session:
        cases = (await session.scalars(select(Case))).all()
        assert [(c.state, c.close_reason) for c in cases] == [("closed", "erased")]
        assert not (await session.scalars(select(Contact))).all()


async def test_photo_step_and_too_large_photo(sqlite_env, browser_for) -> None:
    browser = await browser_for(sqlite_env, HAVEN_WEB_PHOTO_MAX_BYTES="1000000")
    await browser.get("/", headers={"accept-language": "ko"})
    for fields in KOREAN_APPLICATION[:7]:
        page = await browser.post("/", **fields)
    assert 'enctype="multipart/form-data"' in page.html
    big = await browser.post("/", files={"photo": ("card.jpg", b"\xff" * 1_200_000)})
    assert big.status == 413 and "1MB" in big.text
    ok = await browser.post("/", files={"photo": ("card.jpg", b"\xff\xd8\xff" + b"0" * 500)})
    assert ok.status == 200 and "련락" in ok.text  # the next question: how to reach you
    async with sqlite_env.store.transaction() as session:
        from haven.store.models import Attachment

        attachments = (await session.scalars(select(Attachment))).all()
    assert len(attachments) == 1 and attachments[0].size == 503


async def test_reload_after_submission_does_not_create_a_case(browser: Browser) -> None:
    done = await browser.apply()
    # The browser re-posts the confirm form (a reload): the session was renewed, so the
    # old page's token no longer matches and nothing is created.
    again = await browser.post("/", csrf=browser.pages[-2].csrf, choice="confirm")
    assert again.status == 403
    assert done.reference not in again.html


async def test_a_link_of_no_campaign_counts_as_unknown_as_on_telegram(
    sqlite_env: Env, browser_for: BrowserFactory
) -> None:
    """The web and the bot record a link's campaign alike: a code of no campaign, or text
    that cannot be a code, as ``unknown``."""
    await Campaigns(sqlite_env.store).add(CampaignSpec("known-1", "Known"))
    await Campaigns(sqlite_env.store).number_batch("known-1")
    links = {
        "/?c=KNOWN-1": "known-1",
        "/?c=known-1-1": "known-1-1",  # its print batch 1
        "/?c=known-1-2": "unknown",  # a batch never numbered
        "/?c=no-such-leaflet": "unknown",
        "/?c=" + "a" * 33: "unknown",
        "/": "None",
    }
    for link in links:
        await (await browser_for(sqlite_env)).apply(link=link)
    async with sqlite_env.store.transaction() as session:
        campaigns = sorted(map(str, (await session.scalars(select(Case.campaign))).all()))
    assert campaigns == sorted(links.values())


async def test_accept_language_picks_the_first_language_of_ours(browser: Browser) -> None:
    cases = {"pt-BR, fr;q=0.5": "fr", "zh-Hans-CN": "zh", "zh-TW, ar;q=0.3": "ar", "uz": "uz"}
    for header, lang in cases.items():
        page = await browser.get("/", headers={"accept-language": header})
        assert re.search(rf'value="{lang}" checked', page.html), header
        assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in page.html
