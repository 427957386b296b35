"""Nothing left on the applicant's phone: protected messages, and a chat the bot empties after
/forget and by itself after a while of silence (through aiogram and the fake Bot API)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from haven.outbox import (
    PENDING,
    SENDING,
    ChatLog,
    Payload,
    RetryLater,
    Wiper,
    Written,
    chat_key,
    enqueue,
)
from haven.outbox.chatlog import forget
from haven.settings import SettingsError, load_settings
from haven.store.models import (
    AuditEvent,
    Case,
    ChatMessage,
    ChatWipe,
    OutboxMessage,
    utcnow,
)
from tests.conftest import Env
from tests.processes import stop
from tests.telegram.conftest import Chat, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI
from tests.telegram.test_flood import serve


async def questionnaire(chat: Chat, lang: str = "ru") -> None:
    """A whole questionnaire, submitted: the chat then holds the reference and code phrase."""
    await chat.say("/start")
    for value in (lang, "kpa", "alone", "no"):
        await chat.press(value)
    await chat.say("Курск, у леса")
    await chat.say("/skip")
    await chat.say("/skip")
    await chat.say("здесь, вечером")
    await chat.press("yes")
    await chat.press("confirm")


async def count(env: Env, model: type) -> int:
    async with env.store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def none_left(env: Env, model: type) -> bool:
    return await count(env, model) == 0


async def wipes(env: Env) -> list[tuple[int | None, dict[str, int]]]:
    async with env.store.transaction() as s:
        rows = await s.execute(
            select(AuditEvent.case_id, AuditEvent.detail).where(AuditEvent.action == "chat.wiped")
        )
        return [(case_id, json.loads(detail)) for case_id, detail in rows]


async def noted(env: Env) -> set[int]:
    """The message ids in the chat log."""
    async with env.store.transaction() as s:
        sealed = (await s.scalars(select(ChatMessage.message))).all()
    return {int(env.keys.open_routing(m)) for m in sealed}


async def all_sent(env: Env) -> bool:
    """The outbox recorded every send (none pending or in flight)."""
    async with env.store.transaction() as s:
        waiting = select(func.count()).where(OutboxMessage.state.in_((PENDING, SENDING)))
        return not await s.scalar(waiting)


async def _audited(env: Env) -> bool:
    return bool(await wipes(env))


async def case_of(env: Env) -> Case:
    async with env.store.transaction() as s:
        case = await s.scalar(select(Case))
        assert case is not None
        return case


async def test_private_messages_are_protected_channel_posts_are_not(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime
) -> None:
    runtime = await make_runtime(sqlite_env)
    chat = Chat(fake, 601)
    await questionnaire(chat)
    await chat.say("/help")
    async with sqlite_env.store.transaction() as s:
        enqueue(s, sqlite_env.keys, ("telegram", "@haven_news"), Payload("news"), kind="post")
    runtime.worker.wake()
    await eventually(lambda: len(fake.to("@haven_news")) == 1, what="the channel post")
    assert len(chat.received) >= 12
    assert all(m.protect_content for m in chat.received)
    assert not fake.to("@haven_news")[0].protect_content
    # /help says how to keep the phone clean, in the applicant's language.
    help_text = "\n".join(m.text for m in chat.received[-2:])
    assert "60 мин." in help_text and "Автоудаление" in help_text
    assert "заблокированном экране" in help_text


async def test_forget_empties_the_chat(sqlite_env: Env, fake: FakeBotAPI, make_runtime) -> None:
    await make_runtime(sqlite_env)
    chat = Chat(fake, 602)
    await questionnaire(chat, "uk")
    await eventually(lambda: len(chat.received) == 12, what="the whole questionnaire")
    case = await case_of(sqlite_env)
    async with sqlite_env.store.transaction() as s:
        phrase = sqlite_env.keyring().open(case.code_phrase).decode()
    assert any(case.reference in m.text for m in chat.received)
    await chat.say("/forget")
    await chat.press("forget_yes")

    def emptied() -> bool:
        return len(fake.in_chat(602)) <= 1

    await eventually(emptied, 10, "the chat emptied")
    left = fake.in_chat(602)
    every = fake.history["602"]
    assert list(every.values()).count("user") == 6  # five answers and /forget
    assert set(every) - set(left) == {i for _, i in fake.deleted}
    if left:  # at most the notice that everything was erased, naming nothing of the case
        (notice,) = [m for m in chat.received if m.message_id in left]
        assert case.reference not in notice.text and phrase not in notice.text
    await eventually(lambda: _audited(sqlite_env), 5, "the wipe audited")
    # Audited as counts only, without the erased case.
    ((case_id, detail),) = await wipes(sqlite_env)
    assert case_id is None and detail["reason"] == "forget" and detail["kept"] == 0
    assert detail["deleted"] >= 19
    # The confirmation row in the outbox knows no case.
    async with sqlite_env.store.transaction() as s:
        rows = (await s.scalars(select(OutboxMessage))).all()
    assert all(r.case_id is None and r.contact_id is None for r in rows)


async def test_the_chat_empties_itself_after_silence(
    sqlite_env: Env, fake: FakeBotAPI, make_runtime, make_console
) -> None:
    runtime = await make_runtime(sqlite_env, telegram_wipe_after="0.03")  # 1.8 s
    runtime.wiper.poll = 0.1
    chat = Chat(fake, 603)
    await questionnaire(chat, "ko")
    await eventually(lambda: len(chat.received) == 12, what="the whole questionnaire")
    last = chat.received[-1].text
    assert "1분" in last and "외워두십시오" in last and "잠겨있을 때" in last
    # One bot message cannot be deleted (as Telegram refuses one older than 48 hours).
    refused = chat.received[3].message_id
    fake.undeletable.add(refused)
    await eventually(lambda: set(fake.in_chat(603)) == {refused}, 10, "the chat emptied")
    await eventually(lambda: none_left(sqlite_env, ChatWipe), 5, "the wipe recorded")
    assert await count(sqlite_env, ChatMessage) == 0
    case = await case_of(sqlite_env)
    ((case_id, detail),) = await wipes(sqlite_env)
    assert case_id == case.id and detail == {"reason": "idle", "deleted": 16, "kept": 1}
    # The case's operator sees that the chat was emptied, and what is left in it.
    console = await make_console(sqlite_env)
    operator = await console.user("olena", "operator")
    page = await operator.client.get(f"/console/cases/{case.reference}")
    assert page.status_code == 200
    assert "Emptied by the bot" in page.text and "could not be deleted</" not in page.text
    assert "could not be deleted: 1" in page.text
    assert "Ask the applicant to delete the chat himself." in page.text
    # Sent rows are purged soon after Telegram accepted them.
    runtime.worker.sent_keep = 0.0
    await runtime.worker.purge()
    assert await count(sqlite_env, OutboxMessage) == 0


async def test_the_wipe_survives_a_kill(sqlite_env: Env, fake: FakeBotAPI) -> None:
    """The bot is killed (SIGKILL) after the questionnaire; once restarted, it still empties
    the chat. Each of the applicant's message ids is in the chat log, on disk, by the time the
    bot has answered it. (The kill waits for the outbox to record its last send: a message
    sent in the outbox's crash window is sent twice, and its first id is never known.)"""
    from tests.pg import free_port

    environ = {
        **sqlite_env.environ,
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_API": fake.base,
        "HAVEN_OUTBOX_RATE": "200",
        "HAVEN_OUTBOX_PER_CHAT_RATE": "50",
        "HAVEN_INTAKE_PER_CHAT_LIMIT": "100/minute",
        "HAVEN_TELEGRAM_WIPE_AFTER": "0.05",  # 3 s
    }
    del environ["HAVEN_PASSPHRASE"]  # the intake never holds it
    proc = serve(environ, free_port())
    try:
        await eventually(lambda: fake.calls["getupdates"] > 0, 30, "the bot polling")
        chat = Chat(fake, 604)
        await questionnaire(chat, "en")
        await eventually(lambda: len(chat.received) == 12, 20, "the whole questionnaire")
        applicant = {i for i, side in fake.history["604"].items() if side == "user"}
        assert len(applicant) == 5 and applicant <= await noted(sqlite_env)
        assert await count(sqlite_env, ChatWipe) == 1
        await eventually(lambda: all_sent(sqlite_env), 10, "the sends recorded")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert len(fake.in_chat(604)) == 17 and not fake.deleted
        polls = fake.calls["getupdates"]
        proc = serve(environ, free_port())
        await eventually(lambda: fake.calls["getupdates"] > polls, 30, "the bot polling again")
        await eventually(lambda: not fake.in_chat(604), 30, "the chat emptied after the restart")
        await eventually(lambda: none_left(sqlite_env, ChatWipe), 10, "the wipe recorded")
    finally:
        stop(proc)
    assert await count(sqlite_env, ChatMessage) == 0
    ((_case_id, detail),) = await wipes(sqlite_env)
    assert detail == {"reason": "idle", "deleted": 17, "kept": 0}


class FakeDeleter:
    """Deletes into a list; refuses chosen ids; answers one 429 when asked to."""

    channel = "telegram"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.refuse: set[int] = set()
        self.too_many = 0

    async def delete(self, address: str, message_ids: Sequence[int]) -> list[int]:
        if self.too_many:
            self.too_many -= 1
            raise RetryLater(0.2)
        self.calls.append((address, list(message_ids)))
        return [i for i in message_ids if i in self.refuse]


async def test_the_wiper_on_both_databases(env: Env) -> None:
    """Chats noted, one erased: the erased one goes at once, in batches of 100 after a 429;
    the other after its silence, with an old message counted and not sent."""
    log = ChatLog(env.store, env.keys, wipe_after=2)
    old = utcnow() - timedelta(hours=47, minutes=55)

    def written(address: str, message_id: int, at: datetime | None = None) -> Written:
        item = log.written("telegram", chat_key(env.keys, "telegram", address), address, message_id)
        return Written(item.channel, item.chat, item.address, item.message_id, at or item.at)

    await log.note([written("701", i) for i in range(1, 151)])
    await log.note([written("702", 1, old), written("702", 2), written("702", 2)])
    async with env.store.transaction() as s:
        await s.run_sync(forget, chat_key(env.keys, "telegram", "701"))
        assert await s.scalar(select(func.count()).select_from(ChatMessage)) == 153
        sealed = (await s.scalars(select(ChatMessage.message))).all()
    assert not any(b"701" in blob or b"150" in blob for blob in sealed)
    deleter = FakeDeleter()
    deleter.too_many = 1
    wiper = Wiper(env.store, env.keys, {"telegram": deleter}, wipe_after=2, rate=100)
    assert await wiper.step() == 1 and deleter.calls == []  # the 429: tried again later
    await eventually(lambda: _stepped(wiper), 5, "the erased chat wiped")
    assert [len(ids) for a, ids in deleter.calls if a == "701"] == [100, 50]

    async def silent_chat_wiped() -> bool:
        await wiper.step()
        return await none_left(env, ChatWipe)

    await eventually(silent_chat_wiped, 10, "the silent chat wiped")
    # The older message is past Telegram's window for deleting: only the newer one goes.
    assert [ids for a, ids in deleter.calls if a == "702"] == [[2]]
    assert await count(env, ChatMessage) == 0
    assert sorted(detail["kept"] for _case, detail in await wipes(env)) == [0, 1]


async def _stepped(wiper: Wiper) -> bool:
    await wiper.step()
    return any(len(ids) == 50 for _a, ids in wiper.deleters["telegram"].calls)


def test_the_wipe_time_stays_well_inside_telegrams_48_hours(sqlite_env: Env) -> None:
    assert load_settings(sqlite_env.environ).telegram_wipe_after == 60
    for bad in ("0", "-5", "2000", "soon"):
        with pytest.raises(SettingsError, match="HAVEN_TELEGRAM_WIPE_AFTER"):
            load_settings({**sqlite_env.environ, "HAVEN_TELEGRAM_WIPE_AFTER": bad})
