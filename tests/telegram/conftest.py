from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from haven.bootstrap import telegram_runtime
from haven.channels.telegram import TelegramRuntime
from haven.settings import load_settings
from tests.conftest import Env
from tests.console.conftest import make_console  # noqa: F401 - a fixture for the wipe tests
from tests.telegram.fakebot import TOKEN, FakeBotAPI

#: Fast settings for conversations: the per-chat limit is tested on its own.
FAST = {
    "HAVEN_OUTBOX_RATE": "200",
    "HAVEN_OUTBOX_PER_CHAT_RATE": "50",
    "HAVEN_INTAKE_PER_CHAT_LIMIT": "100/minute",
    "HAVEN_INTAKE_GLOBAL_LIMIT": "10000/second",
}


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], limit: float = 10.0, what: str = ""
) -> None:
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


RuntimeFactory = Callable[..., Awaitable[TelegramRuntime]]


@pytest.fixture
async def make_runtime(fake: FakeBotAPI) -> AsyncIterator[RuntimeFactory]:
    started: list[TelegramRuntime] = []

    async def factory(env: Env, start: bool = True, **overrides: Any) -> TelegramRuntime:
        environ = {
            **env.environ,
            "HAVEN_TELEGRAM_TOKEN": TOKEN,
            "HAVEN_TELEGRAM_API": fake.base,
            **FAST,
            **{f"HAVEN_{k.upper()}": str(v) for k, v in overrides.items()},
        }
        runtime = telegram_runtime(load_settings(environ), env.store, env.keys)
        runtime.worker.poll = 0.05
        runtime.worker.backoff_base = 0.2
        if start:
            await runtime.start()
            started.append(runtime)
        return runtime

    try:
        yield factory
    finally:
        for runtime in started:
            await runtime.stop()


class Chat:
    """One applicant talking to a bot (the primary, or the one of ``token``) through the
    fake server."""

    def __init__(self, fake: FakeBotAPI, chat_id: int, token: str = TOKEN) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.token = token

    @property
    def received(self) -> list:
        return self.fake.to(self.chat_id, self.token)

    async def _await_reply(self, before: int, limit: float = 10.0):
        await eventually(lambda: len(self.received) > before, limit, "a reply")
        await asyncio.sleep(0.05)  # let a multi-message reply arrive whole
        return self.received[before:]

    async def say(self, text: str | None = None, **extra: Any):
        before = len(self.received)
        self.fake.message(self.chat_id, text, token=self.token, **extra)
        return await self._await_reply(before)

    async def press(self, value: str, data: str | None = None):
        """Press the button of the last message whose callback data ends in ``|value``."""
        last = self.received[-1]
        if data is None:
            data = next(d for _label, d in last.buttons if d.endswith("|" + value))
        before = len(self.received)
        self.fake.press(self.chat_id, data, last.message_id, self.token)
        return await self._await_reply(before)

    async def photo(self, data: bytes, declared: int | None = None):
        before = len(self.received)
        self.fake.photo(self.chat_id, data, declared)
        return await self._await_reply(before)

    async def voice(self, data: bytes, declared: int | None = None):
        before = len(self.received)
        self.fake.voice(self.chat_id, data, declared=declared)
        return await self._await_reply(before)
