from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import httpx
import pytest
import uvicorn

from haven.server import create_app
from haven.settings import load_settings
from tests.conftest import Env

CLIENT_IP = "203.0.113.77"  # TEST-NET-3: appears nowhere unless someone logs the client
USER_AGENT = "CanaryBrowser/9.9 (ua-canary-7f3e)"
STYLE_BYTES_LIMIT = 30_000

#: A Korean application, step by step: the posted fields.
KOREAN_APPLICATION: list[dict[str, str]] = [
    {"choice": "ko"},
    {"choice": "kpa"},
    {"choice": "group"},
    {"text": "3"},
    {"choice": "yes"},
    {"text": "쿠르스크 근처 마을"},
    {"text": "제94독립여단"},
    {"choice": "skip"},
    {"text": "저녁마다 이 홈페지로"},
    {"choice": "yes"},
]


@contextmanager
def served(app: Any, **config: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free 127.0.0.1 port, in a thread, stopped on exit: its URL."""
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **config))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()


def session_id(cookie: str) -> str:
    """The random id in a session cookie (``u``/``b``, the id, ``.``, the MAC)."""
    return cookie[1:].split(".", 1)[0]


@dataclass
class Page:
    status: int
    html: str
    headers: httpx.Headers

    @property
    def csrf(self) -> str | None:
        found = re.search(r'name="csrf" value="([^"]+)"', self.html)
        return found.group(1) if found else None

    def field(self, name: str) -> str | None:
        found = re.search(rf'name="{name}" value="([^"]*)"', self.html)
        return unescape(found.group(1)) if found else None

    @property
    def text(self) -> str:
        main = re.search(r"<main>(.*)</main>", self.html, re.S)
        body = main.group(1) if main else self.html
        return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))

    @property
    def passphrase(self) -> str:
        box = re.search(r'<div class="pass">.*?<ol>(.*?)</ol>', self.html, re.S)
        assert box, "no passphrase on this page"
        return " ".join(unescape(w) for w in re.findall(r"<li>(.*?)</li>", box.group(1)))

    @property
    def reference(self) -> str:
        found = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]", self.html)
        assert found, "no case reference on this page"
        return found.group(0)


@dataclass
class Browser:
    """A cookie-keeping client that posts each form with the token of the last page."""

    client: httpx.AsyncClient
    app: Any
    last: Page | None = None
    pages: list[Page] = field(default_factory=list)

    async def get(self, path: str = "/", **kwargs: Any) -> Page:
        response = await self.client.get(path, **kwargs)
        return self._keep(response)

    async def post(self, path: str = "/", csrf: str | None = None, **fields: Any) -> Page:
        token = csrf if csrf is not None else (self.last.csrf if self.last else None)
        data = {"csrf": token or "", **fields}
        files = data.pop("files", None)
        response = await self.client.post(path, data=data, files=files)
        return self._keep(response)

    def _keep(self, response: httpx.Response) -> Page:
        page = Page(response.status_code, response.text, response.headers)
        self.pages.append(page)
        if page.csrf:
            self.last = page
        return page

    async def apply(
        self, steps: list[dict[str, str]] | None = None, link: str = "/?c=Leaflet-7"
    ) -> Page:
        """The whole Korean application from ``link``; returns the page with reference and
        passphrase."""
        landing = await self.get(link, headers={"accept-language": "ko-KP,ko;q=0.9"})
        hidden = {"c": landing.field("c") or "", "l": landing.field("l") or ""}
        page = None
        for fields in steps or KOREAN_APPLICATION:
            page = await self.post("/", **hidden, **fields)
            hidden = {}
            assert page.status == 200, page.text
        page = await self.post("/", choice="confirm")
        assert page.status == 200 and "신청번호" in page.text, page.text
        return page


BrowserFactory = Callable[..., Awaitable[Browser]]


@pytest.fixture
async def browser_for() -> AsyncIterator[BrowserFactory]:
    """``await browser_for(env, HAVEN_…=…)``: the whole haven app, in process, over ASGI."""
    opened: list[tuple[httpx.AsyncClient, Any]] = []

    async def make(
        env: Env, scheme: str = "http", *, same_as: Browser | None = None, **overrides: str
    ) -> Browser:
        """A browser of its own; ``same_as``: on the same server process as another one."""
        if same_as is not None:
            app = same_as.app
        else:
            app = create_app(load_settings({**env.environ, **overrides}))
        transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 40404))
        client = httpx.AsyncClient(
            transport=transport,
            base_url=f"{scheme}://testserver",
            headers={"user-agent": USER_AGENT},
        )
        opened.append((client, app))
        return Browser(client, app)

    yield make
    for client, _app in opened:
        await client.aclose()
    for app in {id(app): app for _client, app in opened}.values():
        await app.state.store.close()


@pytest.fixture
async def browser(sqlite_env: Env, browser_for: BrowserFactory) -> Browser:
    return await browser_for(sqlite_env)
