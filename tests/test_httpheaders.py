"""One set of security headers for every response of both servers (only the content security
policy differs), from one middleware that also answers a crash with them."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.responses import PlainTextResponse

from haven.console import create_console_app
from haven.httpheaders import (
    APPLICANT_HEADERS,
    CONSOLE_HEADERS,
    SecurityHeaders,
    security_headers,
)
from haven.server import create_app
from tests.conftest import Env

EVERY = {
    "content-security-policy",
    "referrer-policy",
    "x-frame-options",
    "x-content-type-options",
    "cache-control",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "permissions-policy",
}


async def fetch(app, *paths: str, scheme: str = "http") -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver") as c:
        return [await c.get(path) for path in paths]


def assert_headers(response: httpx.Response, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        assert response.headers[name] == value, (response.url, name)


def test_the_sets_differ_only_in_the_policies() -> None:
    assert set(APPLICANT_HEADERS) == set(CONSOLE_HEADERS) == EVERY
    differ = {k for k in EVERY if APPLICANT_HEADERS[k] != CONSOLE_HEADERS[k]}
    # And the console's own pages may use the microphone (an operator's voice note).
    assert differ == {"content-security-policy", "permissions-policy"}
    assert "microphone=()" in APPLICANT_HEADERS["permissions-policy"]
    assert CONSOLE_HEADERS["permissions-policy"] == "camera=(), microphone=(self), geolocation=()"
    assert "script-src" not in APPLICANT_HEADERS["content-security-policy"]
    assert "script-src 'self'" in CONSOLE_HEADERS["content-security-policy"]
    assert security_headers("x")["content-security-policy"] == "x"


async def test_web_pages_health_and_console_carry_them(sqlite_env: Env) -> None:
    intake = create_app(sqlite_env.settings)
    home, health, css, missing = await fetch(intake, "/", "/healthz", "/style.css", "/nope")
    assert health.text == "ok"
    for response in (home, health, missing):
        assert response.status_code in (200, 404)
        assert_headers(response, APPLICANT_HEADERS)
    assert {k: v for k, v in APPLICANT_HEADERS.items() if k != "cache-control"}.items() <= dict(
        css.headers
    ).items()
    console = create_console_app(sqlite_env.settings, sqlite_env.store, sqlite_env.keys)
    (login,) = await fetch(console, "/login", scheme="https")
    assert login.status_code == 200
    assert_headers(login, CONSOLE_HEADERS)


async def test_a_crash_is_a_plain_500_with_the_headers(caplog: pytest.LogCaptureFixture) -> None:
    async def crashing(scope, receive, send) -> None:
        raise RuntimeError("Grid 7, Kursk north")

    async def own(scope, receive, send) -> None:
        response = PlainTextResponse("ok", headers={"cache-control": "max-age=60"})
        await response(scope, receive, send)

    caplog.set_level(logging.INFO)
    app = SecurityHeaders(crashing, area="web", onion_url="http://x.onion/", hsts_seconds=60)
    (plain,) = await fetch(app, "/a")
    (secure,) = await fetch(app, "/a", scheme="https")
    assert plain.status_code == 500 and "Grid" not in plain.text
    assert_headers(plain, APPLICANT_HEADERS)
    assert plain.headers["onion-location"] == "http://x.onion/a"
    assert "strict-transport-security" not in plain.headers
    assert secure.headers["strict-transport-security"] == "max-age=60"
    assert "web event=error type=RuntimeError" in caplog.text and "Grid" not in caplog.text
    (kept,) = await fetch(SecurityHeaders(own, CONSOLE_HEADERS), "/")
    assert kept.headers["cache-control"] == "max-age=60"  # a response's own header stays
    assert kept.headers["x-frame-options"] == "DENY"
