"""Administrative use cases: audit verification and key rotation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select, update

from haven import crypto
from haven.store import audit, migrate
from haven.store.db import Store, mark_wipe
from haven.store.sealed import SEALED_TO_CASE_KEY


async def prepare_database(store: Store, keys_dir: Path, passphrase: str = "") -> None:
    """Migrate the database and start its audit chain: with the first key ``haven init`` left
    for it, or, for keys made before the chain was keyed, a new one put into ``case.key``
    (which needs the passphrase). The seed file is removed once the database has the chain."""
    keys = crypto.load_intake_keys(keys_dir) if crypto.keys_exist(keys_dir) else None
    await migrate.upgrade(store.engine, keys=keys)
    if not await migrate.has_audit_chain(store.engine):
        if keys is None:
            raise crypto.KeysMissing(f"no keys in {keys_dir}: run `haven init` first")
        first = crypto.take_audit_seed(keys_dir)
        if first is None:
            if not passphrase:
                raise audit.AuditNotReady(
                    "the audit log needs its key once: run `haven db upgrade` at a terminal "
                    "or with HAVEN_PASSPHRASE set"
                )
            first = crypto.add_audit_key(keys_dir, passphrase)
        await migrate.start_audit_chain(store.engine, first, keys)
    crypto.drop_audit_seed(keys_dir)


async def verify_audit(
    store: Store, keyring: crypto.CaseKeyring, pinned: audit.Head | None = None
) -> audit.Verdict:
    """Check the audit chain from its first key (inside ``case.key``: needs the unlocked
    keyring), and against a head kept elsewhere if one is given."""
    if keyring.audit_key is None:
        return audit.Verdict(False, 0, None, "case.key holds no audit key: run `haven db upgrade`")
    async with store.sessions() as session:
        return await audit.verify(session, keyring.audit_key, pinned)


async def audit_head(store: Store) -> audit.Head:
    async with store.sessions() as session:
        return await audit.head(session)


async def rotate_keys(
    store: Store,
    keys_dir: Path,
    passphrase: str,
    level: str,
    actor: str = "cli",
    batch: int = 1000,
    pickup_seconds: float = 2 * crypto.IntakeKeys.REFRESH_SECONDS + 1,
) -> int:
    """New case keypair; every sealed column re-sealed to it. Returns how many envelopes were
    re-sealed.

    Running processes pick up the new public key within a second (``IntakeKeys``), but an
    intake on a host of its own keeps sealing to its copy of ``case.pub`` until it gets the
    new one: the old private key is therefore kept (under ``keys/retired``, wrapped with the
    passphrase) until :func:`forget_retired_keys`. Safe to interrupt: running it again
    finishes the job without making another key.
    """
    keyring = crypto.rotate(keys_dir, passphrase, level)
    await asyncio.sleep(pickup_seconds)  # every process that follows case.pub has moved
    resealed = await _reseal_until_none(store, keyring, batch)
    async with store.transaction() as session:
        await audit.append(
            session,
            actor,
            "keys.rotated",
            None,
            {"key_id": keyring.intake.key_id.hex(), "resealed": resealed},
        )
    crypto.finish_rotation(keys_dir)
    return resealed


async def forget_retired_keys(
    store: Store, keys_dir: Path, passphrase: str, actor: str = "cli", batch: int = 1000
) -> int:
    """Re-seal whatever is still sealed to a retired key, then delete the retired keys.
    Run it once every intake host has the new ``case.pub``: an intake that still seals to a
    retired key after this writes cases nobody can read. Returns how many keys went."""
    if crypto.rotation_under_way(keys_dir):
        raise crypto.CryptoError("a rotation is under way: run `haven keys rotate` first")
    keyring = crypto.unlock(keys_dir, passphrase)
    resealed = await _reseal_until_none(store, keyring, batch)
    forgotten = crypto.forget_retired(keys_dir)
    async with store.transaction() as session:
        await audit.append(
            session,
            actor,
            "keys.retired_forgotten",
            None,
            {"keys": forgotten, "resealed": resealed},
        )
    return forgotten


async def _reseal_until_none(store: Store, keyring: crypto.CaseKeyring, batch: int) -> int:
    resealed = 0
    for _ in range(10):
        count = await _reseal_all(store, keyring, batch)
        resealed += count
        if count == 0:
            return resealed
    raise crypto.CryptoError("envelopes sealed to an old key keep arriving: run it again")


async def _reseal_all(store: Store, keyring: crypto.CaseKeyring, batch: int) -> int:
    """One pass over every column of :data:`SEALED_TO_CASE_KEY`, a batch a transaction."""
    current = keyring.intake.key_id
    resealed = 0
    for column in SEALED_TO_CASE_KEY:
        model = column.class_
        pk = model.__mapper__.primary_key[0]
        last: object = None
        while True:
            async with store.transaction() as session:
                query = select(pk, column).where(column.is_not(None)).order_by(pk).limit(batch)
                if last is not None:
                    query = query.where(pk > last)
                rows = (await session.execute(query)).all()
                for key, blob in rows:
                    if crypto.is_sealed(blob) and crypto.envelope_key_id(blob) != current:
                        await session.execute(
                            update(model)
                            .where(pk == key)
                            .values({column.key: keyring.reseal(blob)})
                        )
                        resealed += 1
                mark_wipe(session)  # the old envelopes go from SQLite's log too
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return resealed
