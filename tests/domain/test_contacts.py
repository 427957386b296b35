"""A contact's lookup key: derived in one place, the same for the intake and the outbox."""

from __future__ import annotations

from haven import crypto
from haven.domain.contacts import contact_lookup
from haven.outbox.queue import chat_key
from haven.services.intake import Intake
from tests.conftest import Env

#: Stored in every contact row: the derivation must never change.
PINNED = "cfe2ae5f7fec55a9753e6e82a8a783ba8312590bafd4c29650daffcc000d203c"


async def test_one_derivation_for_intake_and_outbox(sqlite_env: Env) -> None:
    pinned = crypto.IntakeKeys(b"\x01" * 32, b"\x02" * 32)
    assert contact_lookup(pinned, "telegram", "42") == PINNED
    keys = sqlite_env.keys
    intake = Intake(sqlite_env.store, keys)
    for channel, address in (("telegram", "42"), ("web", "sid"), ("phone", "t")):
        key = contact_lookup(keys, channel, address)
        assert intake.lookup(channel, address) == chat_key(keys, channel, address) == key
    assert contact_lookup(keys, "web", "42") != contact_lookup(keys, "telegram", "42")
