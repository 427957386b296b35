"""The composition root: what each kind of process is made of, built in one place.

* The **intake process** (``haven serve``): the store, the intake keys, ONE :class:`Intake`
  shared by Telegram and the web intake, its outbox, and (with a bot token) a Telegram
  runtime per bot (the primary and its mirrors) with ONE outbox worker and ONE wiper over
  every bot's sender.
* The **console process** (``haven console``): the store, the keys, the console app.
* The **outbox worker** alone (``haven outbox work``): a worker built as ``haven serve``'s.
* A **CLI command** that runs the questionnaire (``haven chat``): an intake without outbox.

Nothing else constructs these; :mod:`haven.server` serves what is built here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from haven import crypto
from haven.channels.web import create_web_app
from haven.crypto import IntakeKeys
from haven.outbox import Outbox, Sender, Wiper, Worker
from haven.services.intake import Intake
from haven.settings import Settings
from haven.store.db import Store

if TYPE_CHECKING:  # aiogram is imported only where a bot is configured
    from haven.channels.telegram import TelegramRuntime, TelegramSender

log = logging.getLogger("haven.bootstrap")


@dataclass
class IntakeProcess:
    """What ``haven serve`` runs."""

    settings: Settings
    store: Store
    keys: IntakeKeys
    intake: Intake
    #: The primary bot (``None`` without a token); its mirrors beside it.
    telegram: TelegramRuntime | None
    web: ASGIApp
    mirrors: list[TelegramRuntime] = field(default_factory=list)

    @property
    def bots(self) -> list[TelegramRuntime]:
        """Every bot, the primary first (the one that runs the worker and the wiper)."""
        return ([self.telegram] if self.telegram is not None else []) + self.mirrors


def intake_process(settings: Settings) -> IntakeProcess:
    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)
    outbox = Outbox(keys, wipe_after=settings.telegram_wipe_after * 60)
    intake = Intake(store, keys, outbox=outbox)
    bots = telegram_runtimes(settings, store, keys, intake) if settings.telegram_token else []
    web = create_web_app(settings, store, keys, intake)
    telegram = bots[0] if bots else None
    return IntakeProcess(settings, store, keys, intake, telegram, web, mirrors=bots[1:])


def telegram_runtime(
    settings: Settings,
    store: Store,
    keys: IntakeKeys,
    intake: Intake | None = None,
    *,
    concurrency: int = 64,
    run_worker: bool = True,
) -> TelegramRuntime:
    """The primary bot of :func:`telegram_runtimes` (as the tests and benchmarks run one)."""
    return telegram_runtimes(
        settings, store, keys, intake, concurrency=concurrency, run_worker=run_worker
    )[0]


def telegram_runtimes(
    settings: Settings,
    store: Store,
    keys: IntakeKeys,
    intake: Intake | None = None,
    *,
    concurrency: int = 64,
    run_worker: bool = True,
) -> list[TelegramRuntime]:
    """A runtime per bot (the primary first), on the process's ``intake`` (an intake of its
    own, with an outbox, when none is given: a bot alone, as the benchmarks run it). All
    share one worker and one wiper, which keep a pace and a rate per bot (its channel); only
    the primary's runtime runs them (when ``run_worker``)."""
    from haven.channels.telegram import FloodGuard, TelegramRuntime

    if intake is None:
        outbox = Outbox(keys, wipe_after=settings.telegram_wipe_after * 60)
        intake = Intake(store, keys, outbox=outbox)
    if not isinstance(intake.outbox, Outbox):
        raise ValueError("the Telegram bot needs an intake whose replies go to the outbox")
    if not settings.telegram_bots:
        raise ValueError("HAVEN_TELEGRAM_TOKEN does not look like a bot token (123456:ABC…)")
    senders = telegram_senders(settings)
    worker = outbox_worker(settings, store, keys, senders)
    flood = FloodGuard.of(settings, store, keys)  # one for every bot: a chat is one sender
    wiper = Wiper(
        store,
        keys,
        senders,
        wipe_after=settings.telegram_wipe_after * 60,
        rate=settings.outbox_rate,
        lease=max(60.0, settings.outbox_lease_seconds),
    )
    return [
        TelegramRuntime(
            settings,
            store,
            keys,
            bot=senders[spec.channel].bot,
            intake=intake,
            outbox=intake.outbox,
            worker=worker,
            wiper=wiper,
            spec=spec,
            concurrency=concurrency,
            run_worker=run_worker and n == 0,
            flood=flood,
            siblings=[other.channel for other in settings.telegram_bots if other is not spec],
        )
        for n, spec in enumerate(settings.telegram_bots)
    ]


def telegram_senders(settings: Settings) -> dict[str, TelegramSender]:
    """A sender per bot, by its channel (``telegram``, ``tg:<bot id>``), each its own Bot."""
    from haven.channels.telegram import TelegramSender, make_bot

    return {
        spec.channel: TelegramSender(
            make_bot(spec.token, settings.telegram_api), channel=spec.channel
        )
        for spec in settings.telegram_bots
    }


def outbox_worker(
    settings: Settings, store: Store, keys: IntakeKeys, senders: Mapping[str, Sender] | Sender
) -> Worker:
    """The outbox worker that sends every bot's messages, each through its sender (by
    channel; one sender alone is the primary's), noting what it sends in the chat log for
    the wiper, with the housekeeping beside it. It keeps a pacer and the rate per channel."""
    worker = Worker(
        store,
        keys,
        senders if isinstance(senders, Mapping) else {"telegram": senders},
        rate=settings.outbox_rate,
        per_chat_rate=settings.outbox_per_chat_rate,
        lease=settings.outbox_lease_seconds,
        wipe_after=settings.telegram_wipe_after * 60,
        newest_first_after=settings.outbox_newest_first_after,
    )
    worker.chores = housekeeping(settings, store, keys)
    return worker


#: Seconds between two looks for channel posts that are due, and between two purges.
POSTS_EVERY = 15.0
PURGE_EVERY = 600.0


def housekeeping(
    settings: Settings, store: Store, keys: IntakeKeys
) -> list[tuple[float, Callable[[], Awaitable[object]]]]:
    """What the outbox worker does beside sending, without cron (each worker may: every one
    of these is safe to run twice): scheduled channel posts queued when due; handled updates
    forgotten past Telegram's redelivery horizon; rate counters whose window has ended."""
    from haven.campaigns.posts import publish
    from haven.store import counters, updates

    async def posts() -> None:
        queued = await publish(settings, store, keys)
        if queued:
            log.info("housekeeping event=posts_queued count=%d", len(queued))

    async def processed() -> None:
        hours = timedelta(hours=settings.processed_updates_hours)
        purged = await updates.purge(store, hours)
        if purged:
            log.info("housekeeping event=updates_purged count=%d", purged)

    chores: list[tuple[float, Callable[[], Awaitable[object]]]] = [
        (POSTS_EVERY, posts),
        (PURGE_EVERY, processed),
    ]
    if store.dialect == "postgresql":
        chores.append((PURGE_EVERY, lambda: counters.purge(store)))
    return chores


@dataclass
class ConsoleProcess:
    """What ``haven console`` runs."""

    settings: Settings
    store: Store
    keys: IntakeKeys
    console: ASGIApp


def console_process(settings: Settings) -> ConsoleProcess:
    from haven.console import create_console_app

    keys = crypto.load_intake_keys(settings.keys_dir)
    store = Store(settings.db_url)
    return ConsoleProcess(settings, store, keys, create_console_app(settings, store, keys))


def command_intake(settings: Settings, store: Store) -> Intake:
    """The intake of a CLI command (``haven chat``): no outbox, its replies are printed."""
    return Intake(store, crypto.load_intake_keys(settings.keys_dir))
