"""Long polling: updates taken from Telegram, stored, and only then confirmed.

Each batch of updates is stored in the inbox (one transaction, by ``take``) and only then
confirmed to Telegram (by the next call's ``offset``): taking updates costs one round trip
and one write a hundred, whatever the backlog, and a process killed mid-burst loses nothing
(what it took is in the inbox, what it did not is still at Telegram's). What the inbox held
at a restart is queued again first (``restore``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramConflictError
from aiogram.types import Update

from .translate import ALLOWED_UPDATES

log = logging.getLogger("haven.telegram")


async def poll(
    bot: Bot,
    *,
    bot_id: int,
    take: Callable[[list[Update]], Awaitable[None]],
    restore: Callable[[], Awaitable[int]],
    stopping: Callable[[], bool],
    wait: int = 25,
    on_status: Callable[[bool], None] | None = None,
) -> None:
    """Long polling until cancelled (or ``stopping()``); ``on_status`` hears after each
    call whether Telegram answered."""
    noted = on_status or (lambda _ok: None)
    with contextlib.suppress(TelegramAPIError, OSError, TimeoutError):
        await bot.delete_webhook(drop_pending_updates=False, request_timeout=15)
    while not stopping():
        try:
            await restore()
            break
        except Exception:
            log.exception("telegram event=inbox_restore_failed")
            await asyncio.sleep(1.0)
    offset: int | None = None
    backoff = 0.5
    # Whether the last call was answered: until then a call does not wait for updates, so
    # that Telegram back after an outage is known at once, not a long poll later.
    answered = False
    log.info("telegram event=polling_started bot=%s", bot_id)
    while not stopping():
        try:
            updates = await bot.get_updates(
                offset=offset,
                limit=100,
                timeout=wait if answered else 0,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=wait + 10,
            )
            backoff = 0.5
            answered = True
            noted(True)
        except TelegramConflictError:
            log.error("telegram event=polling_conflict (another instance or a webhook)")
            await asyncio.sleep(5)
            continue
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            log.warning("telegram event=polling_error error=%s", type(exc).__name__)
            answered = False
            noted(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30)
            continue
        if not updates:
            continue
        try:
            await take(updates)
        except Exception:
            # Not stored: not confirmed either, Telegram hands them over again.
            log.exception("telegram event=inbox_take_failed")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30)
            continue
        offset = max(u.update_id for u in updates) + 1
