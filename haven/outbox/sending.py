"""Sending one message: what a channel's sender is, how a send fails, and the guard that keeps
a process's sends under a channel's overall rate."""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from .payload import Payload


class RetryLater(Exception):
    """The channel asks to wait (Telegram 429 with ``retry_after``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = float(seconds)


class Unreachable(Exception):
    """The destination refuses our messages for good (Telegram 403: the bot was blocked)."""


class TemporaryFailure(Exception):
    """Network error, timeout, server error: try again later."""


class PermanentFailure(Exception):
    """The channel refuses this message (e.g. 400 Bad Request): do not retry."""


class Sender(Protocol):
    """Sends one message on one channel; returns the channel's message id, if any."""

    channel: str

    async def send(self, address: str, payload: Payload) -> int | None: ...


class _Window:
    """The sends of one channel that still count against its overall rate."""

    def __init__(self) -> None:
        self.open = 0  # under way: the channel may accept them at any moment until answered
        self.answered: deque[float] = deque()  # when the answers came back (monotonic)
        self.turn = asyncio.Lock()  # first come, first served: no send waits past its lease


#: Per event loop and channel, shared by the workers of this process.
_WINDOWS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Window]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def send_guard(channel: str, rate: float) -> AsyncIterator[None]:
    """Hold one send: never more than ``rate`` sends of this process that the channel may have
    accepted within one second of each other, even when the event loop runs late and several
    slots come due at once, and whatever the network's jitter.

    The channel accepts a message somewhere between the start of its request and the answer,
    so a send counts from its start until one second after its answer: then the ``rate + 1``-th
    send starts at least a second after the channel accepted the first, and a server that
    allows ``rate`` per sliding second never refuses one. This costs one round trip per second
    of sending (under 1% on a nearby server), where a fixed allowance for jitter either costs
    more or is not enough.
    """
    window = _WINDOWS.setdefault(asyncio.get_running_loop(), {}).setdefault(channel, _Window())
    cap = max(1, math.floor(rate))
    async with window.turn:
        while True:
            now = time.monotonic()
            while window.answered and window.answered[0] <= now - 1.0:
                window.answered.popleft()
            if window.open + len(window.answered) < cap:
                break
            # Full: wait for the oldest answer to be a second old (or for an answer at all).
            wait = window.answered[0] + 1.0 - now if window.answered else 0.0
            await asyncio.sleep(max(wait, 0.0) + 0.001)
        window.open += 1
    try:
        yield
    finally:
        window.open -= 1
        window.answered.append(time.monotonic())
