"""The Telegram adapter: Telegram updates in, intake calls out. Nothing else.

* Every update is handled once: its ``update_id`` is recorded in the intake's transaction
  (``processed_updates``), so a redelivered update changes nothing and queues nothing.
* Replies are never sent from here: the intake writes them to the outbox in the same
  transaction, and the outbox worker sends them. (Only ``answerCallbackQuery`` and removing a
  pressed keyboard are called directly: they are acknowledgements, not messages.)
* Long polling only confirms an update to Telegram (the next ``offset``) once it has been
  handled and committed, so a process killed mid-burst loses nothing: Telegram delivers the
  unconfirmed updates again, and the ones already handled are recognised by their id.
* The chat itself is kept small: the applicant's message ids are noted in the chat log
  (:mod:`haven.outbox.chatlog`) before the update is handled, the bot's own as the outbox
  sends them, and the wiper deletes them all after a while of silence or after ``/forget``.
  ``/help`` and the end of the questionnaire say so, and how to keep the phone clean.
* Floods: a chat over the per-chat limit gets one notice and is then ignored for a while; a
  global limit paces what is handled; chats are served round-robin in order of arrival, one
  update of a chat at a time, so no chat can starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramConflictError
from aiogram.types import CallbackQuery, Message, PhotoSize, Update
from limits import parse
from sqlalchemy import select

from haven.content import LANGS, gettext_for
from haven.content.texts import PHONE_ADVICE
from haven.crypto import IntakeKeys
from haven.flows import Effect
from haven.flows.engine import COMMANDS
from haven.flows.inputs import Choice, Command, Input, Location, Text, Unsupported
from haven.outbox import ChatLog, Payload, enqueue
from haven.services import ratelimit
from haven.services.campaigns import Campaigns
from haven.services.intake import Intake, Notice, PhotoData
from haven.services.verify import Check, check_text
from haven.store.db import Store
from haven.store.models import Contact

from .sender import parse_callback
from .texts import M_FLOOD, M_PHOTO_FAILED, M_PHOTO_TOO_LARGE, M_VANISH, M_WIPE_RULE

log = logging.getLogger("haven.telegram")

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
UNSUPPORTED_KINDS = (
    "sticker",
    "voice",
    "video",
    "video_note",
    "animation",
    "audio",
    "document",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)
#: An update that fails this many times is given up (logged) instead of blocking polling.
MAX_FAILURES = 5


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait until each has finished."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass(frozen=True)
class Translated:
    """An update as the intake needs it."""

    address: str
    inp: Input | PhotoData | None
    campaign: str | None = None
    context: str | None = None
    notice: Notice | None = None
    notice_args: dict[str, object] | None = None
    callback: CallbackQuery | None = None


class FloodGuard:
    """Per-chat and global limits on what the bot accepts (the ``limits`` library)."""

    def __init__(self, per_chat: str, overall: str, pause: float) -> None:
        self.limiter = ratelimit.limiter()
        self.per_chat = parse(per_chat)
        self.overall = parse(overall)
        self.pause = pause
        self.muted: dict[str, float] = {}

    def check(self, chat: str) -> str:
        """``ok``, ``notice`` (just went over the limit: tell once) or ``ignore``."""
        now = time.monotonic()
        until = self.muted.get(chat)
        if until is not None:
            if now < until:
                return "ignore"
            del self.muted[chat]
        if self.limiter.hit(self.per_chat, "chat", chat):
            return "ok"
        self.muted[chat] = now + self.pause
        if len(self.muted) > 50_000:
            self.muted = {k: v for k, v in self.muted.items() if v > now}
        return "notice"

    async def admit(self) -> None:
        """Wait for room under the global limit."""
        while not self.limiter.hit(self.overall, "global"):  # noqa: ASYNC110 - a rate, not an event
            await asyncio.sleep(0.005)


@dataclass
class _Chat:
    items: deque[tuple[Update, asyncio.Future[None]]] = field(default_factory=deque)


class TelegramChannel:
    def __init__(
        self,
        bot: Bot,
        intake: Intake,
        store: Store,
        keys: IntakeKeys,
        *,
        bot_id: int,
        check: Check,
        photo_max_bytes: int = 5_000_000,
        per_chat_limit: str = "20/minute",
        global_limit: str = "300/second",
        flood_pause: float = 600.0,
        concurrency: int = 64,
        wake: Callable[[], None] | None = None,
        chat_log: ChatLog | None = None,
        wipe_after_minutes: float = 60.0,
        on_forget: Callable[[], None] | None = None,
    ) -> None:
        self.bot = bot
        self.intake = intake
        self.store = store
        self.keys = keys
        self.bot_id = bot_id
        self.check = check
        self.photo_max_bytes = photo_max_bytes
        self.flood = FloodGuard(per_chat_limit, global_limit, flood_pause)
        self.concurrency = concurrency
        self.wake = wake or (lambda: None)
        self.chat_log = chat_log
        self.wipe_minutes = max(1, math.ceil(wipe_after_minutes))
        self.on_forget = on_forget or (lambda: None)
        self.campaigns = Campaigns(store)
        self._chats: dict[str, _Chat] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.handled = 0
        self.ignored = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._consume()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        self._stopping = True
        await cancel_all(self._tasks)
        self._tasks = []
        if self._background:
            await asyncio.wait(self._background, timeout=2)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the fair queue -------------------------------------------------------------------

    def submit(self, update: Update) -> asyncio.Future[None]:
        """Queue an update; the future completes once it is handled (committed) or ignored."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        address = _address_of(update)
        if address is None:
            future.set_result(None)  # not for us (groups, other update kinds)
            return future
        verdict = self.flood.check(address)
        if verdict != "ok":
            self.ignored += 1
            if verdict == "notice":
                log.info("telegram event=flood_muted update=%s", update.update_id)
                self._spawn(self._flood_notice(address))
            if update.callback_query is not None:
                self._spawn(self._answer_callback(update.callback_query, remove=False))
            future.set_result(None)
            return future
        chat = self._chats.get(address)
        if chat is None:
            chat = self._chats[address] = _Chat()
            self._ready.put_nowait(address)
        chat.items.append((update, future))
        return future

    async def _consume(self) -> None:
        while True:
            address = await self._ready.get()
            chat = self._chats[address]
            update, future = chat.items.popleft()
            try:
                await self.flood.admit()
                await self.process(update)
            except asyncio.CancelledError:
                if not future.done():
                    future.cancel()
                raise
            except Exception as exc:
                log.exception("telegram event=update_failed update=%s", update.update_id)
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(None)
            finally:
                if chat.items:
                    self._ready.put_nowait(address)  # to the back: round-robin across chats
                else:
                    del self._chats[address]

    @property
    def backlog(self) -> int:
        return sum(len(c.items) for c in self._chats.values())

    # -- one update -----------------------------------------------------------------------

    async def process(self, update: Update) -> None:
        """Handle one update: translate it and run it through the intake (one transaction)."""
        item = await self.translate(update)
        if item is None:
            return
        message = update.message
        if self.chat_log is not None and message is not None:
            # Noted before it is handled: once the update is confirmed, its id is known.
            lookup = self.intake.lookup(CHANNEL, item.address)
            written = self.chat_log.written(CHANNEL, lookup, item.address, message.message_id)
            await self.chat_log.note([written])
        if self.chat_log is not None and item.inp == Command("help"):
            await self._advise(item.address, (M_WIPE_RULE, PHONE_ADVICE))
        result = await self.intake.handle(
            CHANNEL,
            item.address,
            item.inp,
            campaign=item.campaign,
            deliver=True,
            update_key=f"telegram:{self.bot_id}:{update.update_id}",
            context=item.context,
            notice=item.notice,
            notice_args=item.notice_args,
        )
        self.handled += 1
        if self.chat_log is not None and result.effect is Effect.submit:
            # The last message before the chat empties itself: what to learn by heart first.
            await self._advise(item.address, (M_VANISH, PHONE_ADVICE))
        elif result.effect is Effect.erase:
            self.on_forget()
        if not result.duplicate:
            self.wake()
        if item.callback is not None:
            self._spawn(self._answer_callback(item.callback, remove=not result.duplicate))

    async def translate(self, update: Update) -> Translated | None:
        if update.message is not None:
            return await self._message(update.message)
        if update.edited_message is not None:
            if update.edited_message.chat.type != "private":
                return None
            return Translated(str(update.edited_message.chat.id), Unsupported("edited"))
        if update.callback_query is not None:
            return self._callback(update.callback_query)
        return None

    async def _message(self, message: Message) -> Translated | None:
        if message.chat.type != "private":
            return None
        address = str(message.chat.id)
        if message.text is not None:
            return await self._text(address, message.text)
        if message.location is not None:
            loc = message.location
            return Translated(address, Location(loc.latitude, loc.longitude))
        if message.venue is not None:
            loc = message.venue.location
            return Translated(address, Location(loc.latitude, loc.longitude))
        if message.photo:
            return await self._photo(address, message.photo)
        kind = next((k for k in UNSUPPORTED_KINDS if getattr(message, k, None)), "other")
        return Translated(address, Unsupported(kind))

    async def _text(self, address: str, text: str) -> Translated:
        if not text.startswith("/"):
            return Translated(address, Text(text))
        head, _, rest = text.strip().partition(" ")
        name = head[1:].split("@", 1)[0].lower()
        if name == "start":
            return Translated(address, Command("start"), campaign=await self._campaign(rest))
        if name == "verify":
            return Translated(address, Command("verify"), notice=self.verify_text)
        if name in COMMANDS:
            return Translated(address, Command(name))
        if name.isascii() and name.replace("_", "").isalnum() and not rest:
            return Translated(address, Command(name))  # an unknown command: "what I can read"
        return Translated(address, Text(text))

    def verify_text(self, lang: str) -> str:
        """What ``/verify`` answers: the same check as the web page and the leaflets."""
        return check_text(lang, self.check).message

    async def _campaign(self, payload: str) -> str | None:
        """The deep-link payload's campaign; an unknown one is kept as ``unknown``."""
        payload = payload.strip()
        if not payload:
            return None
        code = await self.campaigns.known_code(payload[:64])
        return code or "unknown"

    def _callback(self, query: CallbackQuery) -> Translated | None:
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != "private":
            return None
        address = str(chat.id if chat is not None else query.from_user.id)
        parsed = parse_callback(query.data)
        if parsed is None:
            # Not our button: answered like a wrong choice (a polite re-ask), nothing else.
            return Translated(address, Choice(""), context="-", callback=query)
        context, value = parsed
        return Translated(address, Choice(value), context=context, callback=query)

    async def _photo(self, address: str, sizes: list[PhotoSize]) -> Translated:
        cap = self.photo_max_bytes
        fitting = [s for s in sizes if s.file_size is None or s.file_size <= cap]
        too_large = Translated(
            address, None, notice=M_PHOTO_TOO_LARGE, notice_args={"max": _mb(cap)}
        )
        if not fitting:
            return too_large
        best = max(fitting, key=lambda s: (s.file_size or 0, s.width * s.height))
        try:
            file = await self.bot.get_file(best.file_id, request_timeout=30)
            if file.file_size is not None and file.file_size > cap:
                return too_large
            if not file.file_path:
                return Translated(address, None, notice=M_PHOTO_FAILED)
            url = self.bot.session.api.file_url(self.bot.token, file.file_path)
            buf = io.BytesIO()
            async for chunk in self.bot.session.stream_content(url, timeout=60):
                buf.write(chunk)
                if buf.tell() > cap:
                    return too_large
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            log.warning("telegram event=photo_failed error=%s", type(exc).__name__)
            return Translated(address, None, notice=M_PHOTO_FAILED)
        return Translated(address, PhotoData(buf.getvalue()))

    async def _flood_notice(self, address: str) -> None:
        """The one notice a flooding chat gets, through the outbox like every message."""
        try:
            lookup = self.intake.lookup(CHANNEL, address)
            async with self.store.transaction() as session:
                contact = await session.scalar(select(Contact).where(Contact.lookup == lookup))
                if contact is not None and contact.lang:
                    text = gettext_for(contact.lang)(M_FLOOD)
                else:
                    text = _multilingual(M_FLOOD)
                target: Contact | tuple[str, str] = contact or (CHANNEL, address)
                enqueue(session, self.keys, target, Payload(text), kind="notice")
            self.wake()
        except Exception:
            log.exception("telegram event=flood_notice_failed")

    async def _advise(self, address: str, messages: tuple[str, ...]) -> None:
        """One notice of several texts in the chat's language, through the outbox."""
        lookup = self.intake.lookup(CHANNEL, address)
        async with self.store.transaction() as session:
            contact = await session.scalar(select(Contact).where(Contact.lookup == lookup))
            args = {"minutes": self.wipe_minutes}
            if contact is not None and contact.lang:
                _ = gettext_for(contact.lang)
                text = "\n\n".join(_(m).format(**args) for m in messages)
            else:
                text = "\n\n".join(_multilingual(m).format(**args) for m in messages)
            target: Contact | tuple[str, str] = contact or (CHANNEL, address)
            enqueue(session, self.keys, target, Payload(text), kind="notice")

    async def _answer_callback(self, query: CallbackQuery, *, remove: bool) -> None:
        with contextlib.suppress(TelegramAPIError, OSError, TimeoutError):
            await self.bot.answer_callback_query(query.id, request_timeout=10)
        message = query.message
        if remove and message is not None:
            with contextlib.suppress(TelegramAPIError, OSError, TimeoutError):
                await self.bot.edit_message_reply_markup(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=None,
                    request_timeout=10,
                )

    # -- long polling ---------------------------------------------------------------------

    async def poll(self, wait: int = 25) -> None:
        """Long polling until cancelled.

        A batch of updates is confirmed to Telegram (by the next call's ``offset``) only once
        every update in it has been handled and committed; an update that failed is asked for
        again (and given up after :data:`MAX_FAILURES` tries, so it cannot block the bot).
        """
        with contextlib.suppress(TelegramAPIError, OSError, TimeoutError):
            await self.bot.delete_webhook(drop_pending_updates=False, request_timeout=15)
        done: set[int] = set()
        failures: dict[int, int] = {}
        offset: int | None = None
        backoff = 0.5
        log.info("telegram event=polling_started bot=%s", self.bot_id)
        while not self._stopping:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    limit=100,
                    timeout=wait,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=wait + 10,
                )
                backoff = 0.5
            except TelegramConflictError:
                log.error("telegram event=polling_conflict (another instance or a webhook)")
                await asyncio.sleep(5)
                continue
            except (TelegramAPIError, OSError, TimeoutError) as exc:
                log.warning("telegram event=polling_error error=%s", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            if not updates:
                continue
            fresh = [u for u in updates if u.update_id not in done]
            outcomes = await asyncio.gather(
                *(self.submit(u) for u in fresh), return_exceptions=True
            )
            failed: list[int] = []
            for update, outcome in zip(fresh, outcomes, strict=True):
                uid = update.update_id
                if isinstance(outcome, BaseException):
                    failures[uid] = failures.get(uid, 0) + 1
                    if failures[uid] < MAX_FAILURES:
                        failed.append(uid)
                        continue
                    log.error("telegram event=update_given_up update=%s", uid)
                failures.pop(uid, None)
                done.add(uid)
            if failed:
                offset = min(failed)  # ask again from the first failure; the rest is skipped
                await asyncio.sleep(min(2.0, 0.2 * max(failures.values(), default=1)))
            else:
                offset = max(u.update_id for u in updates) + 1
            done = {uid for uid in done if uid >= offset}

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        """One webhook request: handled and committed before Telegram gets its 200."""
        update = Update.model_validate(data, context={"bot": self.bot})
        await self.submit(update)


def _address_of(update: Update) -> str | None:
    if update.message is not None:
        return str(update.message.chat.id)
    if update.edited_message is not None:
        return str(update.edited_message.chat.id)
    if update.callback_query is not None:
        query = update.callback_query
        if query.message is not None:
            return str(query.message.chat.id)
        return str(query.from_user.id)
    return None


def _multilingual(message: str) -> str:
    out: list[str] = []
    for lang in LANGS:
        text = gettext_for(lang)(message)
        if text not in out:
            out.append(text)
    return "\n\n".join(out)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:g}"
