"""The audit log against a database writer who holds everything the database and intake
hosts hold (the database, the routing key, case.pub, the wrapped case.key): deleting an event
and recomputing the chain in every way open to him, cutting events off the end, replacing the
whole chain; then a head kept elsewhere."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, text, update

from haven import crypto
from haven.services.admin import audit_head, prepare_database, verify_audit
from haven.services.intake import Intake
from haven.store import audit, migrate
from haven.store.models import AuditChain, AuditEvent, utcnow
from tests.conftest import Env
from tests.security.test_disk import raw_sqlite, until_truncated
from tests.steps import haven, submit


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


def every_key(first: bytes, count: int) -> list[bytes]:
    """The keys of a chain's first ``count`` events, then the key for the next one."""
    keys = [first]
    for _ in range(count):
        keys.append(crypto.audit_next_key(keys[-1]))
    return keys


async def rewrite_with(env: Env, key: bytes) -> audit.Verdict | None:
    """The host's attack with a chain key it found: the event that key belongs to gets
    another actor, and every link from there on is recomputed with the keys that follow from
    it. The chain's row stays as it is (the events keep their places, so its key is still
    the right one at the end). None if the key belongs to no event of the log."""
    async with env.store.transaction() as s:
        events = (await s.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        at = next((i for i, e in enumerate(events) if keyed(key, e.prev_hash, e) == e.hash), None)
        if at is None:
            return None
        events[at].actor = "nobody"
        prev, current = events[at].prev_hash, key
        for event in events[at:]:
            event.prev_hash = prev
            event.hash = prev = audit.link_of(current, prev, event)
            current = crypto.audit_next_key(current)
        chain = await s.get(AuditChain, 1)
        chain.head = prev
    return await verify_audit(env.store, env.keyring())


def sealed_chain_keys(raw: bytes, chain: crypto.ChainKeys) -> set[bytes]:
    """Every sealed chain key in raw bytes: the envelope's header, then nonce, key and MAC."""
    header = crypto.MAGIC + bytes([crypto.VERSION]) + crypto.KIND_CHAIN + chain.key_id
    size = len(header) + 24 + crypto.AUDIT_KEY_BYTES + 16
    found, at = set(), raw.find(header)
    while at >= 0:
        found.add(raw[at : at + size])
        at = raw.find(header, at + 1)
    return found


@pytest.mark.own_keys
async def test_the_database_host_keeps_no_earlier_chain_key(
    env: Env, request: pytest.FixtureRequest
) -> None:
    """The chain holds only while the database host cannot get back a key it held before:
    with one, it rewrites every event after it and ``verify`` finds nothing. SQLite overwrites
    the chain row and truncates its log; PostgreSQL keeps every earlier row version (dead
    tuples until a VACUUM reuses the space, and every UPDATE in its write-ahead log), which
    hold the key sealed under the routing key, which the database host does not have."""
    intake = Intake(env.store, env.keys)
    for n in range(4):
        await submit(intake, f"chain-{n}")
    await until_truncated(env)
    raw = database_files(env, request)
    keyring = env.keyring()
    async with env.store.transaction() as s:
        count = len((await s.scalars(select(AuditEvent.id))).all())
        held = (await s.get(AuditChain, 1)).key
    keys = every_key(keyring.audit_key, count)
    earlier = keys[:-1]
    # The host's search: any earlier key, in the clear, anywhere in its files. With one it
    # rewrites the log from there.
    for key in [k for k in earlier if k in raw]:
        verdict = await rewrite_with(env, key)
        assert verdict is not None and not verdict.ok, (
            "an earlier chain key on the database host rewrote the log unseen"
        )
    assert (await verify_audit(env.store, keyring)).ok
    # What it holds instead: the key sealed, the current version and (PostgreSQL) earlier
    # ones, which the routing key opens. A host that holds both has them back (the limit
    # docs/threat-model.md states); the database host does not.
    chain = env.keys.chain
    sealed = sealed_chain_keys(raw, chain)
    assert held in sealed and chain.open(held) == keys[-1]
    opened = {chain.open(blob) for blob in sealed}
    assert opened <= set(keys)
    if not env.settings.is_sqlite:
        assert opened & set(earlier), "PostgreSQL's files were expected to keep earlier versions"


def downgrade_to(connection: Any, target: str) -> None:
    cfg = migrate.alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, target)


async def as_before_the_key_was_sealed(env: Env) -> None:
    """Set the database back to revision 0009, whose chain row held the key in plaintext
    (the revisions after 0010 undone first, as Alembic does)."""
    async with env.store.engine.begin() as conn:
        await conn.run_sync(downgrade_to, "0010")
    async with env.store.transaction() as s:
        chain = await s.get(AuditChain, 1)
        chain.key = env.keys.chain.open(chain.key)
        await s.execute(text("ALTER TABLE audit_chain DROP COLUMN rekeyed_after"))
        for later in ("rate_counters", "shared_values"):  # the revisions after 0010
            await s.execute(text(f"DROP TABLE IF EXISTS {later}"))
        await s.execute(
            text(
                "UPDATE alembic_version SET version_num = '0009' "
                "WHERE version_num IN ('0010', '0013')"
            )
        )


async def append_as_before(env: Env, action: str) -> None:
    """An event appended as haven did before it sealed the chain's key: the row's UPDATE
    leaves the key it replaces in plaintext where PostgreSQL keeps earlier row versions."""
    async with env.store.transaction() as s:
        row = (await s.execute(text("SELECT key, head FROM audit_chain WHERE id = 1"))).one()
        key, head = bytes(row.key), row.head
        event = AuditEvent(
            at=utcnow(), actor="intake", action=action, detail="{}", prev_hash=head, hash=""
        )
        s.add(event)
        await s.flush()
        event.hash = audit.link_of(key, head, event)
        await s.execute(
            text("UPDATE audit_chain SET key = :key, head = :head, last_id = :id WHERE id = 1"),
            {"key": crypto.audit_next_key(key), "head": event.hash, "id": event.id},
        )


async def test_keys_left_in_plaintext_before_the_upgrade_lead_nowhere(
    env: Env, request: pytest.FixtureRequest
) -> None:
    """A database from before the key was sealed: ``haven db upgrade`` seals it and rekeys
    the chain with the routing key, so that the plaintext keys its host (PostgreSQL: dead
    tuples, WAL, old backups) kept from before lead to no rewrite, of the events before the
    upgrade or after it."""
    intake = Intake(env.store, env.keys)
    await submit(intake, "old-0")
    await as_before_the_key_was_sealed(env)
    for n in range(3):
        await append_as_before(env, f"old.{n}")
    assert await migrate.pending(env.store.engine)
    await prepare_database(env.store, env.settings.keys_dir)
    assert not await migrate.pending(env.store.engine)
    async with env.store.transaction() as s:
        ids = (await s.scalars(select(AuditEvent.id).order_by(AuditEvent.id))).all()
        chain = await s.get(AuditChain, 1)
        assert chain.rekeyed_after == ids[-1] and env.keys.chain.open(chain.key)  # sealed
    await prepare_database(env.store, env.settings.keys_dir)  # a second upgrade does nothing
    for n in range(2):
        await submit(intake, f"new-{n}")
    keyring = env.keyring()
    assert (await verify_audit(env.store, keyring)).ok
    await until_truncated(env)
    raw = database_files(env, request)
    # The key of every event before the upgrade, and the next one, all kept in plaintext.
    plaintext = every_key(keyring.audit_key, len(ids))
    found = [key for key in plaintext if key in raw]
    if not env.settings.is_sqlite:
        assert len(found) > 1, "PostgreSQL's files were expected to keep the plaintext keys"
    tried = 0
    for key in found:
        verdict = await rewrite_with(env, key)
        if verdict is None:
            continue  # the key for the next event: no event was ever linked with it
        tried += 1
        assert not verdict.ok and verdict.broken_id is not None, "a plaintext key rewrote the log"
    assert tried or env.settings.is_sqlite


async def test_the_log_set_back_to_an_earlier_state_is_caught_by_a_head(env: Env) -> None:
    """What sealing the key cannot stop: the host puts back an earlier version of the chain's
    row (PostgreSQL keeps them, and so does any backup) and deletes the events after it.
    Every link and key of what is left is genuine: only a head taken later and kept
    elsewhere shows it."""
    events = await five_events(env)
    async with env.store.transaction() as s:
        chain = await s.get(AuditChain, 1)
        version = {"key": bytes(chain.key), "head": chain.head, "last_id": chain.last_id}
    await submit(Intake(env.store, env.keys), "after-the-version")
    pinned = await audit_head(env.store)
    async with env.store.transaction() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.id > events[-1].id))
        await s.execute(update(AuditChain).values(**version))
    assert (await verify_audit(env.store, env.keyring())).ok  # the limit, without a head
    verdict = await verify_audit(env.store, env.keyring(), pinned)
    assert not verdict.ok and "pinned" in verdict.why


@pytest.mark.parametrize("forged", ["plaintext", "other-routing-key", "garbage"])
async def test_a_chain_key_not_sealed_under_the_routing_key(env: Env, forged: str) -> None:
    """The host writes the chain's key itself: in the clear (as haven kept it before), sealed
    under a routing key of its own, or anything. Verify says broken, appends refuse."""
    await five_events(env)
    async with env.store.transaction() as s:
        chain = await s.get(AuditChain, 1)
        key = env.keys.chain.open(chain.key)
        if forged == "plaintext":
            chain.key = key
        elif forged == "other-routing-key":
            chain.key = crypto.ChainKeys(b"\x05" * 32).seal(key)  # made in his own process
        else:
            chain.key = chain.key[:-1] + bytes([chain.key[-1] ^ 1])
    verdict = await verify_audit(env.store, env.keyring())
    assert not verdict.ok and verdict.checked == 0 and "routing key" in verdict.why
    with pytest.raises(crypto.BadEnvelope):
        async with env.store.transaction() as s:
            await audit.append(s, "intake", "test.after")
