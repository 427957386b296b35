"""Nothing identifying on disk in the clear, tried as a hostile service with a copy of the
database and the intake host's keys would: the raw database, its WAL and -shm (SQLite), or a
pg_dump (PostgreSQL), searched for every draft answer the routing key opens."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from haven import crypto
from haven.flows.inputs import Choice, Command
from haven.services.erasure import purge_drafts
from haven.services.intake import Intake
from haven.store.models import AuditEvent, Case, Contact, utcnow
from tests.conftest import Env, make_environ
from tests.security.inspect import hex_blobs, routing_plaintexts
from tests.steps import conversation
from tests.telegram.conftest import Chat, eventually, make_runtime  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]


def raw_sqlite(env: Env) -> bytes:
    db = env.settings.data_dir / "haven.db"
    return b"".join(
        path.read_bytes()
        for path in (db, db.with_name("haven.db-wal"), db.with_name("haven.db-shm"))
        if path.exists()
    )


def openable(env: Env, request: pytest.FixtureRequest) -> list[bytes]:
    """What the routing key opens anywhere in the database as an attacker would get it."""
    keys = env.keys
    if env.settings.is_sqlite:
        return routing_plaintexts(raw_sqlite(env), keys.routing_key, keys.routing_id)
    opened = []
    for blob in hex_blobs(request.getfixturevalue("pg").dump(env.db_name)):
        try:
            opened.append(keys.open_routing(blob))
        except crypto.BadEnvelope:
            continue
    return opened


async def until_truncated(env: Env, seconds: float = 15) -> None:
    """SQLite: wait (without asking) for the WAL to be emptied, as it must be within seconds
    of a submit or an erasure."""
    if not env.settings.is_sqlite:
        return
    wal = env.settings.data_dir / "haven.db-wal"
    deadline = time.monotonic() + seconds
    while wal.exists() and wal.stat().st_size > 0:
        assert time.monotonic() < deadline, "the WAL was not truncated within seconds"
        await asyncio.sleep(0.2)


def holds(found: list[bytes], marker: str) -> bool:
    return any(marker.encode() in plain for plain in found)


async def test_no_draft_answer_survives_a_submit_or_an_erasure(
    env: Env, request: pytest.FixtureRequest
) -> None:
    intake = Intake(env.store, env.keys)
    steps = conversation("SUBMITTED-A1")
    for inp in steps[:-1]:
        await intake.handle("telegram", "chat-a", inp)
    for inp in conversation("ERASED-B2")[:8]:
        await intake.handle("telegram", "chat-b", inp)
    # The attacker's search finds the drafts while they are drafts (so it could fail).
    found = openable(env, request)
    assert holds(found, "SUBMITTED-A1") and holds(found, "ERASED-B2")

    await intake.handle("telegram", "chat-a", steps[-1])  # submitted
    await intake.handle("telegram", "chat-b", Command("forget"))
    await intake.handle("telegram", "chat-b", Choice("forget_yes"))  # erased
    await until_truncated(env)
    found = openable(env, request)
    assert found, "the search opens nothing at all: it would not see a draft either"
    assert not holds(found, "SUBMITTED-A1")
    assert not holds(found, "ERASED-B2")


async def test_an_abandoned_questionnaire_is_erased(env: Env, request) -> None:
    intake = Intake(env.store, env.keys)
    for inp in conversation("ABANDONED-C3")[:8]:
        await intake.handle("telegram", "left", inp)
    for inp in conversation("FRESH-D4")[:8]:
        await intake.handle("telegram", "fresh", inp)
    done = None
    for inp in conversation("DONE-E5"):
        done = await intake.handle("telegram", "done", inp)
    left = intake.lookup("telegram", "left")
    async with env.store.transaction() as s:
        await s.execute(
            update(Contact)
            .where(Contact.lookup == left)
            .values(updated_at=utcnow() - timedelta(hours=73))
        )
        done_contact = intake.lookup("telegram", "done")
        await s.execute(
            update(Contact)
            .where(Contact.lookup == done_contact)
            .values(updated_at=utcnow() - timedelta(hours=100))
        )
    assert holds(openable(env, request), "ABANDONED-C3")
    assert await purge_drafts(env.store, 72) == 1
    assert await purge_drafts(env.store, 72) == 0
    await until_truncated(env)
    async with env.store.transaction() as s:
        lookups = set((await s.scalars(select(Contact.lookup))).all())
        states = dict((await s.execute(select(Case.reference, Case.state))).all())
        actions = (await s.scalars(select(AuditEvent.action))).all()
    assert left not in lookups and intake.lookup("telegram", "fresh") in lookups
    assert done is not None and states[done.reference] == "submitted"
    assert sorted(states.values()) == ["closed", "draft", "submitted"]
    assert actions.count("case.erased") == 1
    found = openable(env, request)
    assert holds(found, "FRESH-D4") and not holds(found, "ABANDONED-C3")


def run_haven(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "haven"), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_database_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # a data dir that already exists, open to others
    environ = make_environ(data)
    assert run_haven(environ, "init").returncode == 0
    assert run_haven(environ, "db", "upgrade").returncode == 0
    out = run_haven(environ, "chat", "--lang", "en")
    assert out.returncode == 0, out.stderr
    db = data / "haven.db"
    assert mode(data) == 0o700 and mode(db) == 0o600
    for extra in (data / "haven.db-wal", data / "haven.db-shm"):
        if extra.exists():
            assert mode(extra) == 0o600
    intake = {k: v for k, v in environ.items() if k != "HAVEN_PASSPHRASE"}
    os.chmod(db, 0o644)
    refused = run_haven(intake, "serve")
    assert refused.returncode == 2 and "open to others" in refused.stderr
    assert refused.stderr.count("\n") == 1
    os.chmod(db, 0o600)
    os.chmod(data, 0o750)
    refused = run_haven(intake, "serve")
    assert refused.returncode == 2 and "readable by others" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_a_telegram_conversation_leaves_no_draft_behind(
    sqlite_env: Env,
    fake,
    make_runtime,  # noqa: F811 - the fixture imported above
    request: pytest.FixtureRequest,
) -> None:
    """Through the bot and the outbox: once the summary (which repeats every answer) and the
    completion are sent, nothing the routing key opens holds an answer."""
    env = sqlite_env
    runtime = await make_runtime(env)
    chat = Chat(fake, 4711)
    await chat.say("/start")
    await chat.press("ko")
    await chat.press("kpa")
    await chat.press("alone")
    await chat.press("no")
    await chat.say("TELEGRAM-PLACE-8181")
    await chat.say("/skip")
    await chat.say("/skip")
    await chat.say("TELEGRAM-TIME-9292")
    summary = await chat.press("yes")
    assert any("TELEGRAM-PLACE-8181" in m.text for m in summary)
    assert holds(openable(env, request), "TELEGRAM-PLACE-8181")  # the draft, found
    await chat.press("confirm")
    await eventually(lambda: runtime.worker.stats.sent >= len(chat.received), 10, "all sent")
    await until_truncated(env)
    found = openable(env, request)
    assert found
    assert not holds(found, "TELEGRAM-PLACE-8181") and not holds(found, "TELEGRAM-TIME-9292")
