"""The Telegram adapter: Telegram updates in, intake calls out. Nothing else.

An update is translated (:mod:`.translate`, pure; its photo downloaded by :mod:`.photos`),
waits for its turn (:mod:`.fairness`) and is run through the intake; long polling
(:mod:`.polling`) or the webhook (:mod:`.runtime`) brings the updates.

* Every update is handled once: its ``update_id`` is recorded in the intake's transaction
  (``processed_updates``), so a redelivered update changes nothing and queues nothing.
* Replies are never sent from here: the intake writes them to the outbox in the same
  transaction (notices too, :meth:`Intake.notify`), and the outbox worker sends them. (Only
  ``answerCallbackQuery`` and removing a pressed keyboard are called directly: they are
  acknowledgements, not messages.)
* Long polling stores each batch of updates in the inbox (:mod:`haven.store.inbox`, sealed
  under the routing key) before it confirms it to Telegram; an update is erased from the
  inbox once handled, and what the inbox holds at a restart is queued again.
* The chat itself is kept small: the applicant's message ids are noted in the chat log
  (:mod:`haven.outbox.chatlog`) in the intake's transaction that handles the update (before
  anything is answered to it), the bot's own as the outbox sends them, and the wiper deletes
  them all after a while of silence or after ``/forget``. ``/help`` and the end of the
  questionnaire say so, and how to keep the phone clean.
* Floods: a chat over the per-chat limit gets one notice and is then ignored for a while;
  what is handled next is decided by admission (:mod:`.fairness`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Update

from haven.content.texts import PHONE_ADVICE
from haven.crypto import BadEnvelope, IntakeKeys
from haven.flows import Effect
from haven.flows.inputs import Command
from haven.outbox import ChatLog
from haven.services import metrics
from haven.services.campaigns import Campaigns
from haven.services.intake import Intake
from haven.services.verify import Check, check_text
from haven.store import inbox
from haven.store.batch import Coalesce
from haven.store.db import Store
from haven.store.models import utcnow

from . import polling
from .fairness import Admission, Chat, FloodGuard, Item, OutboxRoom
from .photos import PhotoDownload
from .texts import M_FLOOD, M_VANISH, M_WIPE_RULE
from .translate import CHANNEL, Translated, address_of, lang_of, translate

log = logging.getLogger("haven.telegram")

#: An update that fails this many times is given up (logged) instead of blocking polling.
MAX_FAILURES = 5


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait until each has finished."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
        channel: str = CHANNEL,
        photo_max_bytes: int = 5_000_000,
        voice_max_bytes: int = 2_000_000,
        concurrency: int = 64,
        wake: Callable[[], None] | None = None,
        chat_log: ChatLog | None = None,
        wipe_after_minutes: float = 60.0,
        on_forget: Callable[[], None] | None = None,
        outbox_room: int | None = None,
        new_chat_share: float = 0.5,
        flood: FloodGuard,
        siblings: Sequence[str] = (),
    ) -> None:
        self.bot = bot
        self.intake = intake
        self.store = store
        self.keys = keys
        self.bot_id = bot_id
        #: The channel this bot's conversations, inbox rows and replies carry: ``telegram``
        #: for the primary, ``tg:<bot id>`` for a mirror (whose sender sends them).
        self.channel = channel
        #: The channels of our other bots: ``/forget`` erases the person's chats there too.
        self.siblings = tuple(siblings)
        self.check = check
        self.photos = PhotoDownload(bot, photo_max_bytes, voice_max_bytes)
        #: The limits: one guard for every bot of the process, so that a chat writing to
        #: several bots counts as one sender (in memory on SQLite too).
        self.flood = flood
        self.concurrency = concurrency
        self.wake = wake or (lambda: None)
        self.chat_log = chat_log
        self.wipe_minutes = max(1, math.ceil(wipe_after_minutes))
        self.on_forget = on_forget or (lambda: None)
        self.campaigns = Campaigns(store)
        #: Automated messages the outbox may hold before no more updates are handled.
        self.room = OutboxRoom(store, outbox_room, channel)
        self.admission = Admission(new_chat_share)
        #: Whether a chat has written before, asked of the database (PostgreSQL: several
        #: processes may share the webhook), the chats of a moment in one statement.
        self._known: Coalesce[str, bool] | None = None
        if store.dialect == "postgresql":
            self._known = Coalesce(lambda chats: inbox.known_each(store, chats))
        self._turn = asyncio.Lock()
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
        if self.room.room is not None:
            self._tasks.append(asyncio.create_task(self.room.count_forever()))

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

    async def _screen(self, updates: list[Update]) -> list[str | None]:
        """The chat of each update to handle; ``None`` for one that is not for us or comes
        from a chat over the per-chat limit (which gets one notice, then is ignored a while).
        A chat's updates are counted at once (one round trip to shared counters), the chats
        side by side."""
        addresses = [address_of(update) for update in updates]
        by_chat: dict[str, int] = {}
        for address in addresses:
            if address is not None:  # None: not for us (groups, other update kinds)
                by_chat[address] = by_chat.get(address, 0) + 1
        chats = list(by_chat)
        counted = await asyncio.gather(*(self.flood.check(c, by_chat[c]) for c in chats))
        verdicts = {chat: iter(v) for chat, v in zip(chats, counted, strict=True)}
        screened: list[str | None] = []
        for update, address in zip(updates, addresses, strict=True):
            verdict = next(verdicts[address]) if address is not None else "skip"
            if verdict == "ok":
                screened.append(address)
                continue
            screened.append(None)
            if address is None:
                continue
            self.ignored += 1
            if verdict == "notice":
                log.info("telegram event=flood_muted update=%s", update.update_id)
                metrics.count("flood_mutes")
                self._spawn(self._flood_notice(address))
            if update.callback_query is not None:
                self._spawn(self._answer_callback(update.callback_query, remove=False))
        return screened

    def _is_new(self, address: str, lookup: str, known: set[str] | None = None) -> bool:
        return (
            address not in self.admission.chats
            and lookup not in self._seen
            and (known is None or lookup not in known)
        )

    async def submit(self, update: Update) -> asyncio.Future[None]:
        """Queue an update (the webhook's); the future completes once it is handled
        (committed) or ignored."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (address,) = await self._screen([update])
        if address is None:
            future.set_result(None)
            return future
        lookup = self.intake.lookup(self.channel, address)
        fresh = self._is_new(address, lookup)
        if fresh and self._known is not None:
            # Several processes behind one webhook: another may have seen the chat before.
            fresh = not await self._known(lookup)
        item = Item(update, self.admission.next_seq(), future=future)
        self.admission.add(address, lookup, item, fresh)
        return future

    async def take(self, updates: list[Update]) -> None:
        """Store updates in the inbox (one transaction) and queue them for admission: once
        this returns, they may be confirmed to Telegram. Raises if they could not be stored."""
        rows: list[dict[str, object]] = []
        by_key: dict[str, tuple[Update, str, str]] = {}
        now = utcnow()
        for update, address in zip(updates, await self._screen(updates), strict=True):
            if address is None:
                continue
            key = f"telegram:{self.bot_id}:{update.update_id}"
            if key in by_key:
                continue
            lookup = self.intake.lookup(self.channel, address)
            body = update.model_dump_json(exclude_none=True, by_alias=True).encode("utf-8")
            rows.append(
                {"channel": self.channel, "key": key, "chat": lookup,
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
            item = Item(update, self.admission.next_seq(), row=row)
            self.admission.add(address, lookup, item, self._is_new(address, lookup, known))

    async def restore(self) -> int:
        """Queue what the inbox still holds (taken before a restart); returns how many."""
        items: list[tuple[Update, str, str, int]] = []
        broken: list[int] = []
        for row in await inbox.pending(self.store, self.channel):
            try:
                raw = self.keys.open_routing(row.body)
                update = Update.model_validate_json(raw, context={"bot": self.bot})
            except (BadEnvelope, ValueError):
                log.error("telegram event=inbox_unreadable row=%s", row.id)
                broken.append(row.id)
                continue
            address = address_of(update)
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

    async def _next_turn(self) -> tuple[Chat, Item]:
        """The next update to handle: once some wait, the outbox has room and the global
        pace allows; chosen at the last moment, so that the newest wait counts."""
        async with self._turn:
            while True:
                await self.admission.ready()
                await self.room.wait()
                await self.flood.admit()
                turn = self.admission.take()
                if turn is not None:
                    self.room.started()
                    return turn

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
                self.room.finished()
                self._seen[chat.lookup] = None
                if len(self._seen) > 100_000:
                    for old in list(self._seen)[:50_000]:
                        del self._seen[old]
                if again:
                    self._spawn(self._retry(chat, item))
                else:
                    self.admission.done(chat)

    async def _handled(self, chat: Chat, item: Item, erase: bool) -> None:
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

    async def _retry(self, chat: Chat, item: Item) -> None:
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
                self.channel,
                item.address,
                item.inp,
                campaign=item.campaign,
                lang=lang_of(update),
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
            for sibling in self.siblings:  # "erase everything": on every bot of ours
                await self.intake.erase(sibling, item.address)
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
        lookup = self.intake.lookup(self.channel, address)
        try:
            await self.chat_log.note(
                [self.chat_log.written(self.channel, lookup, address, message_id)]
            )
        except Exception as exc:
            log.error("telegram event=chat_log_failed type=%s", type(exc).__name__)

    async def translate(self, update: Update) -> Translated | None:
        """The update as an input (:mod:`.translate`), its campaign looked up and its photo
        downloaded."""
        item = translate(update, self.verify_text)
        if item is None:
            return None
        if item.start is not None:
            item = dataclasses.replace(item, campaign=await self._campaign(item.start))
        if item.photo:
            item = await self.photos.fetch(item.address, item.photo)
        elif item.voice is not None:
            item = await self.photos.fetch_voice(item.address, item.voice)
        return item

    def verify_text(self, lang: str) -> str:
        """What ``/verify`` answers: the same check as the web page and the leaflets."""
        return check_text(lang, self.check).message

    async def _campaign(self, payload: str) -> str | None:
        """The deep-link payload's campaign; an unknown one is kept as ``unknown``."""
        return await self.campaigns.link_code(payload)

    async def _flood_notice(self, address: str) -> None:
        """The one notice a flooding chat gets, through the outbox like every message."""
        try:
            await self.intake.notify(self.channel, address, (M_FLOOD,))
            self.wake()
        except Exception:
            log.exception("telegram event=flood_notice_failed")

    async def _advise(self, address: str, messages: tuple[str, ...]) -> None:
        """One notice of several texts in the chat's language, through the outbox."""
        await self.intake.notify(self.channel, address, messages, minutes=self.wipe_minutes)

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

    async def poll(self, wait: int = 25, on_status: Callable[[bool], None] | None = None) -> None:
        """Long polling until cancelled (:mod:`.polling`); ``on_status`` hears whether
        Telegram answers."""
        await polling.poll(
            self.bot,
            bot_id=self.bot_id,
            take=self.take,
            restore=self.restore,
            stopping=lambda: self._stopping,
            wait=wait,
            on_status=on_status,
        )

    async def feed_webhook(self, update: Update) -> None:
        """One webhook request: handled and committed before Telegram gets its 200."""
        await (await self.submit(update))
