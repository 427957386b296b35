"""Two intake processes on one PostgreSQL behind one webhook behave as one: a chat's limit
holds across both, both outboxes together stay under Telegram's overall rate, and an update
delivered to both is handled once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from haven.store.models import Case, ProcessedUpdate
from tests.conftest import Env
from tests.pg import PgServer
from tests.scale.conftest import WEBHOOK_URL, Intake, bot_environ, make_env, message
from tests.telegram.conftest import eventually
from tests.telegram.fakebot import BOT_ID, FakeBotAPI

#: One pair of processes for the module (starting two is most of the time).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Pair:
    env: Env
    fake: FakeBotAPI
    intakes: tuple[Intake, Intake]
    secret: str

    async def handled(self, update_ids: range) -> int:
        """How many of these updates have had their effect."""
        keys = [f"telegram:{BOT_ID}:{n}" for n in update_ids]
        async with self.env.store.transaction() as s:
            query = select(func.count()).where(ProcessedUpdate.key.in_(keys))
            return int(await s.scalar(query) or 0)

    async def cases(self) -> int:
        async with self.env.store.transaction() as s:
            return int(await s.scalar(select(func.count()).select_from(Case)) or 0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory, pg: PgServer) -> AsyncIterator[Pair]:
    """Two ``haven serve`` on one database, one webhook URL, no secret configured: they
    agree on one. The fake enforces Telegram's 30 messages a second (429 past it)."""
    env = await make_env(tmp_path_factory.mktemp("pair"), pg.url(pg.new_database()))
    fake = await FakeBotAPI(rate=30).start()
    environ = bot_environ(env, fake, telegram_webhook_url=WEBHOOK_URL)
    intakes = (Intake(environ), Intake(environ))
    try:
        bodies = await asyncio.gather(*(intake.ready() for intake in intakes))
        await eventually(lambda: fake.webhook.get("url") == WEBHOOK_URL, 20, "the webhook")
        for intake in intakes:
            await eventually(lambda i=intake: _ok(i), 20, "the bot ready")
        assert all(body["channels"]["web"] == "ok" for body in bodies)
        yield Pair(env, fake, intakes, str(fake.webhook["secret_token"]))
    finally:
        await asyncio.gather(*(intake.close() for intake in intakes))
        await fake.stop()
        await env.store.close()


async def _ok(intake: Intake) -> bool:
    _status, body = await intake.health()
    return bool(body["channels"]["telegram"] == "ok")


async def test_one_webhook_one_secret_set_once(pair: Pair) -> None:
    assert pair.fake.calls["setwebhook"] == 1  # by one process; the other saw it set
    assert len(pair.secret) >= 32
    for n, intake in enumerate(pair.intakes):  # both accept Telegram's updates
        assert await intake.post_update(message(100 + n, 800 + n, "/start"), pair.secret) == 200
        assert await intake.post_update(message(200 + n, 800 + n, "/start"), "wrong") == 403
    await eventually(lambda: len(pair.fake.to(800)) == 1 and len(pair.fake.to(801)) == 1)


async def test_a_chats_limit_holds_across_both(pair: Pair) -> None:
    """40 messages of one chat, alternately to each process: answered as one process would
    (20 a minute, then one notice, then nothing)."""
    chat = 900
    for n in range(40):
        update = message(5000 + n, chat, "/start" if n == 0 else f"text {n}")
        assert await pair.intakes[n % 2].post_update(update, pair.secret) == 200
    assert await pair.handled(range(5000, 5040)) == 20
    await eventually(lambda: any("너무 많이" in s.text for s in pair.fake.to(chat)), 10)
    await asyncio.sleep(1.0)
    assert sum("너무 많이" in s.text for s in pair.fake.to(chat)) == 1


async def test_both_outboxes_together_stay_under_the_overall_rate(pair: Pair) -> None:
    chats = range(10_000, 10_090)
    posts = [
        pair.intakes[n % 2].post_update(message(20_000 + n, chat, "/start"), pair.secret)
        for n, chat in enumerate(chats)
    ]
    assert set(await asyncio.gather(*posts)) == {200}
    await eventually(lambda: all(pair.fake.to(c) for c in chats), 30, "every chat answered")
    assert pair.fake.too_many == 0  # never a 429 from the fake that enforces 30/s
    assert pair.fake.max_in_window() <= 30


async def test_an_update_delivered_to_both_at_once_is_handled_once(pair: Pair) -> None:
    chats = range(30_000, 30_020)
    cases = await pair.cases()
    for n, chat in enumerate(chats):
        update = message(40_000 + n, chat, "/start")
        statuses = await asyncio.gather(
            *(intake.post_update(update, pair.secret) for intake in pair.intakes)
        )
        assert statuses == [200, 200]
    # ...and once more, redelivered later to either.
    for n, chat in enumerate(chats):
        assert (
            await pair.intakes[n % 2].post_update(message(40_000 + n, chat, "/start"), pair.secret)
            == 200
        )
    await eventually(lambda: all(pair.fake.to(c) for c in chats), 10)
    await asyncio.sleep(0.5)
    assert [len(pair.fake.to(c)) for c in chats] == [1] * 20
    assert await pair.handled(range(40_000, 40_020)) == 20
    assert await pair.cases() == cases + 20
