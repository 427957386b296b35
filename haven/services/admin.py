"""Administrative use cases: audit verification and key rotation."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from haven import crypto
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Attachment, Case, Message


async def verify_audit(store: Store) -> audit.Verdict:
    async with store.sessions() as session:
        return await audit.verify(session)


async def rotate_keys(
    store: Store,
    keys_dir: Path,
    passphrase: str,
    level: str,
    actor: str = "cli",
    batch: int = 1000,
) -> int:
    """New case keypair; every sealed column re-sealed to it; the old key then deleted.

    Safe to interrupt: the old key stays under ``keys/retired`` until every envelope is
    re-sealed, and running the command again finishes the job.
    """
    if crypto.has_retired(keys_dir):  # an earlier rotation was interrupted: finish it
        keyring = crypto.unlock(keys_dir, passphrase)
    else:
        keyring = crypto.rotate(keys_dir, passphrase, level)
    resealed = 0
    targets = ((Case, ("answers", "code_phrase")), (Message, ("body",)), (Attachment, ("body",)))
    for model, columns in targets:
        last: object = None
        while True:
            async with store.transaction() as session:
                query = select(model).order_by(model.id).limit(batch)
                if last is not None:
                    query = query.where(model.id > last)
                rows = (await session.scalars(query)).all()
                for row in rows:
                    for column in columns:
                        blob = getattr(row, column)
                        if (
                            blob is not None
                            and crypto.envelope_key_id(blob) != keyring.intake.key_id
                        ):
                            setattr(row, column, keyring.reseal(blob))
                            resealed += 1
            if not rows:
                break
            last = rows[-1].id
    async with store.transaction() as session:
        await audit.append(
            session,
            actor,
            "keys.rotated",
            None,
            {"key_id": keyring.intake.key_id.hex(), "resealed": resealed},
        )
    crypto.forget_retired(keys_dir)
    return resealed
