"""Voice messages through aiogram and the fake Bot API: kept, sealed like photos, in the
conversation with an operator; a polite answer where the questionnaire asks for text; never
over the size cap."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from haven.store.models import Attachment, Message
from tests.conftest import Env
from tests.telegram.conftest import Chat, eventually

OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead" + b"v" * 400


async def _count(env: Env) -> int:
    async with env.store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(Attachment)))


async def test_voice_in_the_conversation_not_in_the_questionnaire(
    sqlite_env: Env, fake, make_runtime
) -> None:
    env = sqlite_env
    await make_runtime(env, telegram_voice_max_bytes=1000)
    chat = Chat(fake, 611)
    await chat.say("/start")
    for value in ("ru", "kpa", "alone", "no"):
        await chat.press(value)
    # Where a written answer is asked: a polite answer in the applicant's language.
    (where,) = await chat.voice(OGG)
    assert "текстом" in where.text.lower() and "Где вы сейчас" in where.text
    assert await _count(env) == 0
    await chat.say("Курск")
    await chat.say("/skip")
    await chat.say("/skip")
    await chat.say("здесь, вечером")
    await chat.press("yes")
    await chat.press("confirm")
    await eventually(lambda: "удалится сам" in chat.received[-1].text, what="the completion")
    # In the conversation with an operator: received, sealed, a message of its own.
    (ack,) = await chat.voice(OGG)
    assert "оператор" in ack.text.lower()
    async with env.store.transaction() as s:
        attachment = await s.scalar(select(Attachment))
        message = await s.scalar(select(Message).where(Message.kind == "voice"))
    assert attachment is not None and message is not None
    assert b"OpusHead" not in attachment.body and env.keyring().open(attachment.body) == OGG
    content = json.loads(env.keyring().open(message.body))
    assert content == {"attachment": attachment.id, "duration": 3}
    # Over the cap, declared or not: refused with a notice, nothing kept.
    (big,) = await chat.voice(OGG * 3)
    assert "слишком" in big.text.lower()
    (liar,) = await chat.voice(OGG * 3, declared=10)
    assert liar.text == big.text
    assert await _count(env) == 1
