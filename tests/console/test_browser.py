"""End to end in Debian's Chromium (Playwright): accounts with TOTP, unlock, take the next case,
read it, reply with a canned reply that reaches the fake Telegram Bot API in the applicant's
language, a live update, hand-off, arrival, POW export, closing a case, the audit log."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from haven.bootstrap import telegram_runtime
from haven.console import create_console_app
from haven.services.accounts import Accounts
from haven.settings import load_settings
from haven.store.models import utcnow
from tests.browser import launch, needs_chromium
from tests.conftest import PASSPHRASE, Env
from tests.console.conftest import FAST_HASHER, PASSWORD, submit_case
from tests.telegram.conftest import FAST, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI

playwright_api = pytest.importorskip("playwright.async_api")

CHAT = 424242
SECOND_CHAT = 434343

pytestmark = needs_chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(app: Starlette, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    return server, task


async def setup_account(page, link: str, shots: Path | None = None) -> str:
    """Open a setup link, set the password, enrol TOTP from the screen; returns the secret."""
    await page.goto(link)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=password2]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(".qr svg")
    secret = (await page.text_content("#totp-secret")) or ""
    if shots is not None:
        await page.screenshot(path=str(shots / "totp-enrolment.png"))
    await page.fill("input[name=code]", pyotp.TOTP(secret.strip()).now())
    await page.click("button[type=submit]")
    await page.wait_for_selector("header.top nav")
    return secret.strip()


async def test_console_end_to_end(sqlite_env: Env, fake: FakeBotAPI, tmp_path: Path) -> None:
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS", tmp_path))
    os.makedirs(shots, exist_ok=True)
    # The console process starts locked: no HAVEN_PASSPHRASE in its environment.
    environ = {k: v for k, v in sqlite_env.environ.items() if k != "HAVEN_PASSPHRASE"}
    environ.update({"HAVEN_TELEGRAM_TOKEN": TOKEN, "HAVEN_TELEGRAM_API": fake.base, **FAST})
    settings = load_settings(environ)
    env = Env(settings, environ, sqlite_env.store, sqlite_env.keys)
    runtime = telegram_runtime(settings, env.store, env.keys)
    runtime.worker.poll = 0.05
    await runtime.start()

    reference = await submit_case(env, "telegram", str(CHAT), "ko", group=3, wounded=True)
    accounts = Accounts(env.store, env.keys, hasher=FAST_HASHER)
    console = create_console_app(settings, env.store, env.keys, accounts=accounts)
    port = free_port()
    server, task = await serve(Starlette(routes=[Mount("/console", app=console)]), port)
    base = f"http://127.0.0.1:{port}/console"
    # Locked, only an admin can be set up (his account is sealed when he unlocks); the
    # others are added once the console holds the key.
    admin_link = f"{base}/setup/" + await accounts.add_user("admin", "admin", "test")
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await launch(pw)
            try:
                await _walk(browser, env, fake, shots, reference, base, admin_link, accounts)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await task
        await runtime.stop()


async def _walk(browser, env, fake, shots, reference, base, admin_link, accounts) -> None:
    viewport = {"width": 1360, "height": 900}
    op_ctx = await browser.new_context(viewport=viewport, accept_downloads=True)
    admin_ctx = await browser.new_context(viewport=viewport)
    co_ctx = await browser.new_context(viewport=viewport, accept_downloads=True)
    op, admin, co = await op_ctx.new_page(), await admin_ctx.new_page(), await co_ctx.new_page()
    errors: list[str] = []
    for page in (op, admin, co):
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # -- the admin enrols while the key is locked (the console says so), and unlocks it once
    # for this process.
    await setup_account(admin, admin_link, shots)
    cookies = await admin_ctx.cookies()
    session = next(c for c in cookies if c["name"] == "__Host-haven-console")
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    await admin.goto(f"{base}/unlock")
    assert await admin.is_visible(".banner.locked")
    await admin.fill("input[name=passphrase]", "not the passphrase")
    await admin.click("main button[type=submit]")
    await admin.wait_for_selector(".error")
    await admin.fill("input[name=passphrase]", PASSPHRASE)
    await admin.click("main button[type=submit]")
    await admin.wait_for_selector(".notice")
    assert not await admin.is_visible(".banner.locked")

    # -- the operator and the coordinator are added now, sealed by the unlocked console.
    op_link = f"{base}/setup/" + await accounts.add_user("olena", "operator", "test", lang="uk")
    co_link = f"{base}/setup/" + await accounts.add_user(
        "taras", "coordinator", "test", sectors="Kursk-3,Kursk-4", lang="uk"
    )
    await setup_account(op, op_link)

    # -- a second, older case without wounded: "take next" must still give the wounded group.
    second = await submit_case(env, "telegram", str(SECOND_CHAT), "ru")
    await op.goto(f"{base}/queue")
    assert not await op.is_visible(".banner.locked")
    await op.screenshot(path=str(shots / "queue.png"), full_page=True)
    await op.click("#take-next")
    await op.wait_for_url(f"**/cases/{reference}")
    text = await op.text_content("main") or ""
    assert "Kursk sector, near the forest" in text  # the answers, decrypted
    assert "Поранені" in text  # the console speaks Ukrainian to this operator

    # -- reply with a canned reply, chosen by its Ukrainian text; the applicant gets Korean.
    await op.select_option(
        "#canned",
        label="Вітаємо. Оператор прочитав вашу заявку. "
        "Ми напишемо вам тут. Будь ласка, дочекайтеся нашого повідомлення.",
    )
    await op.click("form.reply button[type=submit]")
    await op.wait_for_selector(".msg.out")
    await eventually(
        lambda: any("담당자가 신청을 읽었습니다" in s.text for s in fake.to(CHAT)),
        what="the canned reply at the fake Bot API, in Korean",
    )
    assert "на зв’язку" in (await op.text_content(".case-head") or "")

    # -- the applicant writes again on Telegram: it appears without a reload.
    fake.message(CHAT, "저는 지금 전선에 있습니다")
    await op.wait_for_selector("text=저는 지금 전선에 있습니다", timeout=15000)

    # -- internal note, second stage, then verified.
    await op.fill("form.note-form textarea", "Голос спокійний, відповідає впевнено.")
    await op.click("form.note-form button")
    await op.wait_for_selector(".msg.note")
    await op.fill("form.stage2 input[name=location]", "Kursk-3, near the pond")
    await op.fill("form.stage2 input[name=group_size]", "3")
    await op.click("form.stage2 button")
    await op.wait_for_selector(".msg.note >> text=Kursk-3, near the pond")
    await op.screenshot(path=str(shots / "case.png"), full_page=True)
    await op.click("form.transition:has(input[value=verified]) button")
    await op.wait_for_selector(".state.s-verified")

    # -- the coordinator issues the hand-off card.
    await setup_account(co, co_link)
    await co.goto(f"{base}/handoffs")
    await co.click(f"a[href$='/handoffs/new/{reference}']")
    await co.select_option("select[name=sector]", "Kursk-3")
    await co.fill("input[name=meeting_point]", "Grid 37U DB 1234 5678, ruined barn")
    await co.fill("input[name=meeting_point_applicant]", "무너진 창고 옆")
    start = utcnow().replace(second=0, microsecond=0) + timedelta(hours=20)
    await co.fill("input[name=window_start]", f"{start:%Y-%m-%dT%H:%M}")
    await co.fill("input[name=window_end]", f"{start + timedelta(minutes=40):%Y-%m-%dT%H:%M}")
    await co.fill("input[name=signal]", "white cloth in the left hand")
    await co.fill("input[name=signal_applicant]", "왼손에 흰 천")
    await co.click("form.handoff button[type=submit]")
    await co.wait_for_selector("article.card")
    card = await co.text_content("article.card") or ""
    assert "Grid 37U DB 1234 5678" in card and "white cloth" in card
    assert "Kursk sector, near the forest" not in card and "here, evenings" not in card
    await co.screenshot(path=str(shots / "handoff-card.png"), full_page=True)
    await eventually(
        lambda: any("무너진 창고 옆" in s.text and "만날 장소" in s.text for s in fake.to(CHAT)),
        what="the place and the time at the fake Bot API, in Korean",
    )

    # -- arrival, then the POW record.
    await co.check("input[name=confirmed]")
    await co.click("form:has(input[value=arrived]) button[type=submit]")
    await co.wait_for_selector(".state.s-arrived")
    async with co.expect_download() as info:
        await co.click("a[href$='/pow']")
    download = await info.value
    path = await download.path()
    with open(path, encoding="utf-8") as fh:  # noqa: ASYNC230 - a small local file
        record = json.load(fh)
    assert record["status"] == "captured"
    assert record["power_on_which_dependent"] == "Democratic People's Republic of Korea"

    # -- the operator closes the other case, with a reason.
    await op.goto(f"{base}/queue")
    await op.click("#take-next")
    await op.wait_for_url(f"**/cases/{second}")
    await op.select_option("form.transition select[name=reason]", "fake")
    await op.click("form.transition button.danger")
    await op.wait_for_selector(".state.s-closed")

    # -- the admin sees it all in the audit log.
    await admin.goto(f"{base}/audit?case={reference}")
    log = await admin.text_content("table.audit") or ""
    for action in ("case.read", "case.replied", "case.transition", "handoff.issued", "pow.export"):
        assert action in log, action
    await admin.screenshot(path=str(shots / "audit.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors
