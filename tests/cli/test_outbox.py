"""``haven outbox status`` and the count it prints, on a real store."""

from __future__ import annotations

from sqlalchemy import update

from haven.outbox import DROPPED, FAILED, SENT, Payload, enqueue
from haven.services.outbox import STATES, count_by_state
from haven.store.models import OutboxMessage
from tests.conftest import Env
from tests.steps import haven


async def test_count_names_every_state(env: Env) -> None:
    assert await count_by_state(store=env.store) == dict.fromkeys(STATES, 0)
    async with env.store.transaction() as session:
        rows = [
            enqueue(session, env.keys, ("telegram", f"{n}"), Payload(f"m{n}"), kind="notice")
            for n in range(6)
        ]
        await session.flush()
        ids = [row.id for row in rows if row is not None]
        for state, chosen in ((SENT, ids[:3]), (FAILED, ids[3:4]), (DROPPED, ids[4:5])):
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(chosen)).values(state=state)
            )
    counts = await count_by_state(store=env.store)
    assert counts == {"pending": 1, "sending": 0, "sent": 3, "failed": 1, "dropped": 1}
    assert list(counts) == list(STATES)


def test_status_after_a_post_is_queued(sqlite_env: Env) -> None:
    status = haven(sqlite_env.environ, "outbox", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout == "pending: 0\nsending: 0\nsent: 0\nfailed: 0\ndropped: 0\n"
    added = haven(sqlite_env.environ, "post", "add", "--channel", "@news", "--text", "ko=안녕")
    assert added.returncode == 0, added.stderr
    published = haven(sqlite_env.environ, "post", "publish")
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith("1 posts queued")
    status = haven(sqlite_env.environ, "outbox", "status")
    assert status.stdout == "pending: 1\nsending: 0\nsent: 0\nfailed: 0\ndropped: 0\n"
