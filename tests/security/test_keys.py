"""Key rotation that loses nothing, tried while haven runs: an applicant mid-questionnaire
and a hand-off issued, the rotation interrupted and resumed; and the list of sealed columns
checked against the models, so a new sealed column cannot be forgotten."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import LargeBinary, select

from haven import crypto
from haven.console.keyholder import KeyHolder
from haven.flows.inputs import Text
from haven.services.admin import forget_retired_keys, rotate_keys, verify_audit
from haven.services.cases import Cases
from haven.services.handoff import Handoffs
from haven.services.intake import Intake
from haven.store.models import Base, Case
from haven.store.sealed import NOT_SEALED_TO_CASE_KEY, SEALED_TO_CASE_KEY
from tests.conftest import PASSPHRASE, Env
from tests.console.test_services import users, verified_case
from tests.security.steps import issue_handoff
from tests.steps import conversation

FAST = 1.2  # seconds for running processes to pick up a new public key, in these tests


@pytest.fixture(autouse=True)
def _quick_pickup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.IntakeKeys, "REFRESH_SECONDS", 0.3)


async def rotate(env: Env) -> int:
    keys_dir = env.settings.keys_dir
    return await rotate_keys(env.store, keys_dir, PASSPHRASE, "interactive", pickup_seconds=FAST)


def test_every_binary_column_is_accounted_for() -> None:
    sealed = {f"{c.class_.__tablename__}.{c.key}" for c in SEALED_TO_CASE_KEY}
    binary = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, LargeBinary)
    }
    assert not sealed & set(NOT_SEALED_TO_CASE_KEY)
    assert binary == sealed | set(NOT_SEALED_TO_CASE_KEY), binary ^ (
        sealed | set(NOT_SEALED_TO_CASE_KEY)
    )


async def sealed_key_ids(env: Env) -> set[bytes]:
    ids: set[bytes] = set()
    async with env.store.transaction() as session:
        for column in SEALED_TO_CASE_KEY:
            for blob in await session.scalars(select(column).where(column.is_not(None))):
                if crypto.is_sealed(blob):
                    ids.add(crypto.envelope_key_id(blob))
    return ids


async def read_everything(env: Env, refs: list[str], handoff_id: int, co) -> None:
    """Everything reads with the current key alone, once the retired ones are forgotten."""
    assert await forget_retired_keys(env.store, env.settings.keys_dir, PASSPHRASE) >= 1
    keyring = crypto.unlock(env.settings.keys_dir, PASSPHRASE)
    assert len(keyring.key_ids) == 1
    for ref in refs:
        view = await Cases(env.store).read(ref, keyring, actor="test")
        assert view.answers and view.code_phrase
    card = await Handoffs(env.store, env.keys).card(co, handoff_id, keyring)
    assert card.meeting_point == "Grid 7" and card.row.sector == "North"
    # The audit chain (its first key moved into the new case.key, its next key sealed under
    # the routing key, which no rotation changes) goes on unbroken.
    verdict = await verify_audit(env.store, keyring)
    assert verdict.ok and verdict.checked >= 5, verdict


async def test_rotation_while_haven_runs_loses_nothing(env: Env) -> None:
    intake = Intake(env.store, env.keys)  # the running intake: its keys follow case.pub
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "North"))
    handed = await verified_case(env, op, address="h1")
    issued = await issue_handoff(env, co, handed)
    old_id = env.keys.key_id
    routing = (env.settings.keys_dir / crypto.ROUTING_KEY).read_bytes()
    steps = conversation("MIDWAY")
    for inp in steps[:7]:
        await intake.handle("telegram", "midway", inp)

    async def applicant_goes_on() -> str:
        result = None
        for inp in steps[7:]:
            await asyncio.sleep(0.3)
            result = await intake.handle("telegram", "midway", inp)
        assert result is not None and result.reference
        await asyncio.sleep(0.3)
        await intake.handle("telegram", "midway", Text("a message after the rotation"))
        return result.reference

    count, midway = await asyncio.gather(
        rotate_keys(
            env.store, env.settings.keys_dir, PASSPHRASE, "interactive", pickup_seconds=FAST
        ),
        applicant_goes_on(),
    )
    assert count >= 3  # the hand-off's placement and details, the first case's answers ...
    assert env.keys.key_id != old_id and crypto.has_retired(env.settings.keys_dir)  # kept
    assert await sealed_key_ids(env) == {env.keys.key_id}
    assert (env.settings.keys_dir / crypto.ROUTING_KEY).read_bytes() == routing
    await read_everything(env, [handed, midway], issued.id, co)


async def test_an_interrupted_rotation_resumes(env: Env) -> None:
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "North"))
    ref = await verified_case(env, op, address="r1")
    issued = await issue_handoff(env, co, ref)
    keys_dir = env.settings.keys_dir
    old_pub = (keys_dir / "case.pub").read_text()
    # Stopped after case.key was replaced, before case.pub, and before any re-seal.
    crypto.rotate(keys_dir, PASSPHRASE, "interactive")
    new_id = json.loads((keys_dir / "case.key").read_text())["key_id"]
    (keys_dir / "case.pub").write_text(old_pub)
    assert crypto.has_retired(keys_dir)
    count = await rotate_keys(env.store, keys_dir, PASSPHRASE, "interactive", pickup_seconds=FAST)
    assert count >= 3
    assert json.loads((keys_dir / "case.pub").read_text())["key_id"] == new_id  # no 2nd key
    assert await sealed_key_ids(env) == {bytes.fromhex(new_id)}
    await read_everything(env, [ref], issued.id, co)
    async with env.store.transaction() as session:
        assert (await session.scalar(select(Case.state).where(Case.reference == ref))) == (
            "scheduled"
        )


async def test_the_console_relocks_after_a_rotation(env: Env) -> None:
    holder = KeyHolder(env.settings.keys_dir)
    assert await holder.unlock(PASSPHRASE, "admin")
    await rotate_keys(
        env.store, env.settings.keys_dir, PASSPHRASE, "interactive", pickup_seconds=FAST
    )
    assert holder.keyring is None and not holder.unlocked  # it holds none of the new key
    assert await holder.unlock(PASSPHRASE, "admin")
    assert holder.keyring is not None and env.keys.key_id in holder.keyring.key_ids
    assert not await KeyHolder(env.settings.keys_dir).unlock("wrong passphrase!", "x")


async def test_a_second_rotation_makes_a_new_key_and_old_ones_go_only_when_asked(
    env: Env,
) -> None:
    keys_dir = env.settings.keys_dir
    ids = {env.keys.key_id}
    for _ in range(2):
        await rotate(env)
        ids.add(crypto.load_intake_keys(keys_dir).key_id)
    assert len(ids) == 3
    assert len(crypto.unlock(keys_dir, PASSPHRASE).key_ids) == 3
    # While a rotation is under way, the retired keys are not forgotten.
    crypto.rotate(keys_dir, PASSPHRASE, "interactive")
    with pytest.raises(crypto.CryptoError, match="under way"):
        await forget_retired_keys(env.store, keys_dir, PASSPHRASE)
    await rotate(env)
    assert await forget_retired_keys(env.store, keys_dir, PASSPHRASE) == 3
    assert len(crypto.unlock(keys_dir, PASSPHRASE).key_ids) == 1
