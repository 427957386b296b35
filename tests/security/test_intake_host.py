"""Attacks by a seized or compromised intake host (threat model, adversary 2) that the split
of trust must stop: it holds the database, ``case.pub`` and ``routing.key``, and it runs as
the same user as the console under ``make run``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from haven import crypto
from haven.services.admin import rotate_keys
from haven.services.cases import Cases
from haven.services.intake import Intake
from tests.conftest import PASSPHRASE, Env, make_environ
from tests.pg import free_port
from tests.steps import conversation

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=False)
def quick_pickup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.IntakeKeys, "REFRESH_SECONDS", 0.3)


async def test_rotation_with_the_intake_on_its_own_host_loses_nothing(
    env: Env, tmp_path: Path, quick_pickup: None
) -> None:
    """README's production layout: the intake host holds its own copy of ``case.pub`` and
    ``routing.key``. ``haven keys rotate`` on the console host cannot change that copy, yet
    it deletes the old private key a few seconds later: every case the intake submits
    afterwards is sealed to a key that no longer exists."""
    intake_dir = tmp_path / "intake-host" / "keys"
    crypto.ensure_private_dir(intake_dir.parent)
    crypto.ensure_private_dir(intake_dir)
    for name in (crypto.CASE_PUB, crypto.ROUTING_KEY):
        shutil.copy2(env.settings.keys_dir / name, intake_dir / name)
    intake = Intake(env.store, crypto.load_intake_keys(intake_dir))

    await rotate_keys(
        env.store, env.settings.keys_dir, PASSPHRASE, "interactive", pickup_seconds=1.2
    )

    result = None
    for inp in conversation("REMOTE"):
        result = await intake.handle("telegram", "remote-host", inp)
    assert result is not None and result.reference
    view = await Cases(env.store).read(result.reference, env.keyring(), actor="test")
    assert view.answers, "a case submitted after the rotation cannot be read"


def test_the_intake_refuses_to_start_beside_a_passphrase_file(tmp_path: Path) -> None:
    """Without a terminal ``haven init`` (the first step of ``make run``) writes the master
    passphrase to ``var/passphrase.txt``: in the data dir the intake itself reads and writes,
    as the same user. An intake that starts beside it holds the passphrase after all."""
    python = str(ROOT / ".venv" / "bin" / "python")
    environ = make_environ(tmp_path / "var") | {"HAVEN_PORT": str(free_port())}
    del environ["HAVEN_PASSPHRASE"]
    for step in (["init"], ["db", "upgrade"]):
        subprocess.run(
            [python, "-m", "haven", *step],
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=120,
        )
    written = tmp_path / "var" / "passphrase.txt"
    assert written.exists()
    intake = subprocess.Popen(
        [python, "-m", "haven", "serve"],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        code = intake.wait(20)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if intake.poll() is None:
            intake.terminate()
            intake.wait(30)
    assert code == 2, "the intake started beside var/passphrase.txt, which it can read"
