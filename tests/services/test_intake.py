"""The intake service against a real store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select, update

from haven.flows import Effect, Mode, State
from haven.flows.inputs import Choice, Command, Location, Text
from haven.services.admin import rotate_keys, verify_audit
from haven.services.cases import Cases
from haven.services.intake import Intake, PhotoData
from haven.store.models import Attachment, AuditEvent, Case, Contact, Message
from tests.conftest import PASSPHRASE, Env
from tests.steps import MARKER, conversation, submit


async def test_a_whole_conversation_makes_a_sealed_case(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    result = await submit(intake, "chat-1001", campaign="leaflet-a6-ko")
    assert result.effect is Effect.submit and result.reference
    texts = "\n".join(r.text for r in result.replies)
    assert result.reference in texts and "암호말" in texts
    async with env.store.transaction() as s:
        case = await s.scalar(select(Case))
        contact = await s.scalar(select(Contact))
        assert case.state == "submitted" and case.reference == result.reference
        assert (case.lang, case.channel, case.campaign) == ("ko", "telegram", "leaflet-a6-ko")
        assert case.group_size == 3 and case.wounded is True
        events = (await s.scalars(select(AuditEvent.action))).all()
        assert events == ["case.transition"]
        # The draft is erased once the answers are sealed to the case key.
        state = State.from_json(json.loads(env.keys.open_routing(contact.flow_state)))
        assert state.answers == {} and state.mode is Mode.submitted
    view = await Cases(env.store).read(result.reference, env.keyring(), actor="test")
    assert view.answers["answers"]["location"]["value"] == f"수드샤 근처 {MARKER}"
    assert len(view.code_phrase.split()) == 2
    async with env.store.transaction() as s:
        assert (await s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()[
            -1
        ] == "case.read"


async def test_messages_photos_and_erase(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    await submit(intake, "chat-2")
    out = await intake.handle("telegram", "chat-2", Text("I am at the point"))
    assert out.effect is Effect.message
    await intake.handle("telegram", "chat-2", Location(50.1, 36.2))
    await intake.handle("telegram", "chat-2", PhotoData(b"\xff\xd8 jpeg bytes"))
    async with env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 3
        assert await s.scalar(select(func.count()).select_from(Attachment)) == 1
    reference = out.lang and (
        await Cases(env.store).read((await _only_reference(env)), env.keyring(), actor="test")
    )
    assert [m.kind for m in reference.messages] == ["text", "location", "photo"]
    assert reference.messages[0].content == {"text": "I am at the point"}
    await intake.handle("telegram", "chat-2", Command("forget"))
    gone = await intake.handle("telegram", "chat-2", Choice("forget_yes"))
    assert gone.effect is Effect.erase
    async with env.store.transaction() as s:
        case = await s.scalar(select(Case))
        assert (case.state, case.close_reason, case.answers) == ("closed", "erased", None)
        assert await s.scalar(select(func.count()).select_from(Message)) == 0
        assert await s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert await s.scalar(select(func.count()).select_from(Contact)) == 0
    again = await intake.handle("telegram", "chat-2", Command("start"))
    assert again.replies and again.case_id != case.id  # a fresh start, a new draft


async def test_a_conversation_whose_case_is_gone_gets_a_new_draft(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    first = await intake.handle("web", "session-1", Command("start"))
    await intake.handle("web", "session-1", Choice("ko"))
    async with env.store.transaction() as s:  # as ON DELETE SET NULL would leave it
        await s.execute(update(Contact).values(case_id=None))
    out = await intake.handle("web", "session-1", Choice("kpa"))
    assert out.case_id != first.case_id and out.lang == "ko"
    async with env.store.transaction() as s:
        contact = await s.scalar(select(Contact))
        case = await s.get(Case, out.case_id)
        assert contact.case_id == out.case_id
        assert (case.state, case.channel, case.lang) == ("draft", "web", "ko")
    again = await intake.handle("web", "session-1", Choice("alone"))
    assert again.case_id == out.case_id


async def test_state_reads_where_a_conversation_stands_and_writes_nothing(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    assert await intake.state("web", "nobody") is None
    async with env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Contact)) == 0
    await intake.handle("web", "session-2", Command("start"))
    # Queued together, they run in one batch in order: the read sees the step before it.
    _, read, _, again = await asyncio.gather(
        intake.handle("web", "session-2", Choice("ko")),
        intake.state("web", "session-2"),
        intake.handle("web", "session-2", Choice("kpa")),
        intake.state("web", "session-2"),
    )
    assert read is not None and read.lang == "ko" and read.step == "who"
    assert again is not None and again.answers["who"]["value"] == "kpa"
    assert (await intake.state("web", "session-2")) == again
    await intake.handle("web", "session-2", Command("forget"))
    await intake.handle("web", "session-2", Choice("forget_yes"))
    assert await intake.state("web", "session-2") is None


async def test_an_input_queued_inside_a_transaction_is_refused_at_once(sqlite_env: Env) -> None:
    intake = Intake(sqlite_env.store, sqlite_env.keys)
    async with sqlite_env.store.transaction():  # holds SQLite's one writer
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(intake.handle("web", "s", Command("start")), 5)
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(intake.state("web", "s"), 5)
    assert (await intake.handle("web", "s", Command("start"))).replies  # and then it runs


async def test_inputs_waiting_when_the_store_closes_get_an_error(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    await intake.handle("web", "first", Command("start"))  # the store's thread is up
    waiting = [
        asyncio.ensure_future(intake.handle("web", f"s{n}", Command("start"))) for n in range(300)
    ]
    await asyncio.sleep(0.02)
    await env.store.close()
    done, pending = await asyncio.wait(waiting, timeout=10)
    assert not pending  # every caller has an answer: a result, or the error
    failed = [task.exception() for task in done if task.exception() is not None]
    assert all(isinstance(exc, RuntimeError) for exc in failed)
    with pytest.raises(RuntimeError):
        await intake.handle("web", "late", Command("start"))


async def _only_reference(env: Env) -> str:
    async with env.store.transaction() as s:
        return str(await s.scalar(select(Case.reference).where(Case.state == "submitted")))


async def test_photo_is_sealed_only_where_the_flow_asks_for_it(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    await intake.handle("web", "s1", Command("start"), lang="en")
    out = await intake.handle("web", "s1", PhotoData(b"photo"))
    assert "choose" in out.replies[0].text.lower()
    async with env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Attachment)) == 0


async def test_concurrent_applicants(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    results = await asyncio.gather(*(submit(intake, f"chat-{n}") for n in range(12)))
    refs = {r.reference for r in results}
    assert len(refs) == 12
    async with env.store.transaction() as s:
        assert (
            await s.scalar(select(func.count()).select_from(Case).where(Case.state == "submitted"))
            == 12
        )
    assert (await verify_audit(env.store, env.keyring())).ok


async def test_erased_and_back_within_one_batch(env: Env) -> None:
    """/forget confirmed and a new /start of the same chat in one transaction: the second
    input gets a new conversation with a new draft case, the erased case stays closed."""
    intake = Intake(env.store, env.keys)
    first = await intake.handle("telegram", "chat-7", Command("start"))
    await intake.handle("telegram", "chat-7", Command("forget"))
    erased, again = await asyncio.gather(
        intake.handle("telegram", "chat-7", Choice("forget_yes")),
        intake.handle("telegram", "chat-7", Command("start")),
    )
    assert erased.effect is Effect.erase and erased.case_id == first.case_id
    assert again.case_id != first.case_id and again.replies
    async with env.store.transaction() as s:
        states = dict((await s.execute(select(Case.id, Case.state))).all())
        contact = await s.scalar(select(Contact))
    assert states == {first.case_id: "closed", again.case_id: "draft"}
    assert contact is not None and contact.case_id == again.case_id


async def test_audit_chain_detects_an_edited_row(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    for n in range(3):
        await submit(intake, f"c{n}")
    assert (await verify_audit(env.store, env.keyring())).checked == 3
    async with env.store.transaction() as s:
        second = (await s.scalars(select(AuditEvent.id).order_by(AuditEvent.id))).all()[1]
        await s.execute(
            update(AuditEvent).where(AuditEvent.id == second).values(actor="someone-else")
        )
    verdict = await verify_audit(env.store, env.keyring())
    assert not verdict.ok and verdict.broken_id == second


async def test_key_rotation_reseals_everything(env: Env) -> None:
    intake = Intake(env.store, env.keys)
    result = await submit(intake, "rot")
    await intake.handle("telegram", "rot", Text("after"))
    count = await rotate_keys(env.store, env.settings.keys_dir, PASSPHRASE, "interactive")
    assert count == 3  # answers, code phrase, one message
    from haven import crypto

    keyring = crypto.unlock(env.settings.keys_dir, PASSPHRASE)
    assert len(keyring.key_ids) == 2  # the old one kept until forget-retired
    view = await Cases(env.store).read(result.reference, keyring, actor="test")
    assert view.messages[0].content == {"text": "after"}


async def test_no_marker_in_the_raw_database(env: Env, request) -> None:
    """Answers, messages, photos and chat ids never reach the database in plaintext."""
    intake = Intake(env.store, env.keys)
    address = f"{MARKER}-chat"
    await submit(intake, address)
    await intake.handle("telegram", address, Text(f"later {MARKER}"))
    # and one applicant left half-way: the draft too is sealed
    for inp in conversation()[:8]:
        await intake.handle("telegram", f"{MARKER}-draft", inp)
    if env.settings.is_sqlite:
        db = env.settings.data_dir / "haven.db"
        raw = db.read_bytes()
        wal = db.with_name("haven.db-wal")
        assert wal.exists() and wal.stat().st_size > 0  # WAL mode, and not checkpointed away
        raw += wal.read_bytes()
    else:
        raw = request.getfixturevalue("pg").dump(env.db_name)
        assert b"CREATE TABLE public.cases" in raw
    assert len(raw) > 10_000
    for form in (MARKER, "수드샤"):
        assert form.encode("utf-8") not in raw
        assert form.encode("utf-16-le") not in raw


async def test_a_campaign_code_typed_from_a_leaflet_is_recorded(env: Env) -> None:
    from haven.store.models import Campaign

    async with env.store.transaction() as s:
        s.add(Campaign(code="kursk-a1", name="Kursk drop", kind="leaflet", langs="ko", sector=""))
    intake = Intake(env.store, env.keys)
    first = await intake.handle("telegram", "typed", Command("start"))
    typed = await intake.handle("telegram", "typed", Text("  Kursk-A1 "))
    # noted in every language (none chosen yet), and the same question asked again
    assert "kursk-a1" in typed.replies[0].text and "부호" in typed.replies[0].text
    assert typed.replies[-1] == first.replies[-1]
    await intake.handle("telegram", "typed", Choice("ko"))
    unknown = await intake.handle("telegram", "typed", Text("orel-b7"))  # not a campaign
    assert "orel-b7" not in unknown.replies[0].text
    result = await submit(intake, "typed2")
    await intake.handle("telegram", "typed2", Text("kursk-a1"))  # after submission: a message
    async with env.store.transaction() as s:
        campaigns = dict((await s.execute(select(Case.reference, Case.campaign))).all())
        assert campaigns[result.reference] is None
        assert "kursk-a1" in campaigns.values()
