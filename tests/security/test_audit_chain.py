"""The audit log against a database writer who holds everything the database and intake
hosts hold (the database, the routing key, case.pub, the wrapped case.key): deleting an event
and recomputing the chain in every way open to him, cutting events off the end, replacing the
whole chain; then a head kept elsewhere."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import delete, select, update

from haven import crypto
from haven.services.admin import audit_head, verify_audit
from haven.services.intake import Intake
from haven.store import audit
from haven.store.models import AuditChain, AuditEvent
from tests.conftest import Env
from tests.security.test_disk import raw_sqlite, until_truncated
from tests.test_cli import haven
from tests.test_intake import submit


async def five_events(env: Env) -> list[AuditEvent]:
    intake = Intake(env.store, env.keys)
    for n in range(5):
        await submit(intake, f"audit-{n}")
    async with env.store.transaction() as s:
        return list((await s.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


async def relink(env: Env, link, key: bytes | None) -> None:
    """The attacker recomputes every link (and the chain row) with what he has."""
    async with env.store.transaction() as s:
        prev, current = audit.GENESIS, key
        events = (await s.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        for event in events:
            event.prev_hash = prev
            event.hash = prev = link(current, prev, event)
            if current is not None:
                current = crypto.audit_next_key(current)
        chain = await s.get(AuditChain, 1)
        chain.head, chain.last_id = prev, events[-1].id
        if current is not None:
            chain.key = env.keys.chain.seal(current)  # he holds the routing key


def plain(_key: bytes | None, prev: str, event: AuditEvent) -> str:
    body = audit._canonical(
        event.id, event.at, event.actor, event.action, event.case_id, event.detail
    )
    return hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()


def keyed(key: bytes | None, prev: str, event: AuditEvent) -> str:
    assert key is not None
    return audit.link_of(key, prev, event)


@pytest.mark.parametrize("attack", ["plain-hash", "db-key", "own-key", "routing-key"])
async def test_a_deleted_event_cannot_be_hidden(env: Env, attack: str) -> None:
    events = await five_events(env)
    keyring = env.keyring()
    assert (await verify_audit(env.store, keyring)).ok
    async with env.store.transaction() as s:
        held = env.keys.chain.open((await s.get(AuditChain, 1)).key)  # the database's key
        await s.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    if attack == "plain-hash":
        await relink(env, plain, None)
    elif attack == "db-key":
        await relink(env, keyed, held)
    elif attack == "own-key":
        await relink(env, keyed, b"\x07" * 32)
    else:
        derived = hashlib.blake2b(b"audit", key=env.keys.routing_key).digest()[:32]
        await relink(env, keyed, derived)
    verdict = await verify_audit(env.store, keyring)
    assert not verdict.ok and verdict.checked == 0


async def test_events_cut_off_the_end_are_noticed(env: Env) -> None:
    events = await five_events(env)
    async with env.store.transaction() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.id >= events[3].id))
        await s.execute(update(AuditChain).values(head=events[2].hash, last_id=events[2].id))
    verdict = await verify_audit(env.store, env.keyring())
    assert not verdict.ok and "end" in verdict.why and verdict.checked == 3


async def test_a_head_kept_elsewhere(env: Env) -> None:
    events = await five_events(env)
    pinned = await audit_head(env.store)
    assert pinned.last_id == events[-1].id
    await submit(Intake(env.store, env.keys), "after-the-head")
    assert (await verify_audit(env.store, env.keyring(), pinned)).ok
    # An edited event before the head: the chain breaks there.
    async with env.store.transaction() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.id == events[2].id).values(actor="x"))
    verdict = await verify_audit(env.store, env.keyring(), pinned)
    assert not verdict.ok and verdict.broken_id == events[2].id
    # A head that is not this log's.
    other = audit.Head(events[-1].id, "ab" * 32)
    async with env.store.transaction() as s:
        await s.execute(
            update(AuditEvent).where(AuditEvent.id == events[2].id).values(actor="intake")
        )
    assert (await verify_audit(env.store, env.keyring())).ok
    verdict = await verify_audit(env.store, env.keyring(), other)
    assert not verdict.ok and "pinned" in verdict.why


async def test_audit_head_and_verify_on_the_command_line(sqlite_env: Env) -> None:
    await five_events(sqlite_env)
    head = haven(sqlite_env.environ, "audit", "head")
    assert head.returncode == 0, head.stderr
    pinned = head.stdout.strip()
    ok = haven(sqlite_env.environ, "audit", "verify", "--head", pinned)
    assert ok.returncode == 0 and "intact: 5 events" in ok.stdout
    for bad in ("nonsense", "12:zz", f"{pinned}0"):
        out = haven(sqlite_env.environ, "audit", "verify", "--head", bad)
        assert out.returncode == 2 and out.stderr.startswith("haven: --head:"), bad
        assert "Traceback" not in out.stderr
    wrong = haven(
        sqlite_env.environ | {"HAVEN_PASSPHRASE": "not the passphrase"}, "audit", "verify"
    )
    assert wrong.returncode == 2 and "passphrase" in wrong.stderr
    async with sqlite_env.store.transaction() as s:
        first = await s.scalar(select(AuditEvent.id).order_by(AuditEvent.id).limit(1))
        await s.execute(delete(AuditEvent).where(AuditEvent.id == first))
    broken = haven(sqlite_env.environ, "audit", "verify", "--head", pinned)
    assert broken.returncode == 1 and "BROKEN" in broken.stderr


def database_files(env: Env, request: pytest.FixtureRequest) -> bytes:
    """Every byte of the database as its host holds it: SQLite's files, or PostgreSQL's data
    directory (tables and write-ahead log)."""
    if env.settings.is_sqlite:
        return raw_sqlite(env)
    server = request.getfixturevalue("pg")
    server.psql("CHECKPOINT")
    return b"".join(path.read_bytes() for path in sorted(server.data.rglob("*")) if path.is_file())


async def test_the_database_host_keeps_no_earlier_chain_key(
    env: Env, request: pytest.FixtureRequest
) -> None:
    if not env.settings.is_sqlite:
        pytest.xfail(
            "known, open: PostgreSQL keeps earlier row versions of the chain's key until "
            "VACUUM; a head kept elsewhere still catches a rewrite (docs/threat-model.md)"
        )
    """The chain holds only while the database host cannot get back a key it held before:
    with one, it rewrites every event after it and ``verify`` finds nothing. SQLite overwrites
    the chain row and truncates its log; PostgreSQL keeps every earlier row version (dead
    tuples until a VACUUM reuses the space, and every UPDATE in its write-ahead log)."""
    intake = Intake(env.store, env.keys)
    await submit(intake, "before-0")
    async with env.store.transaction() as s:
        chain = await s.get(AuditChain, 1)
        earlier, from_id, prev = bytes(chain.key), chain.last_id, chain.head
    for n in range(3):
        await submit(intake, f"after-{n}")
    await until_truncated(env)
    raw = database_files(env, request)
    if earlier not in raw:
        return  # nothing the host holds gives the key back
    # The host found it: it deletes an event after that point and relinks from there.
    async with env.store.transaction() as s:
        later = (
            await s.scalars(
                select(AuditEvent).where(AuditEvent.id > from_id).order_by(AuditEvent.id)
            )
        ).all()
        await s.execute(delete(AuditEvent).where(AuditEvent.id == later[0].id))
        key = earlier
        for event in later[1:]:
            event.prev_hash = prev
            event.hash = prev = audit.link_of(key, prev, event)
            key = crypto.audit_next_key(key)
        chain = await s.get(AuditChain, 1)
        chain.key, chain.head, chain.last_id = key, prev, later[-1].id
    verdict = await verify_audit(env.store, env.keyring())
    assert not verdict.ok, "an earlier chain key on the database host rewrote the log unseen"
