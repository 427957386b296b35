"""Logs at DEBUG, read as an attacker who gets the journal would: a web and a Telegram
conversation through a real ``haven serve``, then every line searched."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import httpx

from haven import crypto
from haven.services.admin import prepare_database
from haven.store.db import Store
from tests.conftest import make_environ
from tests.pg import free_port
from tests.processes import stop
from tests.telegram.conftest import Chat
from tests.telegram.fakebot import TOKEN, FakeBotAPI
from tests.web.conftest import KOREAN_APPLICATION, USER_AGENT, Browser

ROOT = Path(__file__).resolve().parents[2]
CHAT_ID = 987654321
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


async def test_no_log_line_holds_what_identifies_an_applicant(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    environ = make_environ(tmp_path / "var")
    secret = environ.pop("HAVEN_PASSPHRASE")
    keys = crypto.init_keys(tmp_path / "var" / "keys", secret, "interactive")
    store = Store(load_url(tmp_path))
    await prepare_database(store, tmp_path / "var" / "keys")
    await store.close()
    port = free_port()
    log_file = (tmp_path / "haven.log").open("w")
    proc = subprocess.Popen(  # noqa: ASYNC220 - the server under test
        [str(ROOT / ".venv" / "bin" / "haven"), "serve"],
        env=environ
        | {
            "HAVEN_PORT": str(port),
            "HAVEN_LOG_LEVEL": "DEBUG",
            "HAVEN_TELEGRAM_TOKEN": TOKEN,
            "HAVEN_TELEGRAM_API": fake.base,
            "HAVEN_OUTBOX_PER_CHAT_RATE": "50",
        },
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"user-agent": USER_AGENT}
        ) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline
                    await asyncio.sleep(0.2)
            browser = Browser(client, None)
            done = await browser.apply()
            await browser.post("/return", a="open", r=done.reference, p="wrong words here")
            opened = await browser.post("/return", a="open", r=done.reference, p=done.passphrase)
            await browser.post(
                "/return", a="send", r=opened.field("r"), t=opened.field("t"), text="비밀글 7788"
            )
            await browser.post("/", csrf="forged", text="위조된 요청 5566")

        chat = Chat(fake, CHAT_ID)
        await chat.say("/start")
        await chat.press("ko")
        await chat.press("kpa")
        await chat.press("alone")
        await chat.press("no")
        await chat.say("텔레그람 마을 4242")
        await chat.say("/skip")
        await chat.say("/skip")
        await chat.say("텔레그람 저녁 9191")
        await chat.press("yes")
        finished = await chat.press("confirm")
        reference = re.search(
            r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]",
            finished[-1].text + "".join(m.text for m in finished),
        )
        assert reference
        await asyncio.sleep(1.0)
    finally:
        stop(proc)
        log_file.close()
    logged = (tmp_path / "haven.log").read_text()
    assert "event=submitted" in logged and "DEBUG" in logged  # it did log, at DEBUG
    forbidden = [
        done.reference,
        reference.group(0),
        done.passphrase,
        *done.passphrase.split()[:3],
        "비밀글",
        "위조된 요청",
        "텔레그람",
        str(CHAT_ID),
        keys.lookup("telegram", str(CHAT_ID)),
        keys.lookup("telegram", str(CHAT_ID))[:16],
        TOKEN,
        TOKEN.split(":")[1],
        "$argon2",
        USER_AGENT,
        "SELECT",
        "INSERT",
    ]
    forbidden += [f["text"] for f in KOREAN_APPLICATION if len(f.get("text", "")) > 2]
    for value in forbidden:
        assert value not in logged, value
    lines = [line for line in logged.splitlines() if "Uvicorn running on" not in line]
    assert not IPV4.search("\n".join(lines)), IPV4.search("\n".join(lines))


def load_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'haven.db'}"


def test_an_exception_is_logged_without_its_message(capsys) -> None:
    import logging

    from haven import logs

    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("haven").level)
    logs.configure("DEBUG")
    try:
        try:
            raise ValueError("answer: 수드샤 근처 SECRET-5150")
        except ValueError as exc:
            raise RuntimeError("chat 987654321") from exc
    except RuntimeError:
        logging.getLogger("haven.test").exception("test event=failed")
    logging.getLogger("sqlalchemy.engine").info("SELECT secret params")
    logging.getLogger("haven.test").debug("test event=debug_shown")
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    logging.getLogger("haven").setLevel(saved[2])
    err = capsys.readouterr().err
    assert "event=failed" in err and "RuntimeError" in err and "ValueError" in err
    assert "event=debug_shown" in err
    for value in ("SECRET-5150", "수드샤", "987654321", "SELECT"):
        assert value not in err, value
