"""Mirror bots: several bots in one intake process, each with its own conversations, its own
sender and its own rate, through one fake Bot API that serves every token."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from haven.bootstrap import telegram_runtimes
from haven.channels.telegram import TelegramRuntime
from haven.channels.telegram.texts import M_FLOOD
from haven.domain.cases import medium
from haven.services.verify import verify_for
from haven.settings import SettingsError, load_settings
from haven.store.models import Case, Contact, OutboxMessage, ProcessedUpdate
from tests.conftest import Env
from tests.console.conftest import submit_case
from tests.telegram.conftest import FAST, Chat, eventually
from tests.telegram.fakebot import BOT_ID, TOKEN, USERNAME, FakeBotAPI

MIRROR_ID = 7009876543
MIRROR = f"{MIRROR_ID}:AAMirrorTokenForTestsOnly_9876543210fedcba"
MIRROR_NAME = "haven_mirror_bot"
CHANNEL = f"tg:{MIRROR_ID}"

Bots = Callable[..., Awaitable[list[TelegramRuntime]]]


def bots_environ(env: Env, fake: FakeBotAPI, **overrides: Any) -> dict[str, str]:
    return {
        **env.environ,
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_BOT_USERNAME": USERNAME,
        "HAVEN_TELEGRAM_MIRROR_TOKENS": MIRROR,
        "HAVEN_TELEGRAM_MIRROR_USERNAMES": f"@{MIRROR_NAME}",
        "HAVEN_TELEGRAM_API": fake.base,
        **FAST,
        **{f"HAVEN_{k.upper()}": str(v) for k, v in overrides.items()},
    }


@pytest.fixture
async def make_bots(fake: FakeBotAPI) -> AsyncIterator[Bots]:
    """The bots of one intake process (polling), started: the primary and one mirror."""
    fake.add_bot(MIRROR, MIRROR_NAME)
    started: list[TelegramRuntime] = []

    async def factory(env: Env, **overrides: Any) -> list[TelegramRuntime]:
        settings = load_settings(bots_environ(env, fake, **overrides))
        bots = telegram_runtimes(settings, env.store, env.keys)
        bots[0].worker.poll = 0.05
        for bot in bots:
            await bot.start()
            started.append(bot)
        return bots

    try:
        yield factory
    finally:
        for bot in started:
            await bot.stop()


async def _settled(env: Env) -> bool:
    async with env.store.transaction() as s:
        busy = await s.scalar(
            select(func.count()).where(OutboxMessage.state.in_(("pending", "sending")))
        )
    return not busy


async def test_each_chat_is_answered_by_the_bot_it_wrote_to(
    sqlite_env: Env, fake: FakeBotAPI, make_bots: Bots
) -> None:
    env = sqlite_env
    primary, mirror = await make_bots(env)
    assert (primary.channel.channel, mirror.channel.channel) == ("telegram", CHANNEL)
    assert primary.run_worker and not mirror.run_worker and primary.worker is mirror.worker
    on_mirror, on_primary = Chat(fake, 901, MIRROR), Chat(fake, 902)
    (first,) = await on_mirror.say("/start")
    assert first.token == MIRROR and first.protect_content  # a private chat, whichever bot
    (who,) = await on_mirror.press("ko")
    assert "누구" in who.text
    (first,) = await on_primary.say("/start")
    assert first.token == TOKEN
    await eventually(lambda: _settled(env), what="every send recorded")
    assert fake.to(901, TOKEN) == [] and fake.to(902, MIRROR) == []
    assert len(fake.to(901)) == 2 and len(fake.to(902)) == 1
    async with env.store.transaction() as s:
        contacts = dict((await s.execute(select(Contact.lookup, Contact.channel))).all())
        cases = set((await s.scalars(select(Case.channel))).all())
        keys = set((await s.scalars(select(ProcessedUpdate.key))).all())
        rows = set((await s.scalars(select(OutboxMessage.channel))).all())
    assert contacts == {
        primary.intake.lookup(CHANNEL, "901"): CHANNEL,
        primary.intake.lookup("telegram", "902"): "telegram",
    }
    assert cases == {CHANNEL, "telegram"} and rows == {CHANNEL, "telegram"}
    assert {k.rsplit(":", 1)[0] for k in keys} == {f"telegram:{MIRROR_ID}", f"telegram:{BOT_ID}"}


async def test_one_chat_on_both_bots_is_two_conversations(
    sqlite_env: Env, fake: FakeBotAPI, make_bots: Bots
) -> None:
    env = sqlite_env
    await make_bots(env)
    on_mirror, on_primary = Chat(fake, 903, MIRROR), Chat(fake, 903)
    await on_mirror.say("/start")
    await on_primary.say("/start")
    (who,) = await on_mirror.press("ru")  # the mirror's conversation goes on in Russian
    assert "Кто" in who.text
    (again,) = await on_primary.say("/start")  # the primary's still asks for a language
    assert "조선말" in [label for label, _ in again.buttons]
    assert all(s.token == MIRROR for s in on_mirror.received)
    assert all(s.token == TOKEN for s in on_primary.received)
    async with env.store.transaction() as s:
        channels = sorted((await s.scalars(select(Contact.channel))).all())
    assert channels == ["telegram", CHANNEL]  # two contacts, each with its conversation


async def test_notices_and_operator_replies_go_through_the_cases_bot(
    sqlite_env: Env, fake: FakeBotAPI, make_bots: Bots, make_console
) -> None:
    """A notice to a mirror's chat, and an operator's reply from the console to a case that
    came through the mirror, are sent by the mirror; the console names the bot."""
    settings = load_settings(bots_environ(sqlite_env, fake))
    env = dataclasses.replace(sqlite_env, settings=settings)
    primary, _mirror = await make_bots(env)
    reference = await submit_case(env, CHANNEL, "904", "en")
    await primary.intake.notify(CHANNEL, "904", (M_FLOOD,))
    primary.worker.wake()
    await eventually(lambda: len(fake.to(904)) == 1, what="the notice")
    console = await make_console(env)
    op = await console.user("op", "operator")
    page = await op.client.get(f"/console/cases/{reference}")
    assert f"Telegram @{MIRROR_NAME}" in page.text
    assert (await op.post(f"/console/cases/{reference}/assign", to="me")).status_code == 303
    r = await op.post(f"/console/cases/{reference}/reply", text="We read you.")
    assert r.status_code == 303, r.text
    primary.worker.wake()
    await eventually(lambda: len(fake.to(904)) == 2, what="the operator's reply")
    assert "We read you." in fake.to(904)[-1].text
    assert [s.token for s in fake.to(904)] == [MIRROR, MIRROR]
    queue = await op.client.get("/console/queue")
    assert f"Telegram @{MIRROR_NAME}" in queue.text


async def test_each_bot_sends_at_its_own_rate(
    sqlite_env: Env, fake: FakeBotAPI, make_bots: Bots
) -> None:
    """Both bots busy at once: each keeps to the rate (which the fake enforces per token,
    as Telegram does per bot), and neither waits for the other's pace."""
    rate = 8
    fake.rate = rate
    env = sqlite_env
    await make_bots(env, outbox_rate=rate)
    chats = range(910, 934)
    for chat in chats:
        fake.message(chat, "/start", token=MIRROR)
        fake.message(chat, "/start")
    await eventually(lambda: len(fake.sent) == 2 * len(chats), 20, "every first reply")
    assert fake.too_many == 0
    for token in (TOKEN, MIRROR):
        assert len([s for s in fake.sent if s.token == token]) == len(chats)
        assert fake.max_in_window(token=token) <= rate
    # Together faster than one bot may send: each has a pace of its own.
    assert fake.max_in_window() > rate


async def test_the_mirrors_webhook(sqlite_env: Env, fake: FakeBotAPI) -> None:
    """A mirror's webhook is the primary's URL with its bot id; its state is its own."""
    url = "https://haven.example/telegram/webhook"
    settings = load_settings(bots_environ(sqlite_env, fake, telegram_webhook_url=url))
    primary, mirror = telegram_runtimes(settings, sqlite_env.store, sqlite_env.keys)
    assert (primary.webhook_url, mirror.webhook_url) == (url, f"{url}/{MIRROR_ID}")
    assert [r.path for r in primary.routes() + mirror.routes()] == [
        "/telegram/webhook",
        f"/telegram/webhook/{MIRROR_ID}",
    ]
    fake.add_bot(MIRROR, MIRROR_NAME)
    try:
        for bot in (primary, mirror):
            bot.secret = "s" * 32
            await bot.set_webhook()
        assert fake.calls["setwebhook"] == 2  # one bot's webhook set is not the other's
        assert fake.webhook["url"] == f"{url}/{MIRROR_ID}"
    finally:
        for bot in (primary, mirror):
            await bot.bot.session.close()


async def test_a_mirror_of_another_name_is_refused(sqlite_env: Env, fake: FakeBotAPI) -> None:
    fake.add_bot(MIRROR, "someone_else_bot")
    settings = load_settings(bots_environ(sqlite_env, fake))
    primary, mirror = telegram_runtimes(settings, sqlite_env.store, sqlite_env.keys)
    try:
        await primary.check_username()
        with pytest.raises(ValueError, match="HAVEN_TELEGRAM_MIRROR_USERNAMES"):
            await mirror.check_username()
    finally:
        for bot in (primary, mirror):
            await bot.bot.session.close()


# -- settings ---------------------------------------------------------------------------


def _load(**values: str) -> Any:
    return load_settings({f"HAVEN_{k.upper()}": v for k, v in values.items()})


def test_the_bots_from_the_settings() -> None:
    other = "7005550001:AAOtherMirrorTokenForTests_0011223344"
    settings = _load(
        telegram_token=TOKEN,
        telegram_bot_username=USERNAME,
        telegram_mirror_tokens=f"{MIRROR}, {other}",
        telegram_mirror_usernames=f"@{MIRROR_NAME},other_bot",
    )
    primary, first, second = settings.telegram_bots
    assert (primary.channel, primary.bot_id, primary.username) == ("telegram", BOT_ID, USERNAME)
    assert (first.channel, first.token, first.username) == (CHANNEL, MIRROR, f"@{MIRROR_NAME}")
    assert (second.channel, second.bot_id) == ("tg:7005550001", 7005550001)
    assert all(len(b.channel) <= 16 for b in settings.telegram_bots)
    assert MIRROR not in repr(settings.telegram_bots) and MIRROR not in repr(settings)
    assert settings.telegram_mirror_names == (f"@{MIRROR_NAME}", "other_bot")
    assert _load().telegram_bots == ()
    # The console's host names the mirrors without holding their tokens.
    console = _load(telegram_bot_username=USERNAME, telegram_mirror_usernames=MIRROR_NAME)
    assert console.telegram_bots == () and console.telegram_mirror_names == (MIRROR_NAME,)
    alone = _load(telegram_token=TOKEN).telegram_bots
    assert [b.channel for b in alone] == ["telegram"]


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"telegram_mirror_tokens": MIRROR}, "need HAVEN_TELEGRAM_TOKEN"),
        ({"telegram_token": TOKEN, "telegram_mirror_tokens": f"{MIRROR},nonsense"}, "token 2"),
        ({"telegram_token": TOKEN, "telegram_mirror_tokens": f"{MIRROR},{MIRROR}x"}, "same bot"),
        ({"telegram_token": TOKEN, "telegram_mirror_tokens": f"{BOT_ID}:AAsecretpart"}, "primary"),
        (
            {"telegram_token": TOKEN, "telegram_mirror_tokens": "12345678901234:AAsecretpart"},
            "longer",
        ),
        (
            {
                "telegram_token": TOKEN,
                "telegram_mirror_tokens": MIRROR,
                "telegram_mirror_usernames": "a_bot,b_bot",
            },
            "names 2 bots",
        ),
    ],
)
def test_bad_mirror_settings_are_refused_without_the_token(
    values: dict[str, str], says: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        _load(**values)
    message = str(caught.value)
    assert says in message
    for token in values.get("telegram_mirror_tokens", "").split(","):
        secret = token.partition(":")[2]
        assert not secret or secret not in message
    assert TOKEN.partition(":")[2] not in message


def test_the_console_names_the_bot() -> None:
    named = _load(
        telegram_token=TOKEN,
        telegram_bot_username=USERNAME,
        telegram_mirror_tokens=MIRROR,
        telegram_mirror_usernames=MIRROR_NAME,
    )
    assert named.channel_label(CHANNEL) == f"Telegram @{MIRROR_NAME}"
    assert named.channel_label("telegram") == f"Telegram @{USERNAME}"
    assert named.channel_label("web") == "web"
    unnamed = _load(telegram_token=TOKEN, telegram_mirror_tokens=MIRROR)
    assert unnamed.channel_label(CHANNEL) == f"Telegram bot {MIRROR_ID}"
    assert unnamed.channel_label("telegram") == "telegram"  # translated by the console
    assert unnamed.channel_label("tg:1234") == "Telegram bot 1234"  # a bot since removed


def test_a_mirror_is_telegram_wherever_meaning_counts() -> None:
    assert medium(CHANNEL) == medium("telegram") == "telegram"
    assert medium("web") == "web" and medium("phone") == "phone"


def test_the_check_lists_the_mirrors(sqlite_env: Env) -> None:
    check = verify_for(USERNAME, sqlite_env.keys, mirrors=[MIRROR_NAME, "", "@other_bot"])
    assert check.mirrors == (f"@{MIRROR_NAME}", "@other_bot")
    assert check.mirror_links == (f"https://t.me/{MIRROR_NAME}", "https://t.me/other_bot")
    assert check.code == verify_for(USERNAME, sqlite_env.keys).code  # the primary's alone
    assert verify_for(USERNAME, sqlite_env.keys).mirrors == ()


async def test_the_intake_process_runs_every_bot(sqlite_env: Env, fake: FakeBotAPI) -> None:
    """``haven serve``'s app: each bot started and in ``/healthz``, each chat answered by its
    bot, every bot stopped with the app."""
    import httpx

    from haven.server import create_app

    fake.add_bot(MIRROR, MIRROR_NAME)
    app = create_app(load_settings(bots_environ(sqlite_env, fake)))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://intake") as client,
    ):
        fake.message(920, "/start", token=MIRROR)
        fake.message(921, "/start")
        await eventually(lambda: len(fake.sent) == 2, what="both answered")

        async def healthy() -> bool:
            body = (await client.get("/healthz")).json()
            return bool(body["status"] == "ok")

        await eventually(healthy, what="every bot ok")
        body = (await client.get("/healthz")).json()
    assert body["channels"] == {"web": "ok", "telegram": "ok"}  # no bot's id or number
    assert [s.token for s in fake.to(920)] == [MIRROR]
    assert [s.token for s in fake.to(921)] == [TOKEN]


async def test_an_outbox_worker_alone_sends_for_every_bot(
    sqlite_env: Env, fake: FakeBotAPI
) -> None:
    """``haven outbox work``: each bot's queued messages go out through that bot."""
    from haven.outbox import Outbox
    from haven.server import run_outbox_worker
    from haven.services.intake import Intake

    fake.add_bot(MIRROR, MIRROR_NAME)
    env = sqlite_env
    intake = Intake(env.store, env.keys, outbox=Outbox(env.keys))
    await intake.notify(CHANNEL, "930", (M_FLOOD,))
    await intake.notify("telegram", "931", (M_FLOOD,))
    worker = asyncio.create_task(run_outbox_worker(load_settings(bots_environ(env, fake))))
    try:
        await eventually(lambda: len(fake.sent) == 2, what="both sent")
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert [s.token for s in fake.to(930)] == [MIRROR]
    assert [s.token for s in fake.to(931)] == [TOKEN]


# -- what an adversary would try with several bots ----------------------------------------


async def test_a_flooder_gets_no_more_by_writing_to_every_bot(
    sqlite_env: Env, fake: FakeBotAPI, make_bots: Bots
) -> None:
    """One chat's limit is for all our bots together, on SQLite (counted in memory) too:
    the messages over it on the second bot get the one notice, then nothing."""
    primary, mirror = await make_bots(sqlite_env, intake_per_chat_limit="3/minute")
    assert primary.channel.flood is mirror.channel.flood
    for text in ("/start", "/help", "/verify"):
        fake.message(950, text)
    await eventually(lambda: primary.channel.handled == 3, what="three on the primary")
    for text in ("/start", "/help", "/verify"):
        fake.message(950, text, token=MIRROR)
    await eventually(lambda: mirror.channel.ignored == 3, what="the mirror over the limit")
    assert mirror.channel.handled == 0
    await eventually(lambda: len(fake.to(950, MIRROR)) == 1, what="the one notice")
    notice = primary.intake.engine.translate("en", M_FLOOD)
    assert notice in fake.to(950, MIRROR)[0].text  # in every language: no conversation there


async def test_forget_on_one_bot_erases_the_chat_on_every_bot(
    sqlite_env: Env, fake: FakeBotAPI, make_bots: Bots
) -> None:
    """ "/forget erases everything": the same person's conversation and case on our other
    bot go too, and both chats are emptied, each by its own bot."""
    env = sqlite_env
    await make_bots(env)
    on_mirror, on_primary = Chat(fake, 960, MIRROR), Chat(fake, 960)
    await on_primary.say("/start")
    await on_primary.press("ko")
    await on_mirror.say("/start")
    chats = [fake.chat_key(960), fake.chat_key(960, MIRROR)]
    assert all(fake.chats[chat] for chat in chats)  # both chats hold messages
    await on_mirror.say("/forget")
    await on_mirror.press("forget_yes")
    async with env.store.transaction() as s:
        contacts = (await s.scalars(select(Contact.channel))).all()
        states = set((await s.scalars(select(Case.close_reason))).all())
    assert contacts == [] and states == {"erased"}
    await eventually(
        lambda: not any(fake.chats[chat] for chat in chats),
        what="both chats emptied, each by its own bot",
    )


def test_a_webhook_url_that_could_mix_the_bots_up_is_refused() -> None:
    for url, says in (
        ("https://h.example/tg/hook?k=v", "no ?query"),
        ("https://h.example/tg/hook#x", "no ?query"),
        ("https://h.example", "a path of its own"),
        ("https://h.example/", "a path of its own"),
        ("h.example/tg/hook", "https://"),
    ):
        with pytest.raises(SettingsError, match=re.escape(says)):
            _load(telegram_token=TOKEN, telegram_webhook_url=url)
    assert _load(telegram_webhook_url="https://h.example/tg/hook").telegram_webhook_url


async def test_a_refused_mirror_leaves_the_primary_and_the_web_running(
    sqlite_env: Env, fake: FakeBotAPI
) -> None:
    """A mirror whose token is another bot's is refused alone: the process starts, the
    primary answers, and /healthz says ``refused`` without naming which bot."""
    import httpx

    from haven.server import create_app

    fake.add_bot(MIRROR, "someone_else_bot")
    app = create_app(load_settings(bots_environ(sqlite_env, fake)))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://intake") as client,
    ):
        fake.message(970, "/start")
        await eventually(lambda: len(fake.to(970)) == 1, what="the primary answers")
        body = (await client.get("/healthz")).json()
        assert (await client.get("/")).status_code == 200
    assert body["channels"] == {"web": "ok", "telegram": "refused"}
    assert str(MIRROR_ID) not in str(body)
