"""Call mode: an operator runs the questionnaire for a caller; the answers become a phone case,
each step audited in the step's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from haven.services.calls import Calls
from haven.services.cases import Forbidden
from haven.store.models import AuditEvent, Case
from tests.console.test_services import users

ANSWERS = (
    {"choice": "kpa"},
    {"choice": "alone"},
    {"choice": "no"},
    {"text": "Kursk"},
    {"skip": True},
    {"skip": True},
    {"text": "by phone"},
    {"choice": "yes"},
)


async def _events(env, action: str) -> list[AuditEvent]:
    async with env.store.transaction() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_call_mode_makes_a_phone_case(env) -> None:
    (op,) = await users(env, ("o", "operator", ""))
    calls = Calls(env.store, env.keys)
    keyring = env.keyring()
    step = await calls.start(op, "ko", "uk", keyring=keyring)
    assert step.gloss is not None and step.gloss.text != step.caller[-1].text
    assert "Хто ви" in step.gloss.text or "?" in step.gloss.text
    (started,) = await _events(env, "call.started")
    assert started.actor == op.actor
    for kwargs in ANSWERS:
        step = await calls.answer(op, step.token, "uk", keyring=keyring, **kwargs)
        assert not step.done
    assert len(await _events(env, "call.started")) == 1  # the answers start nothing again
    step = await calls.answer(op, step.token, "uk", choice="confirm", keyring=keyring)
    assert step.done and step.reference
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == step.reference))
    assert case.channel == "phone" and case.assigned_to == op.user_id and case.lang == "ko"
    (submitted,) = await _events(env, "call.submitted")
    assert submitted.actor == op.actor and submitted.case_id == case.id == started.case_id
    transitions = await _events(env, "case.transition")
    assert [e.case_id for e in transitions] == [case.id]


@pytest.mark.parametrize("role", ["coordinator", "analyst", "admin"])
async def test_only_operators_take_calls_and_a_refused_call_writes_nothing(env, role) -> None:
    (op, other) = await users(env, ("o", "operator", ""), ("x", role, "*"))
    calls = Calls(env.store, env.keys)
    keyring = env.keyring()
    with pytest.raises(Forbidden):
        await calls.start(other, "ko", "uk", keyring=keyring)
    step = await calls.start(op, "ru", "uk", keyring=keyring)
    with pytest.raises(Forbidden):  # someone else's call, by its token
        await calls.answer(other, step.token, "uk", choice="kpa", keyring=keyring)
    async with env.store.transaction() as session:
        cases = await session.scalar(select(func.count()).select_from(Case))
    assert cases == 1
    assert [e.actor for e in await _events(env, "call.started")] == [op.actor]
