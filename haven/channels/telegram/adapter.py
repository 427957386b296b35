"""The Telegram adapter: Telegram updates in, intake calls out. Nothing else.

* Every update is handled once: its ``update_id`` is recorded in the intake's transaction
  (``processed_updates``), so a redelivered update changes nothing and queues nothing.
* Replies are never sent from here: the intake writes them to the outbox in the same
  transaction, and the outbox worker sends them. (Only ``answerCallbackQuery`` and removing a
  pressed keyboard are called directly: they are acknowledgements, not messages.)
* Long polling stores each batch of updates in the inbox (:mod:`haven.store.inbox`, sealed
  under the routing key) and only then confirms it to Telegram (the next ``offset``), so
  taking updates is cheap whatever the backlog and a process killed mid-burst loses nothing:
  what it took is in the inbox and is queued again at the restart, what it did not take
  Telegram delivers again. An update is erased from the inbox once handled.
* The chat itself is kept small: the applicant's message ids are noted in the chat log
  (:mod:`haven.outbox.chatlog`) in the intake's transaction that handles the update (before
  anything is answered to it), the bot's own as the outbox sends them, and the wiper deletes
  them all after a while of silence or after ``/forget``. ``/help`` and the end of the
  questionnaire say so, and how to keep the phone clean.
* Floods: a chat over the per-chat limit gets one notice and is then ignored for a while.
  What is handled next is decided by :class:`Admission` (chats that never wrote before get
  their share of turns, newest first), no faster than the global limit and only while the
  outbox holds less than a few seconds of replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
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
from sqlalchemy import select

from haven.content import gettext_for, in_every_language
from haven.content.texts import PHONE_ADVICE
from haven.crypto import BadEnvelope, IntakeKeys
from haven.flows import Effect
from haven.flows.engine import COMMANDS
from haven.flows.inputs import Choice, Command, Input, Location, Text, Unsupported
from haven.outbox import ChatLog, Payload, backlog, enqueue
from haven.services import ratelimit
from haven.services.campaigns import Campaigns
from haven.services.intake import Intake, Notice, PhotoData
from haven.services.verify import Check, check_text
from haven.store import inbox
from haven.store.db import Store
from haven.store.models import Contact, utcnow

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
        self.limits = ratelimit.Limiter(ratelimit.Rules.of(own=per_chat, shared=overall))
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
        if not self.limits.hit(chat, own_only=True):
            return "ok"
        self.muted[chat] = now + self.pause
        if len(self.muted) > 50_000:
            self.muted = {k: v for k, v in self.muted.items() if v > now}
        return "notice"

    async def admit(self) -> None:
        """Wait for room under the global limit."""
        while self.limits.hit():  # noqa: ASYNC110 - a rate, not an event
            await asyncio.sleep(0.005)


@dataclass
class _Item:
    update: Update
    seq: int  # order of arrival
    row: int | None = None  # its inbox row (polling); ``None`` from the webhook
    future: asyncio.Future[None] | None = None
    failures: int = 0


@dataclass
class _Chat:
    address: str
    lookup: str
    fresh: bool  # its next turn is the first of a chat that never wrote before
    items: deque[_Item] = field(default_factory=deque)
    busy: bool = False  # one update of a chat at a time, in order


class Admission:
    """Which chat's update is handled next (docs/adr/0004-fair-under-overload.md).

    Chats that have never written before and the others take turns, the new ones getting
    ``new_share`` of the turns while both wait, so that a newcomer's first turn comes quickly
    in a surge and a many-account flood of new chats still cannot take every turn. Within
    each kind the chat whose waiting update is newest goes first: once a backlog forms, a
    fresh conversation is worth more than a stale one. A chat has one update handled at a
    time, in order."""

    def __init__(self, new_share: float = 0.5) -> None:
        self.new_share = new_share
        self.chats: dict[str, _Chat] = {}
        self._ready: dict[bool, list[tuple[int, str]]] = {True: [], False: []}
        self._changed = asyncio.Event()
        self._turns = 0.0  # turns of new chats minus their share of all turns
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, address: str, lookup: str, item: _Item, fresh: bool) -> None:
        chat = self.chats.get(address)
        if chat is None:
            chat = self.chats[address] = _Chat(address, lookup, fresh)
        chat.items.append(item)
        if len(chat.items) == 1 and not chat.busy:
            self._push(chat)

    def _push(self, chat: _Chat) -> None:
        heapq.heappush(self._ready[chat.fresh], (-chat.items[0].seq, chat.address))
        self._changed.set()

    def _pop(self, fresh: bool) -> _Chat | None:
        heap = self._ready[fresh]
        while heap:
            seq, address = heapq.heappop(heap)
            chat = self.chats.get(address)
            if (
                chat is not None
                and not chat.busy
                and chat.items
                and chat.fresh == fresh
                and chat.items[0].seq == -seq
            ):
                return chat
        return None

    def waiting(self) -> bool:
        return bool(self._ready[True] or self._ready[False])

    async def ready(self) -> None:
        """Wait until some chat has an update to hand out."""
        while not self.waiting():
            self._changed.clear()
            await self._changed.wait()

    def take(self) -> tuple[_Chat, _Item] | None:
        """The next turn, or ``None`` when nothing waits."""
        prefer_new = self._turns <= 0
        chat = self._pop(prefer_new) or self._pop(not prefer_new)
        if chat is None:
            return None
        if self._ready[not chat.fresh]:
            self._turns += (1.0 if chat.fresh else 0.0) - self.new_share
        else:
            self._turns = 0.0  # one kind alone: nothing is owed to the other
        chat.busy = True
        return chat, chat.items.popleft()

    def done(self, chat: _Chat, item: _Item | None = None) -> None:
        """The chat's turn is over; ``item`` is put back first to be tried again."""
        chat.busy = False
        if item is not None:
            chat.items.appendleft(item)
        else:
            chat.fresh = False
        if chat.items:
            self._push(chat)
        else:
            del self.chats[chat.address]

    @property
    def backlog(self) -> int:
        return sum(len(c.items) + c.busy for c in self.chats.values())


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
        outbox_room: int | None = None,
        new_chat_share: float = 0.5,
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
        #: Automated messages the outbox may hold before no more updates are handled.
        self.outbox_room = outbox_room
        self.admission = Admission(new_chat_share)
        self._turn = asyncio.Lock()
        self._outbox_backlog = 0
        self._in_flight = 0  # turns being handled ...
        self._finished = 0  # ... and finished since the outbox was last counted
        #: Chats (keyed hashes) that had a turn in this process: they have written before.
        self._seen: dict[str, None] = {}
        self._erasable: list[int] = []  # inbox rows handled, to be erased
        self._erased = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.handled = 0
        self.ignored = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._consume()) for _ in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._erase_handled()))
        if self.outbox_room is not None:
            self._tasks.append(asyncio.create_task(self._count_outbox()))

    async def stop(self) -> None:
        self._stopping = True
        await cancel_all(self._tasks)
        self._tasks = []
        if self._background:
            await asyncio.wait(self._background, timeout=2)
        with contextlib.suppress(Exception):
            await self._erase_now()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- taking updates and admission ---------------------------------------------------

    def _screen(self, update: Update) -> str | None:
        """The chat of an update to handle; ``None`` for one that is not for us or comes from
        a chat over the per-chat limit (which gets one notice, then is ignored a while)."""
        address = _address_of(update)
        if address is None:
            return None  # not for us (groups, other update kinds)
        verdict = self.flood.check(address)
        if verdict == "ok":
            return address
        self.ignored += 1
        if verdict == "notice":
            log.info("telegram event=flood_muted update=%s", update.update_id)
            self._spawn(self._flood_notice(address))
        if update.callback_query is not None:
            self._spawn(self._answer_callback(update.callback_query, remove=False))
        return None

    def _is_new(self, address: str, lookup: str, known: set[str] | None = None) -> bool:
        return (
            address not in self.admission.chats
            and lookup not in self._seen
            and (known is None or lookup not in known)
        )

    def submit(self, update: Update) -> asyncio.Future[None]:
        """Queue an update (the webhook's); the future completes once it is handled
        (committed) or ignored."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        address = self._screen(update)
        if address is None:
            future.set_result(None)
            return future
        lookup = self.intake.lookup(CHANNEL, address)
        item = _Item(update, self.admission.next_seq(), future=future)
        self.admission.add(address, lookup, item, self._is_new(address, lookup))
        return future

    async def take(self, updates: list[Update]) -> None:
        """Store updates in the inbox (one transaction) and queue them for admission: once
        this returns, they may be confirmed to Telegram. Raises if they could not be stored."""
        rows: list[dict[str, object]] = []
        by_key: dict[str, tuple[Update, str, str]] = {}
        now = utcnow()
        for update in updates:
            address = self._screen(update)
            if address is None:
                continue
            key = f"telegram:{self.bot_id}:{update.update_id}"
            if key in by_key:
                continue
            lookup = self.intake.lookup(CHANNEL, address)
            body = update.model_dump_json(exclude_none=True, by_alias=True).encode("utf-8")
            rows.append(
                {"channel": CHANNEL, "key": key, "chat": lookup,
                 "body": self.keys.seal_routing(body), "at": now}
            )  # fmt: skip
            by_key[key] = (update, address, lookup)
        unsure = {
            lookup for _u, address, lookup in by_key.values() if self._is_new(address, lookup)
        }
        taken, known = await inbox.take(self.store, rows, unsure)
        items = [(by_key[k][0], by_key[k][1], by_key[k][2], i) for k, i in taken.items()]
        self._queue(items, known)

    def _queue(self, items: list[tuple[Update, str, str, int]], known: set[str]) -> None:
        """Hand taken updates (update, address, lookup, inbox row) to admission, in order;
        ``known``: chats among them that have written before."""
        items.sort(key=lambda t: t[3])
        for update, address, lookup, row in items:
            item = _Item(update, self.admission.next_seq(), row=row)
            self.admission.add(address, lookup, item, self._is_new(address, lookup, known))

    async def restore(self) -> int:
        """Queue what the inbox still holds (taken before a restart); returns how many."""
        items: list[tuple[Update, str, str, int]] = []
        broken: list[int] = []
        for row in await inbox.pending(self.store, CHANNEL):
            try:
                raw = self.keys.open_routing(row.body)
                update = Update.model_validate_json(raw, context={"bot": self.bot})
            except (BadEnvelope, ValueError):
                log.error("telegram event=inbox_unreadable row=%s", row.id)
                broken.append(row.id)
                continue
            address = _address_of(update)
            if address is None:
                broken.append(row.id)
                continue
            items.append((update, address, row.chat, row.id))
        await inbox.erase(self.store, broken)
        unsure = {lookup for _u, address, lookup, _r in items if self._is_new(address, lookup)}
        self._queue(items, await inbox.known_chats(self.store, unsure))
        if items:
            log.info("telegram event=inbox_restored updates=%s", len(items))
        return len(items)

    async def _next_turn(self) -> tuple[_Chat, _Item]:
        """The next update to handle: once some wait, the outbox has room and the global
        pace allows; chosen at the last moment, so that the newest wait counts."""
        async with self._turn:
            while True:
                await self.admission.ready()
                await self._room()
                await self.flood.admit()
                turn = self.admission.take()
                if turn is not None:
                    self._in_flight += 1
                    return turn

    async def _room(self) -> None:
        """Wait while the outbox holds ``outbox_room`` automated messages: handling more now
        would only queue replies behind replies, where admission no longer chooses."""
        if self.outbox_room is None:
            return
        room = self.outbox_room
        while self._outbox_backlog + self._in_flight + self._finished >= room:  # noqa: ASYNC110 - a count another task refreshes
            await asyncio.sleep(0.01)

    async def _count_outbox(self) -> None:
        """Count the outbox's automated messages every tenth of a second, beside the turns
        (a count waits for SQLite's writer: the turns must not)."""
        while True:
            try:
                finished = self._finished
                async with self.store.transaction() as session:
                    count = await backlog(session)
                self._outbox_backlog, self._finished = count, self._finished - finished
            except Exception:
                log.exception("telegram event=outbox_count_failed")
            await asyncio.sleep(0.1)

    async def _consume(self) -> None:
        while True:
            chat, item = await self._next_turn()
            again = False
            try:
                erase = await self.process(item.update)
            except asyncio.CancelledError:
                if item.future is not None and not item.future.done():
                    item.future.cancel()
                raise
            except Exception as exc:
                log.exception("telegram event=update_failed update=%s", item.update.update_id)
                item.failures += 1
                if item.future is not None:
                    if not item.future.done():
                        item.future.set_exception(exc)  # the webhook answers 500: redelivered
                elif item.failures < MAX_FAILURES:
                    again = True
                else:
                    log.error("telegram event=update_given_up update=%s", item.update.update_id)
                    await self._handled(chat, item, erase=False)
            else:
                if item.future is not None and not item.future.done():
                    item.future.set_result(None)
                await self._handled(chat, item, erase)
            finally:
                self._in_flight -= 1
                self._finished += 1
                self._seen[chat.lookup] = None
                if len(self._seen) > 100_000:
                    for old in list(self._seen)[:50_000]:
                        del self._seen[old]
                if again:
                    self._spawn(self._retry(chat, item))
                else:
                    self.admission.done(chat)

    async def _handled(self, chat: _Chat, item: _Item, erase: bool) -> None:
        """Erase a handled update from the inbox: within a tenth of a second, or at once with
        every earlier update of the chat when it erased the chat (``/forget``)."""
        if item.row is None:
            return
        if erase:
            try:
                await inbox.erase_chat(self.store, chat.lookup, item.row)
                return
            except Exception:
                log.exception("telegram event=inbox_erase_failed")
        self._erasable.append(item.row)
        self._erased.set()

    async def _retry(self, chat: _Chat, item: _Item) -> None:
        """An update that failed is tried again after a while, before the chat's next."""
        await asyncio.sleep(min(2.0, 0.2 * item.failures))
        self.admission.done(chat, item)

    async def _erase_handled(self) -> None:
        """Erase handled updates from the inbox, a few at a time, within a tenth of a second."""
        while True:
            await self._erased.wait()
            await asyncio.sleep(0.05)
            self._erased.clear()
            try:
                await self._erase_now()
            except Exception:
                log.exception("telegram event=inbox_erase_failed")
                await asyncio.sleep(1.0)
                self._erased.set()

    async def _erase_now(self) -> None:
        ids, self._erasable = self._erasable, []
        try:
            await inbox.erase(self.store, ids)
        except BaseException:
            self._erasable = ids + self._erasable
            raise

    @property
    def backlog(self) -> int:
        return self.admission.backlog

    # -- one update -----------------------------------------------------------------------

    async def process(self, update: Update) -> bool:
        """Handle one update: translate it and run it through the intake (one transaction).
        Returns whether it erased the chat (``/forget``)."""
        item = await self.translate(update)
        if item is None:
            return False
        message = update.message
        # Noted in the transaction that handles it: once the update is confirmed (or
        # answered), its id is known.
        message_id = None
        if self.chat_log is not None and message is not None:
            message_id = message.message_id
        if self.chat_log is not None and item.inp == Command("help"):
            await self._advise(item.address, (M_WIPE_RULE, PHONE_ADVICE))
        try:
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
                message_id=message_id,
            )
        except Exception:
            if self.chat_log is not None and message_id is not None:
                await self._note_unhandled(item.address, message_id)
            raise
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
        return result.effect is Effect.erase

    async def _note_unhandled(self, address: str, message_id: int) -> None:
        """A message the intake failed on is noted all the same (in a transaction of its
        own): should it be given up, the chat is still emptied of it."""
        assert self.chat_log is not None
        lookup = self.intake.lookup(CHANNEL, address)
        try:
            await self.chat_log.note([self.chat_log.written(CHANNEL, lookup, address, message_id)])
        except Exception as exc:
            log.error("telegram event=chat_log_failed type=%s", type(exc).__name__)

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
        return await self.campaigns.link_code(payload)

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

        Each batch of updates is stored in the inbox (one transaction) and only then
        confirmed to Telegram (by the next call's ``offset``): taking updates costs one
        round trip and one write a hundred, whatever the backlog, and a process killed
        mid-burst loses nothing (what it took is in the inbox, what it did not is still at
        Telegram's). What the inbox held at a restart is queued again first.
        """
        with contextlib.suppress(TelegramAPIError, OSError, TimeoutError):
            await self.bot.delete_webhook(drop_pending_updates=False, request_timeout=15)
        while not self._stopping:
            try:
                await self.restore()
                break
            except Exception:
                log.exception("telegram event=inbox_restore_failed")
                await asyncio.sleep(1.0)
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
            try:
                await self.take(updates)
            except Exception:
                # Not stored: not confirmed either, Telegram hands them over again.
                log.exception("telegram event=inbox_take_failed")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            offset = max(u.update_id for u in updates) + 1

    async def feed_webhook(self, update: Update) -> None:
        """One webhook request: handled and committed before Telegram gets its 200."""
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
    return in_every_language(message)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:g}"
