"""The Telegram bot in ``haven serve``: the adapter with the outbox worker and the wiper that
empties private chats, and either long polling or the webhook route."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from haven.crypto import IntakeKeys, random_token
from haven.outbox import ChatLog, Outbox, Wiper, Worker
from haven.services.intake import Intake
from haven.services.verify import bot_username, deployment_check
from haven.settings import BotSpec, Settings
from haven.store import shared
from haven.store.db import Store, unavailable

from .adapter import TelegramChannel, cancel_all
from .fairness import FloodGuard
from .translate import ALLOWED_UPDATES

log = logging.getLogger("haven.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
#: Seconds the process that calls ``setWebhook`` holds the lease on it; how long a webhook
#: set by one process counts as set for all (then one of them sets it again).
WEBHOOK_LEASE = 60.0
WEBHOOK_FRESH = 3600.0
#: Seconds Telegram is given at start before the process goes on without it.
START_TIMEOUT = 10
#: The longest pause between two tries to reach Telegram.
MAX_BACKOFF = 60.0


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
    """One Telegram bot of the intake process (the primary, or a mirror: ``spec``): its
    adapter, and the outbox worker and the wiper that send and delete the messages of every
    bot. Built by :mod:`haven.bootstrap`, which gives each bot the process's one intake (its
    replies go to ``outbox``) and the one worker and wiper, run by the first bot only."""

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
        spec: BotSpec | None = None,
        concurrency: int = 64,
        run_worker: bool = True,
        flood: FloodGuard,
        siblings: Sequence[str] = (),
    ) -> None:
        if spec is None:
            if not settings.telegram_bots:
                raise ValueError(
                    "HAVEN_TELEGRAM_TOKEN does not look like a bot token (123456:ABC…)"
                )
            spec = settings.telegram_bots[0]
        bot_id = spec.bot_id
        self.spec = spec
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
            channel=spec.channel,
            check=deployment_check(settings, keys),
            photo_max_bytes=settings.telegram_photo_max_bytes,
            voice_max_bytes=settings.telegram_voice_max_bytes,
            flood=flood,
            siblings=siblings,
            concurrency=concurrency,
            wake=self.worker.wake,
            chat_log=ChatLog(store, keys, settings.telegram_wipe_after * 60),
            wipe_after_minutes=settings.telegram_wipe_after,
            on_forget=self.wiper.wake,
            outbox_room=max(1, round(settings.outbox_rate * settings.intake_outbox_room_seconds)),
            new_chat_share=settings.intake_new_chat_share,
        )
        self.run_worker = run_worker
        self.store = store
        self.keys = keys
        #: A mirror's webhook is the primary's URL with its bot id appended.
        self.webhook_url = settings.telegram_webhook_url
        if self.webhook_url and not spec.is_primary:
            self.webhook_url = f"{self.webhook_url.rstrip('/')}/{bot_id}"
        #: What the shared state of this bot's webhook is kept under (one per bot).
        self._suffix = "" if spec.is_primary else f":{bot_id}"
        #: The webhook's secret, the same in every process (the setting, or one made once and
        #: kept in the database); ``None`` until it is known.
        self.secret: str | None = settings.telegram_webhook_secret or None
        #: ``ok``, ``degraded`` (Telegram or the database not reached: retrying), ``starting``,
        #: or ``refused`` (the token is another bot's).
        self.status = "starting"
        self._holder = random_token(12)
        self._checked = False
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
        if self.secret is None:
            return Response(status_code=503)  # not known yet: Telegram delivers it again
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
            # Telegram will deliver it again; 503 when the database is away (a restart).
            return Response(status_code=503 if unavailable(exc) else 500)
        return Response(status_code=200)

    async def start(self) -> None:
        """Start the bot. Telegram (or the database) out of reach does not stop the process:
        the web intake serves on, and the bot retries with backoff, ``degraded`` meanwhile.
        A token of another bot than the configured one is refused at once: the primary's
        stops the start, a mirror's leaves that mirror ``refused`` and the rest running."""
        connected = False
        try:
            connected = await asyncio.wait_for(self._connect(), START_TIMEOUT)
        except (TelegramAPIError, OSError, TimeoutError, SQLAlchemyError) as exc:
            log.warning("telegram event=unreachable_at_start error=%s", type(exc).__name__)
        except ValueError as exc:
            if self.spec.is_primary:
                raise
            log.error("telegram event=refused bot=%s reason=%s", self.spec.bot_id, exc)
            self.status = "refused"
            return
        await self.channel.start()
        if self.run_worker:
            await self.worker.prepare()
            self._tasks.append(asyncio.create_task(self.worker.run()))
            self._tasks.append(asyncio.create_task(self.wiper.run()))
        if not connected:
            self.status = "degraded"
            self._tasks.append(asyncio.create_task(self._connect_forever()))
        elif not self.webhook_url:
            self._tasks.append(asyncio.create_task(self._poll()))

    async def _connect(self) -> bool:
        """Check the token, and in webhook mode learn the shared secret and see that the
        webhook is set: whether all is done (raises if Telegram or the database fails)."""
        if not self._checked:
            await self.check_username()
            self._checked = True
        if self.webhook_url:
            if self.secret is None:
                self.secret = await self.shared_secret()
            await self.set_webhook()
        self.status = "ok"
        return True

    async def _connect_forever(self) -> None:
        backoff = 1.0
        while True:
            await asyncio.sleep(backoff)
            try:
                await self._connect()
            except ValueError as exc:
                log.error("telegram event=refused reason=%s", exc)
                self.status = "refused"
                return
            except (TelegramAPIError, OSError, TimeoutError, SQLAlchemyError) as exc:
                log.warning("telegram event=unreachable error=%s", type(exc).__name__)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            log.info("telegram event=reached")
            if not self.webhook_url:
                await self._poll()
            return

    async def _poll(self) -> None:
        def noted(ok: bool) -> None:
            self.status = "ok" if ok else "degraded"

        await self.channel.poll(on_status=noted)

    async def shared_secret(self) -> str:
        """The webhook secret all processes share: made once, kept in the database sealed
        under the routing key."""
        sealed = await shared.value(
            self.store, "webhook-secret", lambda: self.keys.seal_routing(random_token(32).encode())
        )
        return self.keys.open_routing(sealed).decode()

    async def set_webhook(self) -> None:
        """Call ``setWebhook`` unless another process has set this webhook lately; one
        process at a time (a lease in the database), the others wait for it."""
        assert self.secret is not None
        wanted = self.keys.lookup("telegram-webhook", f"{self.webhook_url}\x00{self.secret}")
        while True:
            if await shared.marked(self.store, self._set_key) == wanted.encode():
                return
            if await shared.lease(self.store, self._lease_key, self._holder, WEBHOOK_LEASE):
                break
            await asyncio.sleep(0.5)  # another process is setting it
        try:
            await self.bot.set_webhook(
                self.webhook_url,
                secret_token=self.secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
                request_timeout=START_TIMEOUT,
            )
            await shared.mark(self.store, self._set_key, wanted.encode(), WEBHOOK_FRESH)
            log.info("telegram event=webhook_set bot=%s", self.spec.bot_id)
        finally:
            await shared.release(self.store, self._lease_key, self._holder)

    @property
    def _set_key(self) -> str:
        return f"webhook-set{self._suffix}"

    @property
    def _lease_key(self) -> str:
        return f"webhook-lease{self._suffix}"

    async def check_username(self) -> None:
        """Refuse a token of another bot than the configured name: every page, leaflet and
        ``/verify`` tells applicants that name is the only real bot."""
        configured = bot_username(self.spec.username)
        if not configured:
            return
        me = await self.bot.get_me(request_timeout=START_TIMEOUT)
        actual = bot_username(me.username or "")
        if actual.lower() != configured.lower():
            setting = (
                "HAVEN_TELEGRAM_BOT_USERNAME"
                if self.spec.is_primary
                else "HAVEN_TELEGRAM_MIRROR_USERNAMES"
            )
            raise ValueError(f"{setting} is {configured}, but the token is the bot's {actual}")

    async def stop(self) -> None:
        if self.run_worker:
            self.worker.stop()
            self.wiper.stop()
        await cancel_all(self._tasks)
        self._tasks = []
        await self.channel.stop()
        await self.bot.session.close()
