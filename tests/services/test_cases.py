"""Every change of a case's state, whichever service makes it, is one transition audited
under one name in the transaction that makes it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select

from haven.domain.cases import TRANSITION_EVENT, CaseState, CloseReason
from haven.flows.inputs import Choice, Command
from haven.services.cases import Console
from haven.services.handoff import Handoffs
from haven.services.intake import Intake
from haven.store.audit import AuditNotReady
from haven.store.models import AuditChain, AuditEvent, Case, utcnow
from tests.conftest import Env
from tests.console.conftest import submit_case
from tests.console.test_services import users
from tests.security.steps import issue_handoff


async def moves(env: Env, reference: str) -> list[tuple[str, str, dict[str, object]]]:
    """The case's audited transitions as (from, to, detail), in order."""
    async with env.store.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.reference == reference))
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.case_id == case_id)
            .order_by(AuditEvent.id)
        )
        out = []
        for action, text in rows:
            detail = json.loads(text)
            if action == TRANSITION_EVENT:
                out.append((detail["from"], detail["to"], detail))
            else:
                assert "to" not in detail, (action, detail)  # a state change under another name
        return out


async def test_every_service_audits_its_transitions_under_one_name(env: Env) -> None:
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "*"))
    cases = Console(env.store, env.keys)
    handoffs = Handoffs(env.store, env.keys)
    ref = await submit_case(env, address="501")

    async def sender(_session: object, _contact: object, _text: str, _case_id: int) -> bool:
        return True

    await cases.reply(ref, op, sender, canned="received", keyring=env.keyring())
    await cases.transition(ref, op, CaseState.verified)
    start = utcnow()

    async def issue() -> int:
        return (await issue_handoff(env, co, ref, sector="Any", start=start)).id

    first = await issue()
    await handoffs.outcome(co, first, env.keyring(), arrived=False, reason="not_seen")
    second = await issue()
    await handoffs.outcome(co, second, env.keyring(), arrived=True)
    steps = await moves(env, ref)
    assert [(a, b) for a, b, _ in steps] == [
        ("draft", "submitted"),
        ("submitted", "in_contact"),
        ("in_contact", "verified"),
        ("verified", "scheduled"),
        ("scheduled", "verified"),
        ("verified", "scheduled"),
        ("scheduled", "arrived"),
    ]
    assert steps[0][2]["channel"] == "telegram" and steps[0][2]["flow"] == "surrender"
    assert steps[1][2]["auto"] == "reply"
    assert [d.get("handoff") for _, _, d in steps[3:]] == [first, first, second, second]

    closed = await submit_case(env, address="502")
    await cases.transition(closed, op, CaseState.closed, CloseReason.fake)
    assert [(a, b, d.get("reason")) for a, b, d in await moves(env, closed)] == [
        ("draft", "submitted", None),
        ("submitted", "closed", "fake"),
    ]


async def test_the_erase_me_closes_the_case_as_a_transition(env: Env) -> None:
    ref = await submit_case(env, address="503")
    intake = Intake(env.store, env.keys)
    await intake.handle("telegram", "503", Command("forget"))
    await intake.handle("telegram", "503", Choice("forget_yes"))
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == ref))
        actions = list(
            await session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case.id))
        )
    assert case.state == "closed" and case.close_reason == "erased" and case.closed_at
    assert actions.count("case.erased") == 1
    assert [(a, b, d.get("reason"), d.get("channel")) for a, b, d in await moves(env, ref)] == [
        ("draft", "submitted", None, "telegram"),
        ("submitted", "closed", "erased", "telegram"),
    ]


async def test_a_transition_whose_event_cannot_be_written_does_not_happen(env: Env) -> None:
    (op,) = await users(env, ("o", "operator", ""))
    ref = await submit_case(env, address="504")
    async with env.store.transaction() as session:
        await session.execute(delete(AuditChain))
    with pytest.raises(AuditNotReady):
        await Console(env.store, env.keys).transition(ref, op, CaseState.in_contact)
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == ref))
    assert case.state == "submitted" and case.assigned_to is None
