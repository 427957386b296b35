"""The Telegram bot in ``haven serve``: the adapter with the outbox worker and the wiper that
empties private chats, and either long polling or the webhook route."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlparse

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from haven.crypto import IntakeKeys, random_token
from haven.outbox import ChatLog, Outbox, Wiper, Worker
from haven.services.intake import Intake
from haven.services.verify import bot_username, verify_for
from haven.settings import Settings
from haven.store.db import Store

from .adapter import TelegramChannel, cancel_all
from .translate import ALLOWED_UPDATES

log = logging.getLogger("haven.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"


def make_bot(token: str, api: str = "https://api.telegram.org", timeout: float = 30) -> Bot:
    """A Bot on the configured Bot API server (Telegram's, a self-hosted one, a test fake)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api), timeout=timeout)
    return Bot(token=token, session=session)


@dataclass(frozen=True, slots=True)
class Unparsed:
    """A webhook body that is not an update: its ``update_id`` if it had a plain one."""

    update_id: int | None


def parse_update(body: bytes, bot: Bot | None = None) -> Update | Unparsed:
    """The webhook body as an aiogram ``Update`` (bound to ``bot``), validated once, or
    :class:`Unparsed`. Nothing of the body is kept in what this raises or returns."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return Unparsed(None)
    if not isinstance(data, dict):
        return Unparsed(None)
    uid = data.get("update_id")
    plain_id = uid if type(uid) is int and 0 <= uid < 2**63 else None
    try:
        return Update.model_validate(data, context={"bot": bot} if bot is not None else None)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return Unparsed(plain_id)


class TelegramRuntime:
    """The Telegram bot of the intake process: its adapter, and the outbox worker and the
    wiper that send and delete its messages. Built by :mod:`haven.bootstrap`, which gives it
    the process's one intake (its replies go to ``outbox``)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        keys: IntakeKeys,
        *,
        bot: Bot,
        intake: Intake,
        outbox: Outbox,
        worker: Worker,
        wiper: Wiper,
        concurrency: int = 64,
        run_worker: bool = True,
    ) -> None:
        bot_id = settings.telegram_bot_id
        if bot_id is None:
            raise ValueError("HAVEN_TELEGRAM_TOKEN does not look like a bot token (123456:ABC…)")
        self.settings = settings
        self.bot = bot
        self.outbox = outbox
        self.intake = intake
        self.worker = worker
        self.wiper = wiper
        self.channel = TelegramChannel(
            self.bot,
            self.intake,
            store,
            keys,
            bot_id=bot_id,
            check=verify_for(settings.telegram_bot_username, keys),
            photo_max_bytes=settings.telegram_photo_max_bytes,
            voice_max_bytes=settings.telegram_voice_max_bytes,
            per_chat_limit=settings.intake_per_chat_limit,
            global_limit=settings.intake_global_limit,
            flood_pause=settings.telegram_flood_pause_seconds,
            concurrency=concurrency,
            wake=self.worker.wake,
            chat_log=ChatLog(store, keys, settings.telegram_wipe_after * 60),
            wipe_after_minutes=settings.telegram_wipe_after,
            on_forget=self.wiper.wake,
            outbox_room=max(1, round(settings.outbox_rate * settings.intake_outbox_room_seconds)),
            new_chat_share=settings.intake_new_chat_share,
        )
        self.run_worker = run_worker
        self.webhook_url = settings.telegram_webhook_url
        self.secret = settings.telegram_webhook_secret or random_token(32)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def webhook_path(self) -> str:
        return urlparse(self.webhook_url).path or DEFAULT_WEBHOOK_PATH

    def routes(self) -> list[Route]:
        """The webhook route (only in webhook mode)."""
        if not self.webhook_url:
            return []
        return [Route(self.webhook_path, self.webhook, methods=["POST"])]

    async def webhook(self, request: Request) -> Response:
        """One update from Telegram. What cannot be read as an update is answered 200 all the
        same (Telegram would deliver it again and again) and noted by its id alone: a
        validation error quotes the values it refused, which could be an applicant's text."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return Response(status_code=403)
        update = parse_update(await request.body(), self.bot)
        if isinstance(update, Unparsed):
            log.info("telegram event=update_unparsed update=%s", update.update_id)
            return Response(status_code=200)
        try:
            await self.channel.feed_webhook(update)
        except Exception as exc:
            log.error("telegram event=webhook_failed error=%s", type(exc).__name__)
            return Response(status_code=500)  # Telegram will deliver it again
        return Response(status_code=200)

    async def start(self) -> None:
        await self.check_username()
        await self.channel.start()
        if self.run_worker:
            await self.worker.prepare()
            self._tasks.append(asyncio.create_task(self.worker.run()))
            self._tasks.append(asyncio.create_task(self.wiper.run()))
        if self.webhook_url:
            await self.bot.set_webhook(
                self.webhook_url,
                secret_token=self.secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
            log.info("telegram event=webhook_set")
        else:
            self._tasks.append(asyncio.create_task(self.channel.poll()))

    async def check_username(self) -> None:
        """Refuse a token of another bot than the configured name: every page, leaflet and
        ``/verify`` tells applicants that name is the only real bot."""
        configured = bot_username(self.settings.telegram_bot_username)
        if not configured:
            return
        me = await self.bot.get_me()
        actual = bot_username(me.username or "")
        if actual.lower() != configured.lower():
            raise ValueError(
                f"HAVEN_TELEGRAM_BOT_USERNAME is {configured}, but the token is the bot's {actual}"
            )

    async def stop(self) -> None:
        self.worker.stop()
        self.wiper.stop()
        await cancel_all(self._tasks)
        self._tasks = []
        await self.channel.stop()
        await self.bot.session.close()
