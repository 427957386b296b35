"""Translators and machine translation through the console over HTTP: what a translator sees
(the text alone), what he cannot reach, the machine translation from a fake LibreTranslate
on loopback, and the audit of every view and write."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from haven.flows.inputs import Choice, Command, Text
from haven.services.intake import Intake
from haven.services.machine import LibreTranslate, MachineError
from haven.settings import load_settings
from haven.store.models import AuditEvent, Case, Message, Translation
from tests.conftest import Env
from tests.console.conftest import submit_case
from tests.fakelibre import FakeLibreTranslate

TASK = re.compile(r'href="/console/translations/([0-9a-f]{32})"')


@pytest.fixture
async def libre() -> AsyncIterator[FakeLibreTranslate]:
    server = await FakeLibreTranslate(api_key="k3y").start()
    try:
        yield server
    finally:
        await server.stop()


async def _message_id(env, reference: str) -> int:
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == reference))
        return int(
            await session.scalar(
                select(Message.id).where(Message.case_id == case.id, Message.kind == "text")
            )
        )


async def _actions(env) -> list[tuple[str, str, int | None, dict]]:
    async with env.store.transaction() as session:
        rows = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        return [(r.actor, r.action, r.case_id, json.loads(r.detail)) for r in rows]


async def test_translator_sees_only_the_text(sqlite_env, make_console) -> None:
    env = sqlite_env
    console = await make_console(env)
    reference = await submit_case(env, address="7001", lang="ko")
    await Intake(env.store, env.keys).handle(
        "telegram", "7001", Text("저는 수드샤 근처에 있습니다")
    )
    other = await submit_case(env, address="7002", lang="ru")
    await Intake(env.store, env.keys).handle("telegram", "7002", Text("Я рядом с Суджей"))
    op = await console.user("olena", "operator", lang="uk")
    ko = await console.user("min", "translator", languages="ko, zz1")
    ko2 = await console.user("jun", "translator", languages="ko")
    ru = await console.user("ivan", "translator", languages="ru")

    message = await _message_id(env, reference)
    r = await op.post(f"/console/cases/{reference}/translate", message=str(message))
    assert r.status_code == 303, r.text
    r = await op.post(f"/console/cases/{reference}/translate", step="contact")
    assert r.status_code == 303, r.text
    page = (await op.client.get(f"/console/cases/{reference}")).text
    assert page.count("Перекладача попросили.") == 2
    # Nothing to translate in a choice answer, or in another case's message.
    assert (await op.post(f"/console/cases/{reference}/translate", step="who")).status_code == 400
    foreign = await _message_id(env, other)
    r = await op.post(f"/console/cases/{reference}/translate", message=str(foreign))
    assert r.status_code == 400

    listing = (await ko.client.get("/console/translations")).text
    tasks = TASK.findall(listing)
    assert len(tasks) == 2
    assert reference not in listing and "olena" not in listing
    task_page = await ko.client.get(f"/console/translations/{tasks[0]}")
    assert task_page.status_code == 200
    text = task_page.text
    assert "저는 수드샤 근처에 있습니다" in text
    # Nothing of the case: no reference, no other message, no answer, no operator.
    for leak in (reference, "here, evenings", "Kursk sector", "olena", "/cases/"):
        assert leak not in text, leak

    # Held by the first translator: another of the same language cannot open it, a
    # translator of another language sees none of it, nor does anyone an unknown id.
    assert tasks[0] not in (await ko2.client.get("/console/translations")).text
    assert (await ko2.client.get(f"/console/translations/{tasks[0]}")).status_code == 404
    assert (await ko2.post(f"/console/translations/{tasks[0]}", text="x")).status_code == 404
    assert (await ru.client.get(f"/console/translations/{tasks[0]}")).status_code == 404
    assert TASK.findall((await ru.client.get("/console/translations")).text) == []
    assert (await ko.client.get("/console/translations/" + "f" * 32)).status_code == 404
    assert (await ko.client.get("/console/translations/../cases")).status_code == 404
    # A translator reaches no case, reference or queue.
    for path in (
        f"/console/cases/{reference}",
        "/console/queue",
        f"/console/cases/{reference}/messages",
    ):
        assert (await ko.client.get(path)).status_code == 403, path

    r = await ko.post(f"/console/translations/{tasks[0]}", text="Я біля Суджі")
    assert r.status_code == 303
    # Translated: nobody opens it again, the translator who wrote it neither.
    assert (await ko.client.get(f"/console/translations/{tasks[0]}")).status_code == 404
    page = (await op.client.get(f"/console/cases/{reference}")).text
    assert "Я біля Суджі" in page and "저는 수드샤 근처에 있습니다" in page

    async with env.store.transaction() as session:
        row = await session.get(Translation, tasks[0])
        assert row is not None and b"\xd0\xaf" not in row.human  # sealed, not plaintext
    actions = [(a, case_id) for _actor, a, case_id, _d in await _actions(env)]
    for action in (
        "translation.requested",
        "translation.opened",
        "translation.written",
        "translation.read",
    ):
        assert any(a == action and case_id is not None for a, case_id in actions), action


async def test_machine_translation_until_a_human_one(sqlite_env, make_console, libre) -> None:
    environ = {**sqlite_env.environ, "HAVEN_TRANSLATE_URL": libre.url}
    environ["HAVEN_TRANSLATE_API_KEY"] = "k3y"
    env = Env(load_settings(environ), environ, sqlite_env.store, sqlite_env.keys)
    console = await make_console(env)
    reference = await submit_case(env, address="7101", lang="ko")
    await Intake(env.store, env.keys).handle("telegram", "7101", Text("배가 고픕니다"))
    op = await console.user("olena", "operator", lang="uk")
    tr = await console.user("min", "translator", languages="ko")
    message = await _message_id(env, reference)
    await op.post(f"/console/cases/{reference}/translate", message=str(message))
    assert libre.requests == [
        {"q": "배가 고픕니다", "source": "ko", "target": "uk", "format": "text", "api_key": "k3y"}
    ]
    page = (await op.client.get(f"/console/cases/{reference}")).text
    assert "[MT ko-&gt;uk] 배가 고픕니다" in page
    assert 'class="translation machine"' in page
    task = TASK.findall((await tr.client.get("/console/translations")).text)[0]
    await tr.post(f"/console/translations/{task}", text="Я голодний")
    page = (await op.client.get(f"/console/cases/{reference}")).text
    assert "Я голодний" in page and "[MT" not in page and "translation machine" not in page
    assert "배가 고픕니다" in page  # the original stays beside it


async def test_machine_translation_failures(libre) -> None:
    client = LibreTranslate(libre.url, api_key="wrong", timeout=2, max_chars=10)
    with pytest.raises(MachineError):
        await client.translate("hello", "en", "uk")  # 403
    with pytest.raises(MachineError):
        await client.translate("x" * 11, "en", "uk")  # over the size cap, never sent
    assert len(libre.requests) == 1
    down = LibreTranslate("http://127.0.0.1:9", timeout=1)
    with pytest.raises(MachineError):
        await down.translate("hello", "en", "uk")


async def test_forget_erases_the_translations(sqlite_env, make_console) -> None:
    env = sqlite_env
    console = await make_console(env)
    reference = await submit_case(env, address="7201", lang="ko")
    intake = Intake(env.store, env.keys)
    await intake.handle("telegram", "7201", Text("제 이름은 김철수입니다"))
    op = await console.user("olena", "operator", lang="uk")
    message = await _message_id(env, reference)
    await op.post(f"/console/cases/{reference}/translate", message=str(message))
    await op.post(f"/console/cases/{reference}/translate", step="contact")
    async with env.store.transaction() as session:
        assert len((await session.scalars(select(Translation))).all()) == 2
    await intake.handle("telegram", "7201", Command("forget"))
    await intake.handle("telegram", "7201", Choice("forget_yes"))
    async with env.store.transaction() as session:
        assert (await session.scalars(select(Translation))).all() == []
