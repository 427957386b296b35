"""Nothing about the client is logged or stored; arbitrary form input never breaks a page."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from haven import crypto
from haven.server import create_app
from haven.services.admin import prepare_database
from haven.settings import load_settings
from haven.store.db import Store
from tests.conftest import PASSPHRASE, Env, make_environ
from tests.web.conftest import CLIENT_IP, KOREAN_APPLICATION, USER_AGENT, session_id

IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


async def test_no_log_line_or_row_holds_an_ip_user_agent_or_answer(
    sqlite_env: Env, browser_for, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = await browser_for(sqlite_env)
    done = await browser.apply()
    await browser.get("/return")
    await browser.post("/return", a="open", r=done.reference, p="wrong words")
    opened = await browser.post("/return", a="open", r=done.reference, p=done.passphrase)
    await browser.post("/return", a="send", r=opened.field("r"), t=opened.field("t"), text="비밀글")
    await browser.post("/", csrf="forged", text="위조된 요청")
    assert caplog.records, "the intake should log its events"
    logged = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    secrets_ = [CLIENT_IP, USER_AGENT, "ua-canary", done.passphrase, "비밀글", "위조된 요청"]
    # Free-text answers (the group size is triage metadata, plaintext by design).
    secrets_ += [f["text"] for f in KOREAN_APPLICATION if len(f.get("text", "")) > 2]
    for secret in secrets_:
        assert secret not in logged, secret
    assert not IPV4.search(logged), IPV4.search(logged)
    assert "event=submitted" in logged and "event=unlock_failed" in logged

    # Nor is any of it stored, in any column of any table.
    async with sqlite_env.store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        dump = b""
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
                    dump += b"\x00"
    for secret in secrets_:
        assert secret.encode("utf-8") not in dump, secret
    for word in done.passphrase.split():
        assert word.encode("utf-8") not in dump or len(word) < 2, word


FIELDS = st.sampled_from(["choice", "text", "cmd", "c", "l", "a", "r", "t", "p", "photo", "x"])
VALUES = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "ko",
            "ru",
            "kpa",
            "skip",
            "confirm",
            "correct",
            "forget",
            "lang",
            "restart",
            "forget_yes",
            "group",
            "yes",
            "open",
            "send",
            "erase_yes",
            "/start",
            "/forget",
            "0",
            "101",
            "-1",
            "가" * 600,
            "\x00",
            "\u202e",
        ]
    ),
)


def test_form_handlers_survive_arbitrary_input(tmp_path: Path) -> None:
    """Hypothesis: any posted fields, in any order, get a page in a language, never a crash."""
    loop = asyncio.new_event_loop()
    environ = make_environ(tmp_path / "var")
    environ.update(HAVEN_WEB_SESSION_LIMIT="100000/minute", HAVEN_WEB_GLOBAL_LIMIT="100000/second")
    config = load_settings(environ)
    crypto.init_keys(config.keys_dir, PASSPHRASE, "interactive")

    async def setup() -> tuple[httpx.AsyncClient, object, str]:
        store = Store(config.db_url)
        await prepare_database(store, config.keys_dir)
        await store.close()
        app = create_app(config)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        page = await client.get("/")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        return client, app, token.group(1)

    client, app, _token = loop.run_until_complete(setup())
    keys = crypto.load_intake_keys(config.keys_dir)

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        posts=st.lists(
            st.tuples(
                st.sampled_from(["/", "/return"]), st.dictionaries(FIELDS, VALUES, max_size=5)
            ),
            min_size=1,
            max_size=4,
        )
    )
    def run(posts: list[tuple[str, dict[str, str]]]) -> None:
        async def go() -> None:
            for path, fields in posts:
                token = keys.lookup("web-csrf", session_id(client.cookies.get("s", "")))
                response = await client.post(path, data={"csrf": token, **fields})
                assert response.status_code in (200, 403, 429), response.text[:300]
                statuses.append(response.status_code)
                assert response.headers["content-security-policy"].startswith("default-src")
                assert response.headers["cache-control"] == "no-store"
                assert "<html lang=" in response.text
                assert "Traceback" not in response.text

        loop.run_until_complete(go())

    statuses: list[int] = []
    try:
        run()
        assert statuses.count(200) > len(statuses) / 2  # the forms were really handled
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(app.state.store.close())  # type: ignore[attr-defined]
        loop.close()


async def test_a_crash_is_a_plain_500_whose_log_names_no_content(
    sqlite_env: Env, browser_for, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = await browser_for(sqlite_env)
    await browser.get("/")
    web = browser.app.routes[-1].app.web  # Mount -> SecurityHeaders

    async def broken(*_args, **_kwargs):
        raise ValueError("쿠르스크 근처 숲에 있습니다")

    web.intake.handle = broken
    page = await browser.post("/", text="쿠르스크 근처 숲에 있습니다")
    assert page.status == 500 and page.headers["cache-control"] == "no-store"
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "event=error type=ValueError" in logged
    assert "쿠르스크" not in logged and "Traceback" not in logged
