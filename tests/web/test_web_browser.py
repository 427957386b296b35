"""A real browser (Debian's Chromium, JavaScript disabled) against a real server on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from haven.content import words as code_words
from haven.server import create_app
from haven.services.applicant import Applicants
from haven.settings import load_settings
from tests.browser import launch, needs_chromium
from tests.conftest import Env
from tests.web.conftest import served

WIDTH = 360
REPLY = "신청을 받았습니다. 래일 저녁 8시에 다시 련락하겠습니다."

pytestmark = needs_chromium


@pytest.fixture
def server(sqlite_env: Env) -> Iterator[str]:
    """haven itself (``create_app``, as ``haven serve`` runs it) on 127.0.0.1, access log off."""
    settings = load_settings({**sqlite_env.environ, "HAVEN_MIRRORS": "https://mirror.example"})
    with served(create_app(settings), server_header=False) as url:
        yield url


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(
        java_script_enabled=False,
        viewport={"width": WIDTH, "height": 740},
        locale="ko-KP",
    )
    return await context.new_page()


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


async def fits(page: Page) -> None:
    """Nothing sticks out to the right of a 360-pixel-wide screen."""
    for locator in await page.locator("main *, header, footer").all():
        box = await locator.bounding_box()
        if box is not None:
            assert box["x"] + box["width"] <= WIDTH + 0.5, await locator.inner_html()


async def test_korean_application_in_chromium_without_javascript(
    server: str, chromium: Browser, sqlite_env: Env, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("WEB_SCREENSHOT_DIR", tmp_path))
    page = await new_page(chromium)
    await page.goto(server + "?c=leaflet-9")
    assert await page.get_by_role(
        "radio", name="조선말"
    ).is_checked()  # preselected from the locale
    await page.get_by_role("button", name="다음").click()
    await page.get_by_role("button", name="조선인민군 군인").click()
    await page.get_by_role("button", name="여럿이 함께").click()
    await page.get_by_role("textbox").fill("4")
    await page.get_by_role("button", name="보내기").click()
    await page.get_by_role("button", name="아니요").click()
    await page.get_by_role("textbox").fill("쿠르스크주 수자 근처")
    await page.get_by_role("button", name="보내기").click()
    shot = await page.screenshot(path=str(shots / "web-ko-360.png"), full_page=True)
    assert png_size(shot)[0] == WIDTH
    await fits(page)
    await page.get_by_role("button", name="건너뛰기").click()  # unit
    await page.get_by_role("button", name="건너뛰기").click()  # photo
    await page.get_by_role("textbox").fill("저녁마다 이 홈페지로")
    await page.get_by_role("button", name="보내기").click()
    await page.get_by_role("button", name="예, 동의합니다").click()
    assert "쿠르스크주 수자 근처" in await page.inner_text("main")  # the summary
    await page.get_by_role("button", name="예, 보냅니다").click()
    done = await page.inner_text("main")
    reference = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]", done)
    assert reference, done
    words = await page.locator(".pass li").all_inner_texts()
    assert len(words) == len(set(words)) == 7
    code = re.search(r"암호말: (\S+) (\S+)", done)
    assert code, done
    assert not set(code.groups()) & set(words)  # never one word in both
    assert not set(words) & set(code_words("ko"))
    # The Geneva guarantees, and the web's own way to erase (never the bot's /forget).
    assert "제네바협약은 포로에게" in done and "지체없이 석방되여" in done
    assert "《모두 지우기》 단추" in done and "/forget" not in done
    await page.screenshot(path=str(shots / "web-ko-360-done.png"), full_page=True)
    await fits(page)

    # An operator answers (as the console does, through the store).
    await Applicants(sqlite_env.store, sqlite_env.keys).reply(reference.group(0), REPLY, 1)

    # Later, in another browser: back with the reference and the passphrase.
    page = await new_page(chromium)
    await page.goto(server)
    await page.get_by_role("link", name=re.compile("답장을 읽으십시오")).click()
    await page.get_by_label("신청번호").fill(reference.group(0).lower().replace("-", ""))
    await page.get_by_label("열쇠말").fill("  ".join(words))
    await page.get_by_role("button", name="열기").click()
    assert REPLY in await page.inner_text("main")
    await page.get_by_label("우리에게 글 보내기").fill("알았습니다.")
    await page.get_by_role("button", name="보내기").click()
    text = await page.inner_text("main")
    assert "알았습니다." in text and REPLY in text
    await page.screenshot(path=str(shots / "web-ko-360-thread.png"), full_page=True)
    await fits(page)
    await asyncio.sleep(0)
