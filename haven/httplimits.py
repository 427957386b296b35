"""Limits every haven server enforces before a request reaches haven's code: how long a client
may take to send its headers and its body, and how large a body may be.

uvicorn closes idle keep-alive connections and caps concurrent connections itself; it does
not close a connection that opens and then sends nothing, or its headers a byte at a time.
:class:`TimedH11Protocol` does: a connection has ``header_seconds`` to send each request's
line and headers. :class:`BodyLimit` refuses a body over its size before anyone parses it
(by its Content-Length, or as it streams in) and one that takes longer than ``body_seconds``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from haven.httpheaders import APPLICANT_HEADERS


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers."""

    header_seconds: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_seconds, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self._between_requests() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        waiting = self._between_requests()
        if waiting:
            self._arm()  # a new request begins: its headers are on the clock
        super().data_received(data)
        if waiting and not self._between_requests():
            self._disarm()  # its headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle now: uvicorn's keep-alive timer closes the connection unless a request comes.

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class BodyLimit:
    """Refuses a request body over ``max_bytes`` (413) or slower than ``body_seconds`` (408):
    by its Content-Length before the app runs, or as it streams in, when the app is told the
    client went away and the refusal is answered in place of whatever the app answers."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _refuse(send, 413)
                    return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_seconds
        received = 0
        refused = 0  # the status refused with; the app sees the client go away instead
        answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if refused:
                if not answered:
                    answered = True
                    await _refuse(send, refused)
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            try:
                # A deadline on this await, without the task that wait_for makes per call.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refused = 408
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = 413
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, guarded_send)
        if refused and not answered:
            await _refuse(send, refused)


#: A refusal page runs no script, whichever server refuses.
_REFUSAL_HEADERS = [(name.encode(), value.encode()) for name, value in APPLICANT_HEADERS.items()]


async def _refuse(send: Send, status: int) -> None:
    body = b"<!doctype html><title>%d</title><p>%d</p>" % (status, status)
    headers: list[Any] = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *_REFUSAL_HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
