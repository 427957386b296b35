"""Faults that do not cascade, tried on a real ``haven serve``: Telegram out of reach at start
(webhook and polling), PostgreSQL restarted under load, a read-only database, a full disk."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from haven.store.models import Case, Contact, ProcessedUpdate
from tests.conftest import Env
from tests.pg import PgServer, free_port
from tests.scale.conftest import WEBHOOK_URL, Intake, bot_environ, make_env, message
from tests.telegram.conftest import eventually
from tests.telegram.fakebot import BOT_ID, TOKEN, FakeBotAPI
from tests.web.conftest import Browser

UNAVAILABLE_KO = "지금은 보내신 내용을 받을수 없으며"


async def telegram_status(intake: Intake) -> str:
    _code, body = await intake.health()
    return str(body["channels"]["telegram"])


async def count(env: Env, model: type) -> int:
    async with env.store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def browser(intake: Intake) -> Browser:
    return Browser(intake.client, app=None)


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_telegram_out_of_reach_at_start(pg_env: Env, mode: str) -> None:
    """The process starts, serves the web intake, reports the bot degraded, and once
    Telegram answers it sets the webhook or polls by itself."""
    port = free_port()  # nothing listens there yet
    environ = {
        **pg_env.environ,
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_API": f"http://127.0.0.1:{port}",
    }
    if mode == "webhook":
        environ["HAVEN_TELEGRAM_WEBHOOK_URL"] = WEBHOOK_URL
    intake = Intake(environ)
    fake: FakeBotAPI | None = None
    try:
        await intake.ready()
        await eventually(lambda: _is(intake, "degraded"), 20, "the bot degraded")
        _code, body = await intake.health()
        assert body["status"] == "degraded" and body["channels"]["web"] == "ok"
        assert str(BOT_ID) not in str(body) and "127.0.0.1" not in str(body)
        landing = await browser(intake).get("/", headers={"accept-language": "ko"})
        assert landing.status == 200 and landing.csrf  # the web intake serves meanwhile
        fake = await FakeBotAPI().start(port)
        await eventually(lambda: _is(intake, "ok"), 60, "the bot reaching Telegram")
        if mode == "webhook":
            assert fake.webhook["url"] == WEBHOOK_URL
            secret = str(fake.webhook["secret_token"])
            assert await intake.post_update(message(1, 501, "/start"), secret) == 200
        else:
            fake.message(501, "/start")
        await eventually(lambda: bool(fake and fake.to(501)), 20, "the answer")
    finally:
        await intake.close()
        if fake is not None:
            await fake.stop()


async def _is(intake: Intake, status: str) -> bool:
    return await telegram_status(intake) == status


async def test_postgresql_restarted_under_load(
    own_pg: PgServer, tmp_path: Path, fake: FakeBotAPI
) -> None:
    """Updates keep coming while PostgreSQL stops and starts again: during the gap they are
    answered 503 (Telegram delivers them again), the web page says so politely, the process
    reconnects by itself, and every update has its effect once."""
    env = await make_env(tmp_path, own_pg.url(own_pg.new_database()))
    environ = bot_environ(
        env,
        fake,
        telegram_webhook_url=WEBHOOK_URL,
        outbox_rate="200",
        outbox_per_chat_rate="50",
        intake_per_chat_limit="1000/minute",
    )
    intake = Intake(environ)
    statuses: dict[int, int] = {}
    stopping = asyncio.Event()

    async def load() -> None:
        n = 0
        while not stopping.is_set():
            chat = 60_000 + n % 10
            update = message(1000 + n, chat, "/start" if n < 10 else f"text {n}")
            try:
                statuses[1000 + n] = await intake.post_update(update, secret)
            except httpx.HTTPError:
                statuses[1000 + n] = 0
            n += 1
            await asyncio.sleep(0.02)

    try:
        await intake.ready()
        await eventually(lambda: _is(intake, "ok"), 30, "the bot ready")
        secret = str(fake.webhook["secret_token"])
        web = browser(intake)
        await web.get("/", headers={"accept-language": "ko"})
        pid = intake.proc.pid
        loading = asyncio.create_task(load())
        await eventually(lambda: len(statuses) >= 20, 30, "load under way")
        await asyncio.to_thread(own_pg.halt)
        await eventually(lambda: 503 in statuses.values(), 20, "a 503 during the gap")
        code, body = await intake.health()
        assert code == 503 and body["database"] == "unavailable"
        page = await web.post("/", choice="ko", l="ko")
        assert page.status == 503 and UNAVAILABLE_KO in page.text
        assert page.headers["retry-after"]
        before = len(statuses)
        await asyncio.to_thread(own_pg.launch)
        await eventually(
            lambda: any(s == 200 for u, s in statuses.items() if u >= 1000 + before),
            30,
            "updates accepted again",
        )
        stopping.set()
        await loading
        assert intake.proc.poll() is None and intake.proc.pid == pid  # never restarted
        assert set(statuses.values()) <= {200, 503}, statuses
        # Telegram delivers again what was not answered 200 (and may repeat what was).
        for uid, status in sorted(statuses.items()):
            update = message(uid, 60_000 + (uid - 1000) % 10, "again")
            while status != 200:
                await asyncio.sleep(0.1)
                status = await intake.post_update(update, secret)
        assert await count(env, ProcessedUpdate) == len(statuses)  # each once, none lost
        assert await count(env, Contact) == 10 and await count(env, Case) == 10
        assert (await web.post("/", choice="ko", l="ko")).status == 200
    finally:
        stopping.set()
        await intake.close()
        await env.store.close()


async def test_a_read_only_database_refuses_new_input_politely(
    own_pg: PgServer, tmp_path: Path, fake: FakeBotAPI
) -> None:
    """With the database read-only (a full disk looks the same to the intake), new input is
    refused with a message in the applicant's language, nothing half-written; once it is
    writable again the same process takes input."""
    env = await make_env(tmp_path, own_pg.url(own_pg.new_database()))
    environ = bot_environ(
        env, fake, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret="s" * 32
    )
    intake = Intake(environ)
    try:
        await intake.ready()
        await eventually(lambda: _is(intake, "ok"), 30, "the bot ready")
        web = browser(intake)
        await web.get("/", headers={"accept-language": "ko"})
        own_pg.psql("ALTER SYSTEM SET default_transaction_read_only = on")
        own_pg.psql("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        page = await web.post("/", choice="ko", l="ko")
        assert page.status == 503 and UNAVAILABLE_KO in page.text
        assert await intake.post_update(message(7, 502, "/start"), "s" * 32) == 503
        assert await count(env, Contact) == 0 and await count(env, ProcessedUpdate) == 0
        own_pg.psql("ALTER SYSTEM RESET default_transaction_read_only")
        own_pg.psql("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        assert (await web.post("/", choice="ko", l="ko")).status == 200
        assert await intake.post_update(message(7, 502, "/start"), "s" * 32) == 200
        await eventually(lambda: bool(fake.to(502)), 10, "the answer")
        assert await count(env, Contact) == 2 and await count(env, ProcessedUpdate) == 1
    finally:
        await intake.close()
        await env.store.close()


async def test_a_full_disk_refuses_new_input_politely(tmp_path: Path, fake: FakeBotAPI) -> None:
    """SQLite on a disk that takes no more bytes (the intake's file size limit lowered to
    one byte: every write fails as on a full disk, reads go on): new input is refused in the
    applicant's language and nothing is half-written; once there is room again the same
    process takes input, and Telegram's update delivered again has its effect once."""
    env = await make_env(tmp_path, "")
    secret = "f" * 32
    environ = bot_environ(
        env, fake, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=secret
    )
    intake = Intake(environ)
    pid = intake.proc.pid
    unlimited = resource.RLIM_INFINITY
    try:
        await intake.ready()
        await eventually(lambda: _is(intake, "ok"), 30, "the bot ready")
        web = browser(intake)
        await web.get("/", headers={"accept-language": "ko"})
        contacts = await count(env, Contact)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, unlimited))
        page = await web.post("/", choice="ko", l="ko")
        assert page.status == 503 and UNAVAILABLE_KO in page.text
        assert await intake.post_update(message(8, 503, "/start"), secret) == 503
        assert intake.proc.poll() is None, "the intake died of the full disk"
        assert await count(env, Contact) == contacts and await count(env, ProcessedUpdate) == 0
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
        assert (await web.post("/", choice="ko", l="ko")).status == 200
        assert await intake.post_update(message(8, 503, "/start"), secret) == 200
        assert await intake.post_update(message(8, 503, "/start"), secret) == 200
        await eventually(lambda: bool(fake.to(503)), 10, "the answer")
        assert await count(env, ProcessedUpdate) == 1
        assert await count(env, Contact) == contacts + 2
    finally:
        await intake.close()
        await env.store.close()
