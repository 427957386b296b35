"""What a visit leaves in the browser: neutral titles in the history, advice on erasing the
visit, and no page kept in the back-forward cache (real Chromium, its cache switched on)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser import ARGS, CHROMIUM, needs_chromium
from tests.web.test_web_browser import server  # noqa: F401 - haven on loopback

pytestmark = needs_chromium


@pytest.fixture
async def chromium_bfcache() -> AsyncIterator[Browser]:
    """Chromium with its back-forward cache on (Playwright turns it off by default)."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        try:
            yield browser
        finally:
            await browser.close()


class _Cacheable(BaseHTTPRequestHandler):
    """A page any browser may keep in its back-forward cache: the control."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>control</title><a href='/next'>next</a>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def control() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Cacheable)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


async def restored_from_cache(page: Page, url: str, leave: str) -> bool:
    """Open ``url``, mark its window, go on to ``leave`` and back: was the page restored as it
    was (the back-forward cache) or loaded again?"""
    await page.goto(url)
    await page.evaluate("window.__visit = 'kept'")
    await page.goto(leave)
    await page.go_back(wait_until="commit")  # a page restored from the cache fires no load
    await page.wait_for_function("document.readyState === 'complete'")
    return bool(await page.evaluate("window.__visit === 'kept'"))


async def test_a_visit_leaves_little_in_the_browser(
    server: str,  # noqa: F811 - the fixture
    control: str,
    chromium_bfcache: Browser,
) -> None:
    context = await chromium_bfcache.new_context(locale="ko-KP")
    page = await context.new_page()
    # The control shows that this browser does keep pages in its back-forward cache...
    assert await restored_from_cache(page, control, control + "next")
    # ... but not haven's (no-store): nothing of the conversation stays in memory.
    assert not await restored_from_cache(page, server, control)
    await page.goto(server)
    assert await page.title() == "Notes"  # what the history shows: nothing of a hotline
    footer = await page.inner_text("footer")
    assert "Tor 열람기" in footer and "방문기록" in footer
    main = await page.inner_text("main")
    assert "잠겨있을 때" in main and "자동삭제" in main  # the phone advice, in 조선말
    await page.get_by_role("button", name="다음").click()
    assert await page.title() == "Notes"
    await context.close()
