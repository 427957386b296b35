"""``haven doctor``: a healthy deployment passes; each problem it claims to find, made on
purpose, is found, with a fix, and the exit status says so. Every server is on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import update

from haven.services.auditlog import record
from haven.services.doctor import Finding, Limits, diagnose
from haven.settings import load_settings
from haven.store.models import AuditEvent, utcnow
from tests.conftest import Env, make_environ
from tests.pg import free_port
from tests.telegram.fakebot import TOKEN, FakeBotAPI

HAVEN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "haven")
LIMITS = Limits(min_free_bytes=1, http_timeout=2.0)
SECRET = "a-webhook-secret-every-intake-shares"


async def healthy(env: Env) -> None:
    """What a well-kept deployment has: a recent backup and retention run."""
    await record(store=env.store, actor="cli", action="backup.made", detail={"bytes": 1})
    await record(store=env.store, actor="retention", action="retention.ran", detail={})


async def findings(env: Env, limits: Limits = LIMITS, **settings: str) -> list[Finding]:
    environ = env.environ | {f"HAVEN_{k.upper()}": v for k, v in settings.items()}
    return await diagnose(load_settings(environ), limits)


def problems(found: list[Finding]) -> list[tuple[str, str]]:
    for f in found:
        assert f.ok or f.fix, f  # every problem says how to fix it
    return [(f.check, f.message) for f in found if not f.ok]


def only(found: list[Finding], check: str, words: str) -> None:
    """Exactly one problem, of ``check``, whose message says ``words``."""
    got = problems(found)
    assert len(got) == 1 and got[0][0] == check and words in got[0][1], got


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[dict[str, Handler]], Awaitable[int]]]:
    """Start a small HTTP server on 127.0.0.1 with the given routes; its port."""
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Handler], port: int = 0) -> int:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        runners.append(runner)
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    try:
        yield start
    finally:
        for runner in runners:
            await runner.cleanup()


def answer(status: int) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status, text="x")

    return handler


async def test_a_healthy_deployment_has_no_problem(env: Env) -> None:
    await healthy(env)
    found = await findings(env)
    assert problems(found) == []
    assert {f.check for f in found} >= {"data dir", "keys", "database", "backup", "retention"}


# --- permissions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "mode", "check"),
    [
        ("", 0o755, "data dir"),
        ("keys/routing.key", 0o644, "keys"),
        ("keys", 0o750, "keys"),
        ("haven.db", 0o644, "database files"),
    ],
)
async def test_files_open_to_others(sqlite_env: Env, target: str, mode: int, check: str) -> None:
    await healthy(sqlite_env)
    path = sqlite_env.settings.data_dir / target
    os.chmod(path, mode)
    got = problems(await findings(sqlite_env))
    assert any(c == check and "open to others" in m and str(path) in m for c, m in got), got
    if check in ("data dir", "database files"):  # and the database is then not opened
        assert ("database", "not opened: its files or directory are open to others") in got


async def test_keys_missing(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    (sqlite_env.settings.keys_dir / "routing.key").unlink()
    only(await findings(sqlite_env), "keys", "no keys")


async def test_a_passphrase_file_left_behind(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    (sqlite_env.settings.data_dir / "passphrase.txt").write_text("x")
    os.chmod(sqlite_env.settings.data_dir / "passphrase.txt", 0o600)
    only(await findings(sqlite_env), "passphrase", "still there")


# --- the database -------------------------------------------------------------------------


async def test_database_unreachable(sqlite_env: Env) -> None:
    url = f"postgresql+asyncpg://haven@127.0.0.1:{free_port()}/haven"
    only(await findings(sqlite_env, database_url=url), "database", "cannot reach")


async def test_database_not_migrated(env: Env) -> None:
    await healthy(env)
    async with env.store.engine.begin() as conn:
        await conn.exec_driver_sql("DELETE FROM alembic_version")
        await conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0001')")
    only(await findings(env), "database", "not up to date")


async def test_no_backup_and_no_retention_run(env: Env) -> None:
    got = problems(await findings(env))
    assert [c for c, _ in got] == ["backup", "retention"]
    assert all("no " in m and "recorded" in m for _, m in got)


async def test_backup_and_retention_too_old(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    async with sqlite_env.store.transaction() as s:
        await s.execute(update(AuditEvent).values(at=utcnow() - timedelta(hours=72)))
    got = problems(await findings(sqlite_env))
    assert [c for c, _ in got] == ["backup", "retention"]
    assert all("72 hours ago" in m for _, m in got)
    roomy = Limits(
        min_free_bytes=1, max_backup_age=timedelta(days=7), max_retention_age=timedelta(days=7)
    )
    assert problems(await findings(sqlite_env, roomy)) == []


# --- processes ----------------------------------------------------------------------------


async def test_console_and_intake_on_one_port(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    only(await findings(sqlite_env, port="8123", console_port="8123"), "console", "share")


async def test_console_on_every_interface(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    only(await findings(sqlite_env, console_host="0.0.0.0"), "console", "every interface")


async def test_console_served_by_the_intake(sqlite_env: Env, serve) -> None:
    await healthy(sqlite_env)
    routes = {"/healthz": answer(200), "/console/": answer(200)}
    port = await serve(routes)
    only(await findings(sqlite_env, port=str(port)), "console", "answers /console/")
    # A real intake answers 404 there: no problem.
    port = await serve({"/healthz": answer(200), "/console/": answer(404)})
    assert problems(await findings(sqlite_env, port=str(port))) == []


# --- Telegram -----------------------------------------------------------------------------


async def test_telegram_unreachable(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    api = f"http://127.0.0.1:{free_port()}"
    found = await findings(sqlite_env, telegram_token=TOKEN, telegram_api=api)
    only(found, "telegram", "cannot reach")
    assert TOKEN not in repr(found) and TOKEN.split(":")[1] not in repr(found)


async def test_telegram_refuses_the_token(sqlite_env: Env, fake: FakeBotAPI) -> None:
    await healthy(sqlite_env)
    other = "123:AAnotTheFakeBotsToken_0123456789"
    found = await findings(sqlite_env, telegram_token=other, telegram_api=fake.base)
    only(found, "telegram", "refuses the token")


async def test_the_token_of_another_bot(sqlite_env: Env, fake: FakeBotAPI) -> None:
    await healthy(sqlite_env)
    found = await findings(
        sqlite_env,
        telegram_token=TOKEN,
        telegram_api=fake.base,
        telegram_bot_username="the_real_bot",
    )
    only(found, "telegram", "not @the_real_bot")
    good = await findings(
        sqlite_env,
        telegram_token=TOKEN,
        telegram_api=fake.base,
        telegram_bot_username="haven_test_bot",
    )
    assert problems(good) == []


async def test_a_webhook_left_set_while_haven_polls(sqlite_env: Env, fake: FakeBotAPI) -> None:
    await healthy(sqlite_env)
    fake.webhook = {"url": "https://old.example/tg/x"}
    only(
        await findings(sqlite_env, telegram_token=TOKEN, telegram_api=fake.base), "webhook", "polls"
    )


async def webhook_settings(fake: FakeBotAPI, url: str, secret: str = SECRET) -> dict[str, str]:
    out = {"telegram_token": TOKEN, "telegram_api": fake.base, "telegram_webhook_url": url}
    if secret:
        out["telegram_webhook_secret"] = secret
    return out


async def enforcing(request: web.Request) -> web.Response:
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
    return web.Response(status=200 if given == SECRET else 403)


async def test_webhook_in_order(sqlite_env: Env, fake: FakeBotAPI, serve) -> None:
    await healthy(sqlite_env)
    url = f"http://127.0.0.1:{await serve({'/tg/hook': enforcing})}/tg/hook"
    fake.webhook = {"url": url}
    assert problems(await findings(sqlite_env, **await webhook_settings(fake, url))) == []


async def test_webhook_not_set_at_telegram(sqlite_env: Env, fake: FakeBotAPI, serve) -> None:
    await healthy(sqlite_env)
    url = f"http://127.0.0.1:{await serve({'/tg/hook': enforcing})}/tg/hook"
    found = await findings(sqlite_env, **await webhook_settings(fake, url))
    only(found, "webhook", "none is set")


async def test_webhook_failing_at_telegram(sqlite_env: Env, fake: FakeBotAPI, serve) -> None:
    await healthy(sqlite_env)
    url = f"http://127.0.0.1:{await serve({'/tg/hook': enforcing})}/tg/hook"
    fake.webhook = {"url": url}
    fake.webhook_error = "Connection timed out"
    found = await findings(sqlite_env, **await webhook_settings(fake, url))
    only(found, "webhook", "failing: Connection timed out")


async def test_webhook_secret_not_shared(sqlite_env: Env, fake: FakeBotAPI, serve) -> None:
    await healthy(sqlite_env)
    url = f"http://127.0.0.1:{await serve({'/tg/hook': enforcing})}/tg/hook"
    fake.webhook = {"url": url}
    found = await findings(sqlite_env, **await webhook_settings(fake, url, secret=""))
    only(found, "webhook", "no HAVEN_TELEGRAM_WEBHOOK_SECRET")


async def test_webhook_that_takes_anything(sqlite_env: Env, fake: FakeBotAPI, serve) -> None:
    await healthy(sqlite_env)
    url = f"http://127.0.0.1:{await serve({'/tg/hook': answer(200)})}/tg/hook"
    fake.webhook = {"url": url}
    found = await findings(sqlite_env, **await webhook_settings(fake, url))
    only(found, "webhook", "answers 200 to a request without the secret")


async def test_webhook_url_not_answering(sqlite_env: Env, fake: FakeBotAPI) -> None:
    await healthy(sqlite_env)
    url = f"http://127.0.0.1:{free_port()}/tg/hook"
    fake.webhook = {"url": url}
    found = await findings(sqlite_env, **await webhook_settings(fake, url))
    only(found, "webhook", "does not answer")


# --- addresses and disk -------------------------------------------------------------------


async def test_onion_and_mirrors(sqlite_env: Env, serve) -> None:
    await healthy(sqlite_env)
    up = f"http://127.0.0.1:{await serve({'/': answer(200), '/h/': answer(200)})}"
    broken = f"http://127.0.0.1:{await serve({'/': answer(502)})}/"
    down = f"http://127.0.0.1:{free_port()}/"
    found = await findings(sqlite_env, onion_url=up + "/", mirrors=f"{up}/h/ {broken} {down}")
    got = problems(found)
    assert got == [
        ("addresses", f"{broken} answers 502"),
        ("addresses", f"{down} does not answer (ConnectError)"),
    ]
    assert sum(f.ok and f.check == "addresses" for f in found) == 2


async def test_low_disk(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    only(await findings(sqlite_env, Limits(min_free_bytes=1 << 62)), "disk", "MiB free")


# --- the command --------------------------------------------------------------------------


async def test_the_command_exits_non_zero_on_a_problem(tmp_path: Path, sqlite_env: Env) -> None:
    def doctor(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        command = [HAVEN, "doctor", *args]
        return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60)

    out = await asyncio.to_thread(doctor, make_environ(tmp_path / "nothing"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "PROBLEM  data dir:" in out.stdout and "fix: run `haven init`" in out.stdout
    await healthy(sqlite_env)
    out = await asyncio.to_thread(doctor, sqlite_env.environ, "--min-free-mb", "1")
    assert out.returncode == 0, out.stdout
    assert "PROBLEM" not in out.stdout and out.stdout.endswith("no problem found\n")


async def test_leftovers_of_an_interrupted_backup(sqlite_env: Env) -> None:
    await healthy(sqlite_env)
    left = sqlite_env.settings.data_dir / ".backup-0123456789abcdef.db"
    left.write_bytes(b"SQLite format 3\x00")
    only(await findings(sqlite_env), "leftovers", str(left))
