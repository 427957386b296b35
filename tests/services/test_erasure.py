"""Erasure and the retention purge, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from haven.flows.inputs import Choice, Command, Text
from haven.outbox import Outbox
from haven.outbox.payload import Payload
from haven.outbox.queue import enqueue
from haven.services.erasure import purge_closed
from haven.services.intake import Intake
from haven.store.models import AuditEvent, Case, Contact, Message, OutboxMessage, utcnow
from tests.conftest import Env
from tests.steps import haven, submit


async def count(env: Env, model, *where) -> int:
    async with env.store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def test_forget_also_takes_queued_messages_of_the_case(env: Env) -> None:
    intake = Intake(env.store, env.keys, outbox=Outbox(env.keys))
    await submit(intake, "chat-9")
    async with env.store.transaction() as s:
        case = await s.scalar(select(Case))
        contact = await s.scalar(select(Contact))
        enqueue(s, env.keys, contact, Payload(text="an operator's reply"), case_id=case.id)
    assert await count(env, OutboxMessage, OutboxMessage.case_id == case.id) == 1
    await intake.handle("telegram", "chat-9", Command("forget"))
    await intake.handle("telegram", "chat-9", Choice("forget_yes"))
    assert await count(env, OutboxMessage, OutboxMessage.case_id == case.id) == 0


async def test_retention_purge(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    old = await submit(intake, "old")
    await intake.handle("telegram", "old", Text("a message"))
    recent = await submit(intake, "recent")
    long_ago = utcnow() - timedelta(days=200)
    async with env.store.transaction() as s:
        for reference, closed_at in ((old.reference, long_ago), (recent.reference, utcnow())):
            await s.execute(
                update(Case)
                .where(Case.reference == reference)
                .values(state="closed", close_reason="fake", closed_at=closed_at)
            )
    assert await purge_closed(env.store, 180) == 1
    async with env.store.transaction() as s:
        cases = {c.reference: c for c in (await s.scalars(select(Case))).all()}
    assert cases[old.reference].answers is None and cases[old.reference].code_phrase is None
    assert cases[old.reference].state == "closed" and cases[old.reference].lang == "ko"
    assert cases[recent.reference].answers is not None
    assert await count(env, Message) == 0
    assert await count(env, Contact, Contact.case_id == cases[old.reference].id) == 0
    assert await count(env, AuditEvent, AuditEvent.action == "case.purged") == 1
    assert await purge_closed(env.store, 180) == 0  # nothing left to purge: no new event
    out = haven(env.environ, "purge", "--days", "1")
    assert out.returncode == 0 and out.stdout.startswith("0 closed cases purged")
