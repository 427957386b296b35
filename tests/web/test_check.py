"""One check everywhere: the web page, the bot's ``/verify`` (fake Bot API), the leaflet PDF
(pdftotext) and the hand-off message show the same bot name and the same check code, by the
same name in each language; without a bot they agree too."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest

from haven.console import create_console_app
from haven.content import LANGS, gettext_for
from haven.services.verify import BOTS_LABEL, Check, check_text, verify_for
from haven.settings import load_settings
from haven.store.models import utcnow
from tests.conftest import Env
from tests.console.test_services import users, verified_case
from tests.security.steps import issue_handoff
from tests.telegram.conftest import Chat, RuntimeFactory, make_runtime  # noqa: F401 - fixture
from tests.telegram.fakebot import TOKEN, USERNAME, FakeBotAPI
from tests.telegram.test_bots import MIRROR, MIRROR_NAME, Bots, make_bots  # noqa: F401 - fixture
from tests.web.conftest import BrowserFactory

BOT = "haven_test_bot"  # what the fake Bot API's getMe answers
CODE = re.compile(r"\d{4}-\d{4}-\d{4}-\d{4}")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def haven(environ: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "haven", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def leaflet_text(environ: dict[str, str], lang: str, out: Path) -> str:
    """The CLI prints a leaflet (called in a thread: the bot keeps running meanwhile, and may
    hold the database's writer for a moment)."""
    haven(environ, "campaign", "add", "check-a1", "--name", "Check", "--kind", "leaflet")
    haven(environ, "leaflet", "--campaign", "check-a1", "--lang", lang, "--out", str(out))
    pdf = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return pdf.stdout


async def handoff_text(env: Env, environ: dict[str, str]) -> str:
    """What the applicant of a Korean case is sent when the console issues a hand-off."""
    console = create_console_app(load_settings(environ), env.store, env.keys)
    handoffs = console.state.console.handoffs
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "North"))
    reference = await verified_case(env, op, address="4242")
    sent: list[str] = []

    async def sender(_session: object, _contact: object, text: str, _case_id: int) -> bool:
        sent.append(text)
        return True

    start = utcnow() + timedelta(hours=3)
    end = start + timedelta(minutes=40)
    signal = "white cloth"
    await issue_handoff(
        env, co, reference, start=start, end=end, signal=signal, sender=sender, handoffs=handoffs
    )
    (text,) = sent
    return text


def assert_shows(surface: str, text: str, check: Check, lang: str) -> None:
    """The surface shows the check in ``lang``: the name first, then the code by its name."""
    said = check_text(lang, check)
    flat = squeeze(text)
    assert set(CODE.findall(text)) == {check.code}, surface
    assert squeeze(said.code_line) in flat, surface
    if check.username:
        assert check.username in text, surface
        assert squeeze(said.warn) in flat, surface  # with the deep link
        assert text.index(check.username) < text.index(check.code), surface
    else:
        assert BOT not in text, surface
        assert squeeze(said.note) in flat, surface


async def test_the_same_check_on_every_surface(
    sqlite_env: Env,
    browser_for: BrowserFactory,
    fake: FakeBotAPI,
    make_runtime: RuntimeFactory,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    environ = {**sqlite_env.environ, "HAVEN_TELEGRAM_BOT_USERNAME": BOT}
    check = verify_for(BOT, sqlite_env.keys)
    assert check.username == "@" + BOT and check.link == "https://t.me/" + BOT

    # The web page, in every language: the bot's name large, first.
    browser = await browser_for(sqlite_env, HAVEN_TELEGRAM_BOT_USERNAME=BOT)
    for lang in LANGS:
        page = await browser.get(f"/?l={lang}")
        assert f'<p class="bot"><bdi>{check.username}</bdi></p>' in page.html
        footer = unescape(re.sub(r"<[^>]+>", " ", page.html.split("<footer>")[1]))
        assert_shows(f"web {lang}", footer, check, lang)

    # The bot's /verify, in English before a language is chosen, then in Korean.
    await make_runtime(sqlite_env, telegram_bot_username=BOT)
    chat = Chat(fake, 5150)
    replies = await chat.say("/verify")
    assert_shows("bot en", replies[0].text, check, "en")
    await chat.say("/start")
    await chat.press("ko")
    replies = await chat.say("/verify")
    assert_shows("bot ko", replies[0].text, check, "ko")
    assert replies[0].text.startswith(check_text("ko", check).bot_label)

    # The leaflet, printed by the CLI as an operator does.
    leaflet = await asyncio.to_thread(leaflet_text, environ, "ko", tmp_path / "ko.pdf")
    assert_shows("leaflet ko", leaflet, check, "ko")

    # The hand-off message the console sends.
    assert_shows("hand-off ko", await handoff_text(sqlite_env, environ), check, "ko")


async def test_without_a_bot_the_check_is_the_same_everywhere(
    sqlite_env: Env,
    browser_for: BrowserFactory,
    fake: FakeBotAPI,
    make_runtime: RuntimeFactory,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    environ = {**sqlite_env.environ, "HAVEN_MIRRORS": "https://mirror.example"}
    check = verify_for("", sqlite_env.keys)
    assert check.username == "" and check.code == verify_for("", sqlite_env.keys).code
    browser = await browser_for(sqlite_env)
    page = await browser.get("/?l=ru")
    assert 'class="bot"' not in page.html
    assert_shows("web ru", unescape(page.html.split("<footer>")[1]), check, "ru")
    # A bot whose name is not configured prints the same code (and no name).
    await make_runtime(sqlite_env)
    replies = await Chat(fake, 6160).say("/verify")
    assert_shows("bot en", replies[0].text, check, "en")
    leaflet = await asyncio.to_thread(leaflet_text, environ, "uk", tmp_path / "uk.pdf")
    assert_shows("leaflet uk", leaflet, check, "uk")
    assert_shows("hand-off ko", await handoff_text(sqlite_env, environ), check, "ko")


async def test_with_a_mirror_bot_every_surface_names_both_bots(
    sqlite_env: Env,
    browser_for: BrowserFactory,
    fake: FakeBotAPI,
    make_bots: Bots,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """An applicant who writes to the mirror and sends /verify is not told that the only real
    bot is another one: every surface names both bots, the primary first, with both links and
    the one code."""
    bots = {
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_BOT_USERNAME": USERNAME,
        "HAVEN_TELEGRAM_MIRROR_TOKENS": MIRROR,
        "HAVEN_TELEGRAM_MIRROR_USERNAMES": MIRROR_NAME,
    }
    environ = {**sqlite_env.environ, **bots}
    check = verify_for(USERNAME, sqlite_env.keys, mirrors=[MIRROR_NAME])
    assert check.code == verify_for(USERNAME, sqlite_env.keys).code

    def shows_both(surface: str, text: str, lang: str) -> None:
        said = check_text(lang, check)
        flat = squeeze(text)
        assert said.bot_label == gettext_for(lang)(BOTS_LABEL), surface
        assert squeeze(said.bot_label) in flat, surface
        assert squeeze(said.warn) in flat and f"https://t.me/{MIRROR_NAME}" in said.warn, surface
        primary, mirror = text.index(f"@{USERNAME}"), text.index(f"@{MIRROR_NAME}")
        assert primary < mirror < text.index(check.code), surface
        assert set(CODE.findall(text)) == {check.code}, surface

    browser = await browser_for(sqlite_env, **bots)
    for lang in LANGS:
        page = await browser.get(f"/?l={lang}")
        assert f'<p class="bot"><bdi>@{MIRROR_NAME}</bdi></p>' in page.html
        footer = unescape(re.sub(r"<[^>]+>", " ", page.html.split("<footer>")[1]))
        shows_both(f"web {lang}", footer, lang)
    await make_bots(sqlite_env)
    for token, chat_id in ((MIRROR, 5252), (TOKEN, 5253)):
        replies = await Chat(fake, chat_id, token).say("/verify")
        shows_both(f"bot {chat_id}", replies[0].text, "en")
    leaflet = await asyncio.to_thread(leaflet_text, environ, "ko", tmp_path / "ko.pdf")
    shows_both("leaflet ko", leaflet, "ko")
    shows_both("hand-off ko", await handoff_text(sqlite_env, environ), "ko")


async def test_a_token_of_another_bot_is_refused(
    sqlite_env: Env,
    make_runtime: RuntimeFactory,  # noqa: F811 - the fixture imported above
) -> None:
    runtime = await make_runtime(sqlite_env, start=False, telegram_bot_username="our_real_bot")
    try:
        with pytest.raises(ValueError, match=r"@our_real_bot.*@haven_test_bot"):
            await runtime.start()
    finally:
        await runtime.bot.session.close()
