"""Several ``haven serve`` processes on one PostgreSQL, as an operator runs them behind a
reverse proxy: each a child process on a loopback port, talking to the fake Bot API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haven import crypto
from haven.services.admin import prepare_database
from haven.settings import load_settings
from haven.store.db import Store
from tests.conftest import PASSPHRASE, Env, make_environ
from tests.pg import PgServer, free_port
from tests.processes import stop
from tests.telegram.fakebot import TOKEN, FakeBotAPI

HOOK = "/tg/hook"
WEBHOOK_URL = "https://hotline.example" + HOOK
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Intake:
    """One ``haven serve`` child process (the intake: never the passphrase)."""

    def __init__(self, environ: dict[str, str], **settings: str) -> None:
        self.port = free_port()
        env = {k: v for k, v in environ.items() if k != "HAVEN_PASSPHRASE"}
        env |= {
            "HAVEN_PORT": str(self.port),
            "HAVEN_LOG_LEVEL": os.environ.get("SCALE_LOG", "WARNING"),
        }
        env |= {f"HAVEN_{k.upper()}": v for k, v in settings.items()}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "haven", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("SCALE_LOG") else subprocess.PIPE,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = httpx.AsyncClient(base_url=self.base, timeout=30)

    async def health(self) -> tuple[int, dict[str, Any]]:
        response = await self.client.get("/healthz")
        return response.status_code, response.json()

    async def ready(self, limit: float = 60) -> dict[str, Any]:
        """Wait until it answers its health check; the check's body."""
        deadline = time.monotonic() + limit
        while True:
            assert self.proc.poll() is None, self.stderr()
            try:
                status, body = await self.health()
                if status == 200:
                    return body
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the intake did not start"
            await asyncio.sleep(0.2)

    async def post_update(self, update: dict[str, Any], secret: str) -> int:
        response = await self.client.post(HOOK, json=update, headers={SECRET_HEADER: secret})
        return response.status_code

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    async def close(self) -> None:
        await self.client.aclose()
        stop(self.proc)


def message(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """An update as Telegram posts it to a webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "A"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }


async def make_env(tmp_path: Path, url: str) -> Env:
    environ = make_environ(tmp_path / "var", url)
    settings = load_settings(environ)
    keys = crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
    store = Store(settings.db_url)
    await prepare_database(store, settings.keys_dir)
    return Env(settings, environ, store, keys)


@pytest.fixture
async def pg_env(tmp_path: Path, pg: PgServer) -> AsyncIterator[Env]:
    """A migrated database of its own on the session's PostgreSQL."""
    env = await make_env(tmp_path, pg.url(pg.new_database()))
    try:
        yield env
    finally:
        await env.store.close()


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A PostgreSQL server of the test's own (to be stopped and started under load)."""
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def bot_environ(env: Env, fake: FakeBotAPI, **extra: str) -> dict[str, str]:
    return {
        **env.environ,
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_API": fake.base,
        **{f"HAVEN_{k.upper()}": v for k, v in extra.items()},
    }


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)
