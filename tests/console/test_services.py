"""The console's services on SQLite and PostgreSQL: queue order and filters, "take next" under
concurrency, scopes in the queries, hand-offs, the POW record, call mode, web replies."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from haven.content.readings import code_phrase_reading
from haven.domain.cases import CaseState
from haven.services.accounts import Accounts, Role, Viewer
from haven.services.applicant import Applicants
from haven.services.cases import CaseNotFound, Console, Forbidden
from haven.services.handoff import Handoffs
from haven.services.queue import Assigned, Filters, Queue, Sort
from haven.store.models import AuditEvent, Case, utcnow
from tests.console.conftest import FAST_HASHER, sealing, submit_case
from tests.security.steps import issue_handoff


async def users(env, *specs: tuple[str, str, str]) -> list[Viewer]:
    accounts = Accounts(env.store, env.keys, hasher=FAST_HASHER, keyring=sealing(env))
    out = []
    for name, role, sectors in specs:
        await accounts.add_user(name, role, "test", sectors=sectors)
    rows = {u.name: u for u in await accounts.users()}
    for name, role, sectors in specs:
        from haven.services.identity import parse_sectors

        scope = parse_sectors(sectors) if role == "coordinator" else None
        out.append(Viewer(rows[name].id, Role(role), scope))
    return out


async def backdate(env, reference: str, minutes: float) -> None:
    async with env.store.transaction() as session:
        await session.execute(
            update(Case)
            .where(Case.reference == reference)
            .values(submitted_at=utcnow() - timedelta(minutes=minutes))
        )


async def test_queue_order_uses_the_weights(env) -> None:
    (op,) = await users(env, ("o", "operator", ""))
    old = await submit_case(env, address="1")
    wounded = await submit_case(env, address="2", wounded=True)
    group = await submit_case(env, address="3", group=4)
    new = await submit_case(env, address="4")
    await backdate(env, old, 120)
    for ref, minutes in ((wounded, 1), (group, 2), (new, 3)):
        await backdate(env, ref, minutes)
    queue = Queue(env.store, weight_wounded=1000, weight_group=500)
    rows = (await queue.list(op, Filters())).rows
    assert [r.reference for r in rows] == [wounded, group, old, new]
    # Weights are settings: without them, waiting time alone decides.
    flat = Queue(env.store, weight_wounded=0, weight_group=0)
    assert [r.reference for r in (await flat.list(op, Filters())).rows] == [
        old,
        new,
        group,
        wounded,
    ]
    assert await queue.take_next(op) == wounded
    by_wait = await queue.list(op, Filters(sort=Sort.waiting))
    assert by_wait.rows[0].reference == old


async def test_queue_filters(env) -> None:
    (op,) = await users(env, ("o", "operator", ""))
    ko = await submit_case(env, address="1", lang="ko", wounded=True, campaign="leaf-1")
    ru = await submit_case(env, address="2", lang="ru", group=12)
    queue = Queue(env.store)

    async def refs(**kw) -> list[str]:
        return [r.reference for r in (await queue.list(op, Filters(**kw))).rows]

    assert await refs(lang="ko") == [ko]
    assert await refs(wounded=True) == [ko]
    assert await refs(min_group=5) == [ru]
    assert await refs(flag="large_group") == [ru]
    assert await refs(campaign="leaf-1") == [ko]
    assert await refs(channel="web") == []
    assert await refs(states=("closed",)) == []
    assert await refs(waiting_hours=1) == []
    assert sorted(await refs(assigned=Assigned.free)) == sorted([ko, ru])
    assert await refs(assigned=Assigned.mine) == []
    facets = await queue.facets()
    assert facets["lang"] == ["ko", "ru"] and facets["campaign"] == ["leaf-1"]


async def test_take_next_gives_each_operator_a_different_case(env) -> None:
    viewers = await users(env, *[(f"o{i}", "operator", "") for i in range(4)])
    refs = {await submit_case(env, address=str(i)) for i in range(3)}
    queue = Queue(env.store)
    taken = await asyncio.gather(*(queue.take_next(v) for v in viewers))
    got = [t for t in taken if t is not None]
    assert sorted(got) == sorted(refs) and taken.count(None) == 1


async def test_scopes_are_in_the_queries(env) -> None:
    a, b, co, an, ad = await users(
        env,
        ("a", "operator", ""),
        ("b", "operator", ""),
        ("c", "coordinator", "North"),
        ("n", "analyst", ""),
        ("d", "admin", ""),
    )
    ref = await submit_case(env)
    keyring = env.keyring()
    cases = Console(env.store, env.keys)
    await Queue(env.store).assign(ref, a, a.user_id)
    await cases.view(ref, keyring, a)
    with pytest.raises(CaseNotFound):
        await cases.view(ref, keyring, b)
    for other in (co, an, ad):
        with pytest.raises(Forbidden):
            await cases.view(ref, keyring, other)
        with pytest.raises(Forbidden):
            await Queue(env.store).list(other, Filters())
    with pytest.raises(Forbidden):
        await Handoffs(env.store, env.keys).list(a)


async def verified_case(env, op: Viewer, **kw) -> str:
    ref = await submit_case(env, **kw)
    cases = Console(env.store, env.keys)
    await cases.transition(ref, op, CaseState.in_contact)
    await cases.transition(ref, op, CaseState.verified)
    return ref


FORBIDDEN_WORDS = (
    "surrender",
    "voluntar",
    "volunteer",
    "defect",
    "desert",
    "own will",
    "gave himself",
    "hotline",
    "haven",
    "applicant",
    "code phrase",
    "здал",
    "добровіл",
    "добровол",
)


async def test_handoff_arrival_and_pow_record(env) -> None:
    op, co, other = await users(
        env,
        ("o", "operator", ""),
        ("c", "coordinator", "North,South"),
        ("x", "coordinator", "East"),
    )
    ref = await verified_case(env, op, address="77", wounded=True, group=2)
    handoffs = Handoffs(env.store, env.keys)
    sent: list[str] = []

    async def sender(session, contact, text, case_id) -> bool:
        sent.append(text)
        return True

    start = utcnow() + timedelta(hours=5)
    with pytest.raises(Forbidden):
        await handoffs.issue(
            co,
            ref,
            sector="East",
            meeting_point="x",
            window_start=start,
            window_end=start + timedelta(hours=1),
            signal="y",
            sender=sender,
            keyring=env.keyring(),
        )
    end = start + timedelta(minutes=30)
    issued = await issue_handoff(
        env,
        co,
        ref,
        meeting_point="Grid 1",
        start=start,
        end=end,
        signal="white cloth",
        sender=sender,
        handoffs=handoffs,
    )
    assert issued.sent and "만날 장소: Grid 1" in sent[0] and "무인기" in sent[0]
    keyring = env.keyring()
    with pytest.raises(CaseNotFound):
        await handoffs.card(other, issued.id, keyring)  # not their sector
    card = await handoffs.card(co, issued.id, keyring)
    assert card.meeting_point == "Grid 1" and card.code_phrase and card.code_cyrillic
    assert card.code_cyrillic != card.code_phrase  # Korean -> Cyrillic
    from haven.services.handoff import BadText

    with pytest.raises(BadText):
        await handoffs.pow_record(co, issued.id, keyring)  # not arrived yet
    assert await handoffs.outcome(co, issued.id, env.keyring(), arrived=True) == "arrived"
    record = await handoffs.pow_record(co, issued.id, keyring)
    text = json.dumps(record, ensure_ascii=False).lower()
    assert record["status"] == "captured" and record["state_of_health"] == "wounded"
    for word in FORBIDDEN_WORDS:
        assert word not in text, word
    assert "kursk sector" not in text and "evenings" not in text  # no answers leak in
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == ref))
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert case.state == "arrived"
    assert {"handoff.issued", "handoff.viewed", "handoff.outcome", "pow.export"} <= set(actions)


@pytest.mark.parametrize("lang", ["fr", "zh"])
async def test_handoff_card_reads_the_code_phrase_aloud(env, lang: str) -> None:
    """A typed reading (French) and a ruled one (Chinese) on the card, in Cyrillic."""
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "North"))
    ref = await verified_case(env, op, lang=lang)
    handoffs = Handoffs(env.store, env.keys)

    async def sender(session, contact, text, case_id) -> bool:
        return True

    start = utcnow() + timedelta(hours=5)
    issued = await handoffs.issue(
        co,
        ref,
        sector="North",
        meeting_point="Grid 1",
        window_start=start,
        window_end=start + timedelta(minutes=30),
        signal="white cloth",
        sender=sender,
        keyring=env.keyring(),
    )
    card = await handoffs.card(co, issued.id, env.keyring())
    assert card.lang == lang and len(card.code_phrase.split()) == 2
    assert card.code_cyrillic == code_phrase_reading(lang, card.code_phrase)
    assert re.fullmatch("[\u0400-\u04ff’ -]+", card.code_cyrillic), card.code_cyrillic


async def test_no_show_sends_the_case_back_to_verified(env) -> None:
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "*"))
    ref = await verified_case(env, op)
    handoffs = Handoffs(env.store, env.keys)
    start = utcnow()
    issued = await handoffs.issue(
        co,
        ref,
        sector="Any",
        meeting_point="p",
        window_start=start,
        window_end=start + timedelta(hours=1),
        signal="s",
        sender=None,
        keyring=env.keyring(),
    )
    assert not issued.sent  # no sender: the coordinator is told to phone
    from haven.services.handoff import BadText

    with pytest.raises(BadText):
        await handoffs.outcome(co, issued.id, env.keyring(), arrived=False, reason=None)
    await handoffs.outcome(co, issued.id, env.keyring(), arrived=False, reason="not_seen")
    assert [r.reference for r in await handoffs.ready(co)] == [ref]


async def test_reply_to_a_web_applicant_is_sealed_to_their_key(env) -> None:
    (op,) = await users(env, ("o", "operator", ""))
    ref = await submit_case(env, channel="web", address="web-session-1", lang="ru")
    applicants = Applicants(env.store, env.keys, hasher=FAST_HASHER)
    async with env.store.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.reference == ref))
    issued = await applicants.issue(case_id, "ru")
    cases = Console(env.store, env.keys)
    sent = await cases.reply(ref, op, None, canned="checking", keyring=env.keyring())
    assert sent.startswith("Мы проверяем")
    unlocked = await applicants.unlock(ref, issued.passphrase, "session")
    thread = await applicants.thread(unlocked)
    assert [t.text for t in thread if t.direction == "out"] == [sent]
    view = await cases.view(ref, env.keyring(), op)
    assert view.state == "in_contact" and view.messages[-1].content["text"] == sent


async def test_translation_tasks_in_the_queries(env) -> None:
    """On both databases: a translator's tasks are those of his languages that nobody else
    holds; he reaches no case; an operator reaches no task."""
    from haven.flows.inputs import Text
    from haven.services.intake import Intake
    from haven.services.translations import TaskNotFound, Translations
    from haven.store.models import Message

    op, ko1, ko2, ru = await users(
        env,
        ("o", "operator", ""),
        ("k1", "translator", ""),
        ("k2", "translator", ""),
        ("r", "translator", ""),
    )
    ko1 = Viewer(ko1.user_id, Role.translator, languages=frozenset({"ko"}))
    ko2 = Viewer(ko2.user_id, Role.translator, languages=frozenset({"ko"}))
    ru = Viewer(ru.user_id, Role.translator, languages=frozenset({"ru"}))
    ref = await submit_case(env, address="9001", lang="ko")
    await Intake(env.store, env.keys).handle("telegram", "9001", Text("안녕하십니까"))
    keyring = env.keyring()
    cases = Console(env.store, env.keys)
    translations = Translations(env.store, cases)
    async with env.store.transaction() as session:
        message = await session.scalar(select(Message.id).where(Message.kind == "text"))
    task = await translations.request(ref, op, "uk", keyring=keyring, message_id=message)
    again = await translations.request(ref, op, "uk", keyring=keyring, message_id=message)
    assert again == task
    assert [t.id for t in await translations.tasks(ko1)] == [task]
    assert await translations.tasks(ru) == []
    with pytest.raises(TaskNotFound):
        await translations.open(task, ru, keyring)
    assert (await translations.open(task, ko1, keyring)).text == "안녕하십니까"
    assert await translations.tasks(ko2) == []
    with pytest.raises(TaskNotFound):
        await translations.answer(task, ko2, "Добрий день", keyring=keyring)
    await translations.answer(task, ko1, "Добрий день", keyring=keyring)
    shown = await translations.of_case(ref, op, keyring)
    assert shown[f"m{message}"].text == "Добрий день" and not shown[f"m{message}"].machine
    for translator in (ko1, ko2, ru):
        with pytest.raises(Forbidden):
            await cases.view(ref, keyring, translator)
    with pytest.raises(Forbidden):
        await translations.tasks(op)
