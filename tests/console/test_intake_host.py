"""A seized or compromised intake host (threat model, adversary 2) against the console: it
writes the database the console reads its accounts and sessions from."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from haven.console.app import SESSION_COOKIE
from haven.store.models import ConsoleSession, User, utcnow
from tests.console.conftest import submit_case


@pytest.mark.xfail(
    strict=True,
    reason="known, open: console sessions and accounts are not yet authenticated against a "
    "database writer (docs/threat-model.md, adversary 2)",
)
async def test_a_database_writer_cannot_open_a_console_session(sqlite_env, make_console) -> None:
    """The intake must write the database, and console sessions live there as an unkeyed
    SHA-256 of their token: a row the intake adds for a token of its own choosing is a full
    operator session on the console (127.0.0.1:8001 on the same host under ``make run``),
    which shows every case in the clear once the console is unlocked."""
    console = await make_console(sqlite_env)
    reference = await submit_case(sqlite_env)
    await console.user("reader", "operator")  # a genuine operator exists
    # What the intake host holds: the database. Nothing of the console's.
    token = "planted-by-the-intake-host-" + "x" * 20
    async with sqlite_env.store.transaction() as session:
        uid = await session.scalar(select(User.id).where(User.name == "reader"))
        now = utcnow()
        session.add(
            ConsoleSession(
                id=hashlib.sha256(token.encode()).hexdigest(),
                user_id=uid,
                stage="full",
                csrf="c" * 32,
                created_at=now,
                last_seen=now,
            )
        )
    attacker = console.client()
    page = await attacker.get(
        f"/console/cases/{reference}", headers={"cookie": f"{SESSION_COOKIE}={token}"}
    )
    assert "Kursk sector" not in page.text, "the intake host read a case through the console"
    assert page.status_code != 200
