"""End to end through aiogram and the fake Bot API: conversations, commands, bad input."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from haven.services.verify import verify_for
from haven.store.models import (
    Attachment,
    Campaign,
    Case,
    Contact,
    OutboxMessage,
    ProcessedUpdate,
)
from tests.conftest import Env
from tests.telegram.conftest import Chat, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI


async def add_campaign(env: Env, code: str) -> None:
    async with env.store.transaction() as s:
        s.add(Campaign(code=code, name="leaflet", kind="leaflet", langs="ko"))


async def test_a_whole_korean_conversation(sqlite_env: Env, fake: FakeBotAPI, make_runtime) -> None:
    env = sqlite_env
    await add_campaign(env, "kursk-a6")
    runtime = await make_runtime(env)
    chat = Chat(fake, 501)
    (first,) = await chat.say("/start kursk-a6")
    assert "조선말" in [label for label, _ in first.buttons]
    (who,) = await chat.press("ko")
    assert who.text == "당신은 누구입니까?" or "누구" in who.text
    (_group,) = await chat.press("kpa")
    (_wounded,) = await chat.press("alone")
    (where,) = await chat.press("no")
    assert not where.buttons
    (_unit,) = await chat.say("쿠르스크 근처 마을")
    (_proof,) = await chat.say("/skip")
    (_contact,) = await chat.say("/skip")
    (_consent,) = await chat.say("여기 이 대화창으로, 저녁에")
    (summary,) = await chat.press("yes")
    assert "쿠르스크 근처 마을" in summary.text
    await chat.press("confirm")
    # The last message: the chat deletes itself, so learn the reference and phrase now.
    await eventually(lambda: len(chat.received) == 12, what="the vanishing notice")
    done = chat.received[8:]
    text = "\n".join(m.text for m in done)
    assert "60분" in done[-1].text and "외워" in done[-1].text

    async def all_sent() -> bool:  # recorded a moment after the server took the last one
        async with env.store.transaction() as s:
            rows = (await s.scalars(select(OutboxMessage))).all()
        return bool(rows) and all(r.state == "sent" for r in rows)

    await eventually(all_sent, what="every send recorded")
    async with env.store.transaction() as s:
        case = await s.scalar(select(Case))
        assert case.state == "submitted"
        assert (case.lang, case.channel, case.campaign) == ("ko", "telegram", "kursk-a6")
        # Sent texts are erased from the outbox; nothing readable is left there.
        rows = (await s.scalars(select(OutboxMessage))).all()
        assert rows and all(r.state == "sent" and r.payload is None for r in rows)
    assert case.reference in text and "신청번호" in text and "암호말" in text
    # The corrected steps, the Geneva guarantees, and the bot's own way to erase.
    assert "흰 천이나 우리 전단을" in text and "우리 군인들이 있는 곳에 이르면" in text
    assert "제네바협약은 포로에게" in text and "엽서를 보낼수 있고" in text
    assert "살아있다는 소식이 전해지며" not in text and "이 전단" not in text
    assert "이 대화는 지워집니다" in text and "무인기가 오지 않으면" in text
    assert "/forget 으로 모든것을 지울수" in text and "《모두 지우기》" not in text
    # Every message was sent once, in order: one per step, and the notice.
    assert len(chat.received) == 12
    # None of them can be forwarded or saved.
    assert all(m.protect_content for m in chat.received)
    # The buttons pressed lost their keyboard; every press was answered.
    assert len(fake.callback_answers) == 6 and len(fake.edits) == 6
    # /verify: the same check the leaflets and the web page print (tests/web/test_check.py).
    (verify,) = await chat.say("/verify")
    assert verify_for("", env.keys).code in verify.text
    assert runtime.channel.handled == 12


async def test_unknown_deep_link_is_kept_as_unknown(sqlite_env: Env, fake, make_runtime) -> None:
    await make_runtime(sqlite_env)
    await Chat(fake, 502).say("/start no-such-campaign")
    await Chat(fake, 503).say("/start")
    async with sqlite_env.store.transaction() as s:
        campaigns = sorted(map(str, (await s.scalars(select(Case.campaign))).all()))
    assert campaigns == ["None", "unknown"]


async def test_forged_and_stale_buttons_are_re_asked(sqlite_env: Env, fake, make_runtime) -> None:
    await make_runtime(sqlite_env)
    chat = Chat(fake, 504)
    await chat.say("/start")
    (lang_question,) = chat.received
    await chat.press("ko")
    (who,) = await chat.press("kpa")
    # A stale button: "ko" from the language question, pressed again now.
    stale = next(d for _, d in lang_question.buttons if d.endswith("|ko"))
    (again,) = await chat.press("ko", data=stale)
    assert again.text.startswith("아래 대답 가운데서") or again.buttons == who.buttons
    # Forged: data that is not ours, and a well-formed one with a made-up context.
    (forged,) = await chat.press("x", data="garbage")
    (forged2,) = await chat.press("x", data="deadbeef|alone")
    for reply in (again, forged, forged2):
        assert reply.buttons == who.buttons  # the same question, asked again
        assert reply.text.endswith(who.text)
    async with sqlite_env.store.transaction() as s:
        contact = await s.scalar(select(Contact))
        state = sqlite_env.keys.open_routing(contact.flow_state).decode()
    assert '"step": "group"' in state and '"group"' not in state.split('"answers"')[1][:20]


async def test_photos_over_the_cap_are_refused(sqlite_env: Env, fake, make_runtime) -> None:
    await make_runtime(sqlite_env, telegram_photo_max_bytes=1000)
    chat = Chat(fake, 505)
    await chat.say("/start")
    for value in ("ru", "kpa", "alone", "no"):
        await chat.press(value)
    await chat.say("Курск")
    (proof,) = await chat.say("/skip")
    (big,) = await chat.photo(b"\xff" * 5000)  # declared size over the cap
    assert "1000" not in big.text and "МБ" in big.text and big.text.endswith(proof.text)
    (big2,) = await chat.photo(b"\xff" * 5000, declared=10)  # lies about its size
    assert "МБ" in big2.text
    async with sqlite_env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Attachment)) == 0
    (ok,) = await chat.photo(b"\xff\xd8" + b"j" * 500)
    assert ok.text != proof.text
    async with sqlite_env.store.transaction() as s:
        attachment = await s.scalar(select(Attachment))
    assert attachment.size == 502 and b"jjjj" not in attachment.body
    assert sqlite_env.keyring().open(attachment.body) == b"\xff\xd8" + b"j" * 500


async def test_what_the_bot_cannot_read(sqlite_env: Env, fake, make_runtime) -> None:
    await make_runtime(sqlite_env)
    chat = Chat(fake, 506)
    await chat.say("/start")
    (who,) = await chat.press("ko")
    sticker = {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
               "is_animated": False, "is_video": False, "type": "regular"}  # fmt: skip
    (reply,) = await chat.say(sticker=sticker)
    assert "읽을수" in reply.text or reply.text != who.text
    assert reply.text.endswith(who.text)
    video = {"file_id": "v", "file_unique_id": "v", "width": 1, "height": 1, "duration": 1}
    (reply2,) = await chat.say(video=video)
    assert reply2.text == reply.text
    before = len(chat.received)
    fake.push({"edited_message": {"message_id": 9, "date": 1, "edit_date": 2, "text": "x",
                                   "chat": {"id": 506, "type": "private"}}})  # fmt: skip
    await eventually(lambda: len(chat.received) > before)
    assert chat.received[-1].text == reply.text


async def test_forget_erases_everything_of_the_chat(sqlite_env: Env, fake, make_runtime) -> None:
    await make_runtime(sqlite_env)
    chat = Chat(fake, 507)
    await chat.say("/start")
    await chat.press("uk")
    (ask,) = await chat.say("/forget")
    (gone,) = await chat.press("forget_yes")
    assert "стерто" in gone.text.lower() or gone.text != ask.text
    async with sqlite_env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Contact)) == 0
        case = await s.scalar(select(Case))
        assert (case.state, case.close_reason) == ("closed", "erased")
        rows = (await s.scalars(select(OutboxMessage))).all()
        # Only the last message ("everything was erased") remains, its text already erased.
        assert len(rows) == 1 and rows[0].payload is None and rows[0].contact_id is None


async def test_an_update_delivered_twice_is_handled_once(
    sqlite_env: Env, fake, make_runtime
) -> None:
    url = "https://hotline.example/tg/hook"
    runtime = await make_runtime(sqlite_env, telegram_webhook_url=url)
    assert fake.webhook["url"] == url and fake.webhook["secret_token"] == runtime.secret
    app = Starlette(routes=runtime.routes())
    update = {
        "update_id": 777,
        "message": {"message_id": 1, "date": 1, "text": "/start",
                    "chat": {"id": 508, "type": "private"}},
    }  # fmt: skip
    headers = {"X-Telegram-Bot-Api-Secret-Token": runtime.secret}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        bad = await client.post(
            "/tg/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
        )
        assert bad.status_code == 403
        first = await client.post("/tg/hook", json=update, headers=headers)
        second = await client.post("/tg/hook", json=update, headers=headers)
        assert (first.status_code, second.status_code) == (200, 200)
        await eventually(lambda: len(fake.to(508)) == 1)
        await asyncio.sleep(0.3)
    assert len(fake.to(508)) == 1
    async with sqlite_env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert await s.scalar(select(func.count()).select_from(ProcessedUpdate)) == 1
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
    assert TOKEN not in str(fake.webhook)
