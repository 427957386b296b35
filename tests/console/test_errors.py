"""A console crash answers a plain 500 with the same security headers as every response, and
its log line names only the exception type."""

from __future__ import annotations

import logging

import httpx
import pytest

from haven.console import create_console_app
from haven.httpheaders import CONSOLE_HEADERS as HEADERS
from tests.conftest import Env


async def test_a_500_carries_the_security_headers(
    sqlite_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_console_app(sqlite_env.settings, sqlite_env.store, sqlite_env.keys)

    async def boom() -> None:
        raise RuntimeError("Grid 7, Kursk north, 18:00")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        crashed = await client.get("/boom")
        ordinary = await client.get("/login")
    assert crashed.status_code == 500 and "Grid 7" not in crashed.text
    assert ordinary.status_code == 200
    for name, value in HEADERS.items():
        assert crashed.headers[name] == value == ordinary.headers[name], name
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "console event=error type=RuntimeError" in logged
    assert "Grid 7" not in logged and "Traceback" not in logged
