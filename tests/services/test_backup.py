"""Backup and restore, on SQLite and PostgreSQL: a backup taken while applicants write, the
data dir wiped, the archive restored, and everything found again; what the file shows to
whoever holds it without the passphrase: nothing."""

from __future__ import annotations

import asyncio
import bz2
import json
import lzma
import os
import shutil
import stat
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from haven import crypto
from haven.cli import app
from haven.crypto.backup import (
    CHUNK,
    HEADER_LEN,
    DamagedBackup,
    DecryptingReader,
    WrongBackupPassphrase,
)
from haven.flows.inputs import Choice, Command, Text
from haven.services.admin import verify_audit
from haven.services.backup import BackupRefused, make_backup, restore_backup
from haven.services.cases import Cases
from haven.services.intake import Intake
from haven.settings import load_settings
from haven.store.db import Store
from haven.store.models import AuditEvent, Case, Handoff, Message
from tests.conftest import PASSPHRASE, Env, make_environ
from tests.console.test_services import users, verified_case
from tests.security.steps import issue_handoff

BACKUP_PASSPHRASE = "a backup passphrase of its own"
HAVEN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "haven")


async def run_haven(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [HAVEN, *args], env=environ, capture_output=True, text=True, timeout=60
    )


def planted(n: int) -> tuple[str, str]:
    """An answer and a later message of applicant ``n``, to look for in the archive."""
    return f"Plantedvillage{n:04d} by the birch grove", f"Plantedmessage{n:04d} at dawn"


async def conversation(intake: Intake, n: int) -> str:
    """A whole questionnaire through the intake, then a message: the reference."""
    address = f"writer-{n}"
    where, message = planted(n)
    await intake.handle("telegram", address, Command("start"), lang="en")
    for step in (
        Choice("kpa"),
        Choice("alone"),
        Choice("no"),
        Text(where),
        Choice("skip"),
        Choice("skip"),
        Text("here, evenings"),
        Choice("yes"),
    ):
        await intake.handle("telegram", address, step)
    result = await intake.handle("telegram", address, Choice("confirm"))
    assert result.reference, result
    await intake.handle("telegram", address, Text(message))
    return result.reference


TABLES = {"cases": Case, "messages": Message, "handoffs": Handoff, "audit": AuditEvent}


async def rows_of(store: Store) -> dict[str, dict[int, dict[str, Any]]]:
    """Every row of the tables compared, by id, as plain values."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    async with store.transaction() as s:
        for name, model in TABLES.items():
            table = model.__table__
            rows = (await s.execute(sa.select(table).order_by(table.c.id))).all()
            out[name] = {row.id: dict(row._mapping) for row in rows}
    return out


def decompressions(raw: bytes) -> list[bytes]:
    """What any compressed stream found in ``raw`` (gzip, zlib, xz, bzip2) unpacks to."""
    found = []
    starts = {b"\x1f\x8b": 31, b"\x78\x01": 15, b"\x78\x9c": 15, b"\x78\xda": 15}
    for magic, wbits in starts.items():
        at = raw.find(magic)
        while at != -1:
            try:
                found.append(zlib.decompressobj(wbits).decompress(raw[at:], 1 << 24))
            except zlib.error:
                pass
            at = raw.find(magic, at + 1)
    for magic, module in ((b"\xfd7zXZ", lzma), (b"BZh", bz2)):
        at = raw.find(magic)
        while at != -1:
            try:
                found.append(module.decompress(raw[at:]))  # type: ignore[attr-defined]
            except (lzma.LZMAError, OSError, ValueError, EOFError):
                pass
            at = raw.find(magic, at + 1)
    return found


def restored_env(env: Env, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a fresh data dir (and, on PostgreSQL, a new database)."""
    url = ""
    if not env.settings.is_sqlite:
        pg = request.getfixturevalue("pg")
        url = pg.url(pg.new_database())
    environ = make_environ(tmp_path / "restored", url)
    environ["HAVEN_BACKUP_PASSPHRASE"] = BACKUP_PASSPHRASE
    return environ


async def test_a_backup_taken_while_applicants_write_restores_everything(
    env: Env, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    intake = Intake(env.store, env.keys)
    op, co = await users(env, ("o", "operator", ""), ("c", "coordinator", "*"))
    before = [await conversation(intake, n) for n in range(3)]
    handed = await verified_case(env, op, address="handed-over", group=3)
    await issue_handoff(env, co, handed, sector="Sector-Planted-9")
    # Applicants keep writing while the backup is taken.
    stop = asyncio.Event()
    written: list[str] = []

    async def writer() -> None:
        n = 100
        while not stop.is_set():
            written.append(await conversation(intake, n))
            n += 1

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.3)
    during = len(written)
    out = tmp_path / "backups" / "haven.backup"
    made = await make_backup(
        env.store, env.settings.data_dir, out, BACKUP_PASSPHRASE, kdf_level="interactive"
    )
    after = len(written)
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert after > during, "no applicant wrote while the backup was taken"
    assert made.bytes == out.stat().st_size and stat.S_IMODE(out.stat().st_mode) == 0o600
    live = await rows_of(env.store)
    made_events = [r for r in live["audit"].values() if r["action"] == "backup.made"]
    assert len(made_events) == 1 and "Planted" not in made_events[0]["detail"]

    # Nothing an applicant said is in the file, raw or unpacked; not even inside the
    # encryption (answers and messages are sealed to the case key there too).
    raw = out.read_bytes()
    with out.open("rb") as fh:
        inside = DecryptingReader(fh, BACKUP_PASSPHRASE).read()
    assert b"haven.db" in inside or b"dump.sql" in inside
    assert b"Sector-Planted-9" not in inside
    for n in [*range(3), *range(100, 100 + len(written))]:
        for text in planted(n):
            for blob in (raw, inside, *decompressions(raw)):
                assert text.encode() not in blob, text

    # The data dir wiped (and on PostgreSQL, a new database), the archive restored.
    await env.store.close()
    shutil.rmtree(env.settings.data_dir)
    environ = restored_env(env, tmp_path, request)
    settings = load_settings(environ)
    done = await restore_backup(
        out, BACKUP_PASSPHRASE, data_dir=settings.data_dir, db_url=settings.db_url
    )
    assert done.migrated and done.key_files == 3
    store = Store(settings.db_url)
    try:
        restored = await rows_of(store)
        # Every row the snapshot held, unchanged; the audit log a prefix of the live one,
        # then the restore's own event.
        events = sorted(restored["audit"])
        assert restored["audit"].pop(events[-1])["action"] == "backup.restored"
        assert sorted(restored["audit"]) == sorted(live["audit"])[: len(events) - 1]
        # (A questionnaire under way when the snapshot was taken went on after it, and a
        # case's last message may have come after it too: its state and times moved on.)
        moving = {"state", "updated_at", "submitted_at", "answers", "code_phrase", "risk_flags"}
        moving |= {"group_size", "wounded", "campaign", "lang", "flow_version"}
        drafts = {k for k, row in restored["cases"].items() if row["state"] == "draft"}
        assert len(drafts) <= 1
        for name in TABLES:
            assert set(restored[name]) <= set(live[name]), name
            for key, row in restored[name].items():
                then = live[name][key]
                if name == "cases":
                    changed = {c for c in row if row[c] != then[c]}
                    assert changed <= ({"updated_at"} | (moving if key in drafts else set())), (
                        key,
                        changed,
                    )
                else:
                    assert row == then, (name, key)
        references = {row["reference"] for row in restored["cases"].values()}
        assert set(before) | {handed} <= references
        assert len(restored["handoffs"]) == 1
        # Every case reads, with its answers and messages.
        keyring = crypto.unlock(settings.keys_dir, PASSPHRASE)
        snapshot_refs = [r for r in [*before, *written] if r in references]
        assert len(snapshot_refs) > len(before)  # some written while the backup ran
        reader = Cases(store, crypto.load_intake_keys(settings.keys_dir))
        read = 0
        for ref in snapshot_refs:
            view = await reader.read(ref, keyring, "test")
            n = [*before, *written].index(ref)
            n = n if n < len(before) else 100 + n - len(before)
            where, message = planted(n)
            if view.state == "draft":
                continue
            assert where in json.dumps(view.answers, ensure_ascii=False)
            if view.messages:  # (the last one's message may have come after the snapshot)
                said = json.dumps([m.content for m in view.messages], ensure_ascii=False)
                assert message in said
                read += 1
        assert read >= len(snapshot_refs) - 2
        assert (await verify_audit(store, keyring)).ok
        await store.settle()
    finally:
        await store.close()
    # `haven audit verify` itself, in this process (in a thread: it runs its own loop).
    clean = {k: None for k in os.environ if k.startswith("HAVEN_")} | environ
    verified = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify"], env=clean)
    assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output


async def test_restore_refuses_a_data_dir_or_database_in_use(
    env: Env, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await conversation(Intake(env.store, env.keys), 1)
    out = tmp_path / "b.backup"
    await make_backup(
        env.store, env.settings.data_dir, out, BACKUP_PASSPHRASE, kdf_level="interactive"
    )
    # Over the live one, its store open: refused, and nothing in it changed.
    before = await rows_of(env.store)
    with pytest.raises(BackupRefused, match="in use"):
        await restore_backup(
            out, BACKUP_PASSPHRASE, data_dir=env.settings.data_dir, db_url=env.settings.db_url
        )
    assert await rows_of(env.store) == before
    # Into a database that holds data, though nothing else uses it: refused too.
    await env.store.close()
    empty_dir = tmp_path / "other"
    if env.settings.is_sqlite:
        (env.settings.data_dir / "haven.db-shm").unlink(missing_ok=True)
        (env.settings.data_dir / "haven.db-wal").unlink(missing_ok=True)
        target_url = env.settings.db_url
        expected = "holds a database"
    else:
        target_url = env.settings.db_url
        expected = "not empty"
    with pytest.raises(BackupRefused, match=expected):
        await restore_backup(out, BACKUP_PASSPHRASE, data_dir=empty_dir, db_url=target_url)
    # Keys already in the data dir: refused.
    environ = restored_env(env, tmp_path, request)
    settings = load_settings(environ)
    crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
    with pytest.raises(BackupRefused, match="holds keys"):
        await restore_backup(
            out, BACKUP_PASSPHRASE, data_dir=settings.data_dir, db_url=settings.db_url
        )
    if not env.settings.is_sqlite:
        # A new database that someone is connected to: in use.
        pg = request.getfixturevalue("pg")
        url = pg.url(pg.new_database())
        holder = Store(url)
        try:
            async with holder.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
                with pytest.raises(BackupRefused, match="in use"):
                    await restore_backup(
                        out, BACKUP_PASSPHRASE, data_dir=tmp_path / "third", db_url=url
                    )
        finally:
            await holder.close()


async def test_a_tampered_or_cut_archive_or_a_wrong_passphrase_restores_nothing(
    sqlite_env: Env, tmp_path: Path
) -> None:
    env = sqlite_env
    await conversation(Intake(env.store, env.keys), 1)
    out = tmp_path / "b.backup"
    await make_backup(
        env.store, env.settings.data_dir, out, BACKUP_PASSPHRASE, kdf_level="interactive"
    )
    raw = out.read_bytes()
    step = 4 + CHUNK + 17  # a chunk: its length, then the ciphertext and its tag
    whole_chunks = HEADER_LEN + (len(raw) - HEADER_LEN) // step * step
    assert 0 < whole_chunks < len(raw)
    damaged = {
        "flipped": raw[: len(raw) // 2]
        + bytes([raw[len(raw) // 2] ^ 1])
        + raw[len(raw) // 2 + 1 :],
        "cut": raw[: len(raw) - 100],
        "last chunk gone": raw[:whole_chunks],
        "appended": raw + b"more",
        "header": raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:],
        "not one": b"PK\x03\x04" + raw[4:],
    }
    for what, data in damaged.items():
        path = tmp_path / f"{what}.backup"
        path.write_bytes(data)
        target = tmp_path / what
        with pytest.raises((DamagedBackup, WrongBackupPassphrase)):
            await restore_backup(
                path,
                BACKUP_PASSPHRASE,
                data_dir=target,
                db_url=f"sqlite+aiosqlite:///{target / 'haven.db'}",
            )
        # Nothing took effect: no database, no keys, no leftover.
        left = (
            sorted(p.name for p in target.rglob("*") if p.stat().st_size) if target.exists() else []
        )
        assert left == [], (what, left)
    target = tmp_path / "wrong"
    with pytest.raises(WrongBackupPassphrase):
        await restore_backup(
            out,
            "not the passphrase at all",
            data_dir=target,
            db_url=f"sqlite+aiosqlite:///{target / 'haven.db'}",
        )
    # Through the command: one clear line, no traceback.
    environ = make_environ(tmp_path / "cli")
    environ["HAVEN_BACKUP_PASSPHRASE"] = "not the passphrase at all"
    for archive, expected in (
        (out, "the passphrase does not open this backup"),
        (tmp_path / "flipped.backup", "was changed"),
    ):
        environ["HAVEN_DATA_DIR"] = str(tmp_path / f"cli-{archive.stem}")
        if archive != out:
            environ["HAVEN_BACKUP_PASSPHRASE"] = BACKUP_PASSPHRASE
        result = await run_haven(environ, "restore", str(archive))
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"haven: {expected}\n" or (
            result.stderr.startswith("haven: ") and expected in result.stderr
        ), result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
        assert not (Path(environ["HAVEN_DATA_DIR"]) / "haven.db").exists()
