"""A fake Telegram Bot API server on 127.0.0.1 (aiohttp), for the tests and the benchmarks.

It implements what haven uses: getMe, getUpdates (long polling, offsets confirm updates),
setWebhook/deleteWebhook/getWebhookInfo, sendMessage, answerCallbackQuery,
editMessageReplyMarkup, getFile and the file download path, deleteMessage and
deleteMessages. It can enforce rate limits (answering 429 with retry_after), play scripted
failures per chat (429, 403, a dropped connection) and refuse to delete chosen messages
(``undeletable``, as Telegram refuses a message older than 48 hours).

Every message of a private chat, the bot's and the user's, is kept per chat until deleted
(:meth:`FakeBotAPI.in_chat`), as the user's phone would show it.

One fake serves several bots (:meth:`FakeBotAPI.add_bot`): each token has its own updates
for getUpdates, its own rate limits (Telegram counts per bot) and its own chats, and every
message sent records the token that sent it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7001234567
TOKEN = f"{BOT_ID}:AAFakeTokenForTestsOnly_0123456789abcdef"
USERNAME = "haven_test_bot"


def bot_id_of(token: str) -> int:
    return int(token.split(":", 1)[0])


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events within any ``window`` seconds."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@dataclass
class Sent:
    chat_id: int | str
    text: str
    markup: dict[str, Any] | None
    at: float
    message_id: int
    protect_content: bool = False
    #: The token of the bot that sent it.
    token: str = TOKEN

    @property
    def buttons(self) -> list[tuple[str, str]]:
        if not self.markup:
            return []
        return [
            (b["text"], b["callback_data"]) for row in self.markup["inline_keyboard"] for b in row
        ]


@dataclass
class FakeBotAPI:
    rate: float | None = None  # enforced overall messages/s (None: not enforced)
    per_chat_rate: float | None = None
    retry_after: int = 1
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    too_many: int = 0
    scripted: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    blocked: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    callback_answers: list[str] = field(default_factory=list)
    edits: list[tuple[str, int]] = field(default_factory=list)
    #: chat id -> message ids in the chat, the bot's and the user's, until deleted.
    chats: dict[str, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    #: Message ids every deletion of which is refused (400 "message can't be deleted").
    undeletable: set[int] = field(default_factory=set)
    #: What getWebhookInfo reports as the webhook's last error.
    webhook_error: str = ""
    deleted: list[tuple[str, int]] = field(default_factory=list)
    #: chat id -> every message id ever in the chat (deleted or not) -> ``user`` or ``bot``.
    history: dict[str, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    #: The tokens accepted -> the bot's username (getMe).
    bots: dict[str, str] = field(default_factory=lambda: {TOKEN: USERNAME})

    def __post_init__(self) -> None:
        self._next_update = 1000
        self._next_message = 1
        self._new = asyncio.Event()
        #: Per token: send times in the last second, and each chat's last send.
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._chat_last: dict[tuple[str, str], float] = {}
        #: The updates of the bots other than the primary (``updates`` is the primary's).
        self._queues: dict[str, list[dict[str, Any]]] = {}
        #: 429s answered, per token.
        self.too_many_by: dict[str, int] = defaultdict(int)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._closing = False

    # -- server ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeBotAPI:
        """Serve on 127.0.0.1 (on ``port``, or a free one)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing = True
        self._new.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # -- what tests do --------------------------------------------------------------------

    def add_bot(self, token: str, username: str) -> None:
        """Accept another bot's token (a mirror)."""
        self.bots[token] = username

    def queue(self, token: str = TOKEN) -> list[dict[str, Any]]:
        """The updates waiting for a bot's getUpdates."""
        if token == TOKEN:
            return self.updates
        return self._queues.setdefault(token, [])

    @staticmethod
    def chat_key(chat: int | str, token: str = TOKEN) -> str:
        """Where a chat's messages are kept: a user has one chat with each bot."""
        return str(chat) if token == TOKEN else f"{bot_id_of(token)}/{chat}"

    def push(self, update: dict[str, Any], token: str = TOKEN) -> int:
        self._next_update += 1
        update = {"update_id": self._next_update, **update}
        self.queue(token).append(update)
        self._new.set()
        return self._next_update

    def message(
        self, chat_id: int, text: str | None = None, *, token: str = TOKEN, **extra: Any
    ) -> int:
        msg: dict[str, Any] = {
            "message_id": self._msg_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "A"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
        }
        if text is not None:
            msg["text"] = text
        msg.update(extra)
        self.chats[self.chat_key(chat_id, token)][msg["message_id"]] = "user"
        self.history[self.chat_key(chat_id, token)][msg["message_id"]] = "user"
        return self.push({"message": msg}, token)

    def press(
        self, chat_id: int, data: str, message_id: int | None = None, token: str = TOKEN
    ) -> int:
        return self.push(
            {
                "callback_query": {
                    "id": f"cb{self._next_update + 1}",
                    "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": message_id or 1,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private", "first_name": "A"},
                        "text": "question",
                    },
                }
            },
            token,
        )

    def photo(self, chat_id: int, data: bytes, declared: int | None = None) -> int:
        file_id = f"f{len(self.files) + 1}"
        self.files[file_id] = data
        size = {"file_id": file_id, "file_unique_id": "u" + file_id, "width": 800, "height": 600}
        size["file_size"] = len(data) if declared is None else declared
        return self.message(chat_id, photo=[size])

    def voice(
        self, chat_id: int, data: bytes, duration: int = 3, declared: int | None = None
    ) -> int:
        """A voice message whose file (``getFile``, then the download path) holds ``data``."""
        file_id = f"f{len(self.files) + 1}"
        self.files[file_id] = data
        voice = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data) if declared is None else declared,
        }
        return self.message(chat_id, voice=voice)

    def in_chat(self, chat_id: int | str, token: str = TOKEN) -> dict[int, str]:
        """The messages still in a chat: message id -> ``user`` or ``bot``."""
        return dict(self.chats.get(self.chat_key(chat_id, token), {}))

    def to(self, chat_id: int | str, token: str | None = None) -> list[Sent]:
        """What was sent to a chat (by one bot, or by any)."""
        return [
            s
            for s in self.sent
            if str(s.chat_id) == str(chat_id) and (token is None or s.token == token)
        ]

    def max_in_window(
        self, window: float = 1.0, chat_id: int | str | None = None, token: str | None = None
    ) -> int:
        times = [
            s.at
            for s in self.sent
            if (chat_id is None or str(s.chat_id) == str(chat_id))
            and (token is None or s.token == token)
        ]
        return max_in_window(times, window)

    def _msg_id(self) -> int:
        self._next_message += 1
        return self._next_message

    # -- the API --------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        out: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    out[key] = json.loads(value)
                    continue
                except ValueError:
                    pass
            out[key] = value
        return out

    @staticmethod
    def ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def error(code: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] not in self.bots:
            return self.error(401, "Unauthorized")
        method = request.match_info["method"].lower()
        self.calls[method] += 1
        params = await self._params(request)
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return self.error(404, "Not Found: method not found")
        return await handler(request, params)

    async def m_getme(self, r: web.Request, _p: dict[str, Any]) -> web.Response:
        token = r.match_info["token"]
        return self.ok(
            {"id": bot_id_of(token), "is_bot": True, "first_name": "haven",
             "username": self.bots[token]}
        )  # fmt: skip

    async def m_getupdates(self, r: web.Request, p: dict[str, Any]) -> web.Response:
        offset = int(p.get("offset", 0) or 0)
        limit = int(p.get("limit", 100) or 100)
        timeout = float(p.get("timeout", 0) or 0)
        updates = self.queue(r.match_info["token"])
        if offset:
            updates[:] = [u for u in updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            ready = [u for u in updates if u["update_id"] >= offset][:limit]
            left = deadline - time.monotonic()
            if ready or left <= 0 or self._closing:
                return self.ok(ready)
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except TimeoutError:
                pass

    async def m_setwebhook(self, _r: web.Request, p: dict[str, Any]) -> web.Response:
        self.webhook = dict(p)
        return self.ok(True)

    async def m_getwebhookinfo(self, _r: web.Request, _p: dict[str, Any]) -> web.Response:
        info: dict[str, Any] = {"url": self.webhook.get("url", ""), "pending_update_count": 0}
        if self.webhook_error:
            info["last_error_message"] = self.webhook_error
        return self.ok(info)

    async def m_deletewebhook(self, _r: web.Request, _p: dict[str, Any]) -> web.Response:
        self.webhook = {}
        return self.ok(True)

    async def m_answercallbackquery(self, _r: web.Request, p: dict[str, Any]) -> web.Response:
        self.callback_answers.append(str(p.get("callback_query_id")))
        return self.ok(True)

    async def m_editmessagereplymarkup(self, _r: web.Request, p: dict[str, Any]) -> web.Response:
        self.edits.append((str(p.get("chat_id")), int(p.get("message_id", 0))))
        return self.ok(True)

    async def m_getfile(self, _r: web.Request, p: dict[str, Any]) -> web.Response:
        file_id = str(p.get("file_id"))
        if file_id not in self.files:
            return self.error(400, "Bad Request: invalid file_id")
        return self.ok(
            {
                "file_id": file_id,
                "file_unique_id": "u" + file_id,
                "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}.jpg",
            }
        )

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        if request.match_info["token"] not in self.bots or name not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[name], content_type="image/jpeg")

    async def m_sendmessage(self, request: web.Request, p: dict[str, Any]) -> web.StreamResponse:
        token = request.match_info["token"]
        chat = str(p.get("chat_id"))
        key = self.chat_key(chat, token)
        window = self._windows[token]
        now = time.monotonic()
        script = self.scripted.get(chat)
        if script:
            step = script.popleft()
            if step == "429":
                self.too_many += 1
                return self.error(
                    429, "Too Many Requests: retry after", retry_after=self.retry_after
                )
            if step == "403":
                return self.error(403, "Forbidden: bot was blocked by the user")
            if step == "drop":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
        if chat in self.blocked:
            return self.error(403, "Forbidden: bot was blocked by the user")
        if self.rate is not None:
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.rate:
                self.too_many += 1
                self.too_many_by[token] += 1
                return self.error(429, "Too Many Requests", retry_after=self.retry_after)
        if self.per_chat_rate is not None:
            last = self._chat_last.get((token, chat))
            if last is not None and now - last < 1.0 / self.per_chat_rate:
                self.too_many += 1
                self.too_many_by[token] += 1
                return self.error(429, "Too Many Requests", retry_after=self.retry_after)
        window.append(now)
        self._chat_last[(token, chat)] = now
        markup = p.get("reply_markup")
        message_id = self._msg_id()
        protect = p.get("protect_content") in (True, "true", "True")
        text = str(p.get("text", ""))
        self.sent.append(
            Sent(p.get("chat_id", chat), text, markup, now, message_id, protect, token)
        )
        self.chats[key][message_id] = "bot"
        self.history[key][message_id] = "bot"
        return self.ok(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else 0, "type": "private"},
                "text": p.get("text", ""),
            }
        )

    async def m_deletemessage(self, r: web.Request, p: dict[str, Any]) -> web.Response:
        chat = self.chat_key(str(p.get("chat_id")), r.match_info["token"])
        message_id = int(p.get("message_id", 0))
        if message_id in self.undeletable:
            return self.error(400, "Bad Request: message can't be deleted")
        if self.chats[chat].pop(message_id, None) is None:
            return self.error(400, "Bad Request: message to delete not found")
        self.deleted.append((chat, message_id))
        return self.ok(True)

    async def m_deletemessages(self, r: web.Request, p: dict[str, Any]) -> web.Response:
        """Like Telegram: up to 100 ids; ids already gone are skipped. A batch holding a
        message that cannot be deleted is refused whole (nothing is deleted)."""
        chat = self.chat_key(str(p.get("chat_id")), r.match_info["token"])
        ids = [int(i) for i in p.get("message_ids", [])]
        if not 1 <= len(ids) <= 100:
            return self.error(400, "Bad Request: too many messages to delete")
        if self.undeletable.intersection(ids):
            return self.error(400, "Bad Request: message can't be deleted")
        for message_id in ids:
            if self.chats[chat].pop(message_id, None) is not None:
                self.deleted.append((chat, message_id))
        return self.ok(True)
