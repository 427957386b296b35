"""Housekeeping without cron: the outbox worker (as ``haven serve`` builds it) queues
scheduled channel posts when they are due, and forgets handled updates past Telegram's
redelivery horizon."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from haven import bootstrap
from haven.outbox.payload import Payload
from haven.services.campaigns import Campaigns, PostSpec
from haven.store.models import ChannelPost, ProcessedUpdate, utcnow
from tests.conftest import Env
from tests.telegram.conftest import eventually


class Recorder:
    """A channel sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, address: str, payload: Payload) -> int | None:
        self.sent.append((address, payload.text))
        return len(self.sent)


async def test_the_worker_publishes_due_posts_and_forgets_old_updates(sqlite_env: Env) -> None:
    env = sqlite_env
    campaigns = Campaigns(env.store)
    due = await campaigns.schedule_post(
        PostSpec("@haven_channel", {"ko": "안녕하십니까."}, utcnow() - timedelta(minutes=1))
    )
    later = await campaigns.schedule_post(
        PostSpec("@haven_channel", {"ko": "래일 봅시다."}, utcnow() + timedelta(hours=1))
    )
    horizon = timedelta(hours=env.settings.processed_updates_hours)
    async with env.store.transaction() as session:
        session.add(ProcessedUpdate(key="telegram:1:1", at=utcnow() - horizon - timedelta(hours=1)))
        session.add(ProcessedUpdate(key="telegram:1:2", at=utcnow() - horizon + timedelta(hours=1)))
    sender = Recorder()
    worker = bootstrap.outbox_worker(env.settings, env.store, env.keys, sender)
    for _ in range(3):
        await worker.run_once()
    await eventually(lambda: bool(sender.sent), 5, "the post sent")
    assert sender.sent == [("@haven_channel", "안녕하십니까.")]
    async with env.store.transaction() as session:
        status = dict((await session.execute(select(ChannelPost.id, ChannelPost.status))).all())
        kept = set((await session.scalars(select(ProcessedUpdate.key))).all())
    assert status == {due.id: "queued", later.id: "scheduled"}
    assert kept == {"telegram:1:2"}
