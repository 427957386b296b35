"""Where and when a crossing happens, as a copy of the database shows it: nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from haven.services.handoff import Handoffs
from haven.store.models import AuditEvent, Handoff, User
from tests.conftest import Env
from tests.console.test_services import users, verified_case
from tests.security.steps import issue_handoff
from tests.security.test_disk import raw_sqlite

SECTOR = "Zeta-Sector-4471"
START = datetime(2031, 7, 13, 4, 37)
END = datetime(2031, 7, 13, 5, 52)


async def test_a_handoff_says_nothing_to_a_database_copy(env: Env, request) -> None:
    # A coordinator of every sector issues it (the sectors a coordinator covers are account
    # settings, kept in the users table: see docs/threat-model.md).
    op, co, east = await users(
        env, ("o", "operator", ""), ("c", "coordinator", "*"), ("e", "coordinator", "East")
    )
    ref = await verified_case(env, op, address="ho-1", group=4, wounded=True)
    handoffs = Handoffs(env.store, env.keys)
    issued = await issue_handoff(
        env,
        co,
        ref,
        sector=SECTOR,
        meeting_point="Grid 9",
        signal="red torch",
        start=START,
        end=END,
    )
    if env.settings.is_sqlite:
        await env.store.settle()
        raw = raw_sqlite(env)
    else:
        raw = request.getfixturevalue("pg").dump(env.db_name)
    assert b"handoffs" in raw and len(raw) > 10_000
    for secret in (SECTOR, "2031-07-13", "04:37", "Grid 9", "red torch"):
        assert secret.encode() not in raw, secret
    async with env.store.transaction() as s:
        details = " ".join((await s.scalars(select(AuditEvent.detail))).all())
    assert SECTOR not in details and "2031" not in details
    # Coordinators see the cards of their sectors, found by the keyed hash.
    assert [r.id for r in await handoffs.list(co, env.keyring())] == [issued.id]
    (scoped,) = await users(env, ("s", "coordinator", f"North,{SECTOR}"))
    assert [r.id for r in await handoffs.list(scoped, env.keyring())] == [issued.id]
    assert await handoffs.list(east, env.keyring()) == []
    opened = (await handoffs.list(co, env.keyring()))[0]
    assert (opened.sector, opened.window_start, opened.window_end) == (SECTOR, START, END)
    assert (opened.group_size, opened.wounded) == (4, True)
    locked = (await handoffs.list(co, None))[0]
    assert locked.sector == "" and locked.window_start is None and locked.group_size is None
    card = await handoffs.card(co, issued.id, env.keyring())
    assert card.row.sector == SECTOR and card.meeting_point == "Grid 9"


@pytest.mark.parametrize("sectors", ["zeta-sector-4471", "Zeta-Sector-447"])
async def test_a_near_miss_sector_sees_nothing(env: Env, sectors: str) -> None:
    op, co, other = await users(
        env, ("o", "operator", ""), ("c", "coordinator", SECTOR), ("x", "coordinator", sectors)
    )
    ref = await verified_case(env, op, address="ho-2")
    await issue_handoff(env, co, ref, sector=SECTOR, start=START, end=END)
    assert await Handoffs(env.store, env.keys).list(other, env.keyring()) == []


async def test_the_intake_host_cannot_tell_where_a_crossing_happens(sqlite_env: Env) -> None:
    """The intake host holds the routing key, and the sectors are few and written in the
    clear beside it (a coordinator's sectors in ``users``, campaigns' drop zones): a keyed
    hash under the routing key gives every hand-off's sector back, and ``issued_at`` its day."""
    env = sqlite_env
    op, _all, _north = await users(
        env, ("o", "operator", ""), ("c", "coordinator", "*"), ("n", "coordinator", SECTOR)
    )
    ref = await verified_case(env, op, address="ho-2")
    await issue_handoff(env, _all, ref, sector=SECTOR, start=START, end=END)
    # The intake host: the database and routing.key. Candidate sectors from the users table.
    async with env.store.transaction() as s:
        candidates = {
            sector
            for text in (await s.scalars(select(User.sectors))).all()
            for sector in text.split(",")
            if sector and sector != "*"
        }
        stored = (await s.scalars(select(Handoff.sector_key))).all()
    guessed = {
        sector
        for sector in candidates
        for key in stored
        if env.keys.lookup("handoff-sector", sector) == key
    }
    assert not guessed, f"the intake host found the crossing's sector: {guessed}"
