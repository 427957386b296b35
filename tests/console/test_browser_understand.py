"""In Debian's Chromium: an operator understands an applicant. A photo and a voice message
sent through the fake Bot API are shown and played in the case view; the operator asks for a
translation, the machine translation from a fake LibreTranslate appears marked as such, a
translator sees the text alone and answers, and the operator sees his translation; on a
phone case the operator records a voice note in the browser."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Mount

from haven.bootstrap import telegram_runtime
from haven.console import create_console_app
from haven.services.accounts import Accounts
from haven.services.seals import fixed_keyring
from haven.settings import load_settings
from haven.store.models import AuditEvent, Message
from tests.browser import ARGS, CHROMIUM, needs_chromium
from tests.conftest import Env
from tests.console.conftest import FAST_HASHER, submit_case
from tests.console.test_browser import free_port, serve, setup_account
from tests.console.test_media import jpeg_with_gps
from tests.fakelibre import FakeLibreTranslate
from tests.telegram.conftest import FAST, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI

playwright_api = pytest.importorskip("playwright.async_api")

pytestmark = needs_chromium

CHAT = 515151
#: A fake microphone for MediaRecorder, granted without a prompt.
MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short tone as a WAV file (the fake bot's voice message; Chromium plays it)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        out.writeframes(frames)
    return buf.getvalue()


async def test_operators_understand_every_applicant(
    sqlite_env: Env, fake: FakeBotAPI, tmp_path
) -> None:
    libre = await FakeLibreTranslate().start()
    environ = dict(sqlite_env.environ)
    environ.update(
        {
            "HAVEN_TELEGRAM_TOKEN": TOKEN,
            "HAVEN_TELEGRAM_API": fake.base,
            "HAVEN_TRANSLATE_URL": libre.url,
            **FAST,
        }
    )
    settings = load_settings(environ)
    env = Env(settings, environ, sqlite_env.store, sqlite_env.keys)
    runtime = telegram_runtime(settings, env.store, env.keys)
    runtime.worker.poll = 0.05
    await runtime.start()
    reference = await submit_case(env, "telegram", str(CHAT), "ko")
    phone = await submit_case(env, "phone", "call-1", "ko")
    fake.message(CHAT, "저는 배가 고픕니다")
    fake.photo(CHAT, jpeg_with_gps())
    fake.voice(CHAT, wav(), duration=1)

    async def arrived() -> bool:
        async with env.store.transaction() as s:
            kinds = set(await s.scalars(select(Message.kind).where(Message.direction == "in")))
        return {"text", "photo", "voice"} <= kinds

    await eventually(arrived, limit=15, what="the text, the photo and the voice message")

    accounts = Accounts(
        env.store, env.keys, hasher=FAST_HASHER, keyring=fixed_keyring(env.keyring())
    )
    console = create_console_app(settings, env.store, env.keys, accounts=accounts)
    port = free_port()
    server, task = await serve(Starlette(routes=[Mount("/console", app=console)]), port)
    base = f"http://127.0.0.1:{port}/console"
    op_link = f"{base}/setup/" + await accounts.add_user("olena", "operator", "t", lang="uk")
    tr_link = f"{base}/setup/" + await accounts.add_user("min", "translator", "t", languages="ko")
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=ARGS + MEDIA_ARGS
            )
            try:
                op_ctx = await browser.new_context()
                tr_ctx = await browser.new_context()
                op, tr = await op_ctx.new_page(), await tr_ctx.new_page()
                errors: list[str] = []
                for page in (op, tr):
                    page.on(
                        "console", lambda m: errors.append(m.text) if m.type == "error" else None
                    )
                await setup_account(op, op_link)
                await setup_account(tr, tr_link)
                await _case_view(op, base, reference)
                await _translation(op, tr, base, reference)
                await _voice_note(op, base, phone)
                assert not [e for e in errors if "Content Security Policy" in e], errors
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await task
        await runtime.stop()
        await libre.stop()
    async with env.store.transaction() as s:
        actions = set(await s.scalars(select(AuditEvent.action)))
        count = await s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "case.attachment.read")
        )
    for action in (
        "translation.requested",
        "translation.machine",
        "translation.opened",
        "translation.written",
        "translation.read",
        "case.voice_note",
    ):
        assert action in actions, action
    assert count >= 3  # the page's pass, the photo, the voice message


async def _case_view(op, base: str, reference: str) -> None:
    """The photo decodes in the browser, its camera position shown apart; the voice plays."""
    await op.goto(f"{base}/cases/{reference}")
    img = op.locator(".msg.in figure.photo img")
    await img.wait_for()
    await op.wait_for_function(
        "() => { const i = document.querySelector('.msg.in figure.photo img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert await img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [80, 60]
    meta = await op.text_content(".msg.in .photo-meta") or ""
    assert "51.50000, 35.26000" in meta and "SM-A515F" in meta
    await op.wait_for_function(
        "() => { const a = document.querySelector('.msg.in .voice audio');"
        " return a && a.readyState >= 1 && a.duration > 0.9; }",
        timeout=15000,
    )


async def _translation(op, tr, base: str, reference: str) -> None:
    await op.click(".msg.in:has-text('저는 배가 고픕니다') form.ask-translation button")
    await op.wait_for_selector(".msg.in .translation.machine")
    machine = await op.text_content(".msg.in .translation.machine") or ""
    assert "[MT ko->uk] 저는 배가 고픕니다" in machine
    assert "Машинний переклад" in machine or "Machine translation" in machine
    # The original stays beside it.
    assert "저는 배가 고픕니다" in (await op.text_content(".msg.in:has(.translation) .text") or "")

    await tr.goto(f"{base}/translations")
    await tr.click("a.task")
    await tr.wait_for_selector("blockquote.source")
    assert (await tr.text_content("blockquote.source") or "").strip() == "저는 배가 고픕니다"
    seen = await tr.content()
    for leak in (reference, "here, evenings", "Kursk sector", "olena", "/cases/"):
        assert leak not in seen, leak
    await tr.fill("form.translate textarea", "Я голодний")
    await tr.click("form.translate button[type=submit]")
    await tr.wait_for_url("**/translations")

    await op.reload()
    await op.wait_for_selector(".msg.in .translation:not(.machine):has-text('Я голодний')")
    assert await op.locator(".msg.in .translation.machine").count() == 0


async def _voice_note(op, base: str, phone: str) -> None:
    """On a phone case the operator records a voice note; it is sealed and plays."""
    await op.goto(f"{base}/cases/{phone}")
    await op.click("form.voice-note button.record")
    await op.wait_for_selector("form.voice-note button.stop:not([disabled])")
    await op.wait_for_timeout(1500)
    await op.click("form.voice-note button.stop")
    await op.wait_for_selector(".msg.note .voice audio", timeout=15000)
    await op.wait_for_function(
        "() => { const a = document.querySelector('.msg.note .voice audio');"
        " return a && a.readyState >= 1; }",
        timeout=15000,
    )
