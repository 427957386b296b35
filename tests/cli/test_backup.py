"""``haven db upgrade`` backs a database with data up before it migrates; ``haven backup``
through the command line."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from haven import crypto
from haven.cli import app
from haven.cli.common import CliError
from haven.settings import load_settings
from haven.store import migrate
from haven.store.db import Store
from tests.conftest import PASSPHRASE, Env, make_environ


def haven(environ: dict[str, str | None], *args: str) -> Result:
    """The command, in this process (no interpreter to start)."""
    overrides = {k: None for k in os.environ if k.startswith("HAVEN_")} | environ
    return CliRunner().invoke(app, list(args), env=overrides)


def at_an_earlier_revision(tmp_path: Path, with_data: bool) -> dict[str, str | None]:
    async def make() -> dict[str, str | None]:
        environ = make_environ(tmp_path / "var")
        settings = load_settings(environ)
        keys = crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
        store = Store(settings.db_url)
        try:
            await migrate.upgrade(store.engine, "0009", keys=keys)
            if with_data:
                async with store.engine.begin() as conn:
                    await conn.execute(
                        sa.text(
                            "INSERT INTO cases (reference, state, lang, channel, flow,"
                            " flow_version, risk_flags, created_at, updated_at) VALUES"
                            " ('AAAA-BBBB-C', 'closed', 'ko', 'web', 'default', 1, '',"
                            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        )
                    )
        finally:
            await store.close()
        return {k: v for k, v in environ.items() if k.startswith("HAVEN_")}

    return asyncio.run(make())


def audit_actions(environ: dict[str, str | None]) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        store = Store(load_settings({k: v for k, v in environ.items() if v}).db_url)
        try:
            async with store.engine.connect() as conn:
                rows = (await conn.execute(sa.text("SELECT action, detail FROM audit"))).all()
        finally:
            await store.close()
        return [(str(a), str(d)) for a, d in rows]

    return asyncio.run(read())


def test_an_upgrade_of_a_database_with_data_takes_a_backup_first(tmp_path: Path) -> None:
    environ = at_an_earlier_revision(tmp_path, with_data=True)
    out = haven(environ, "db", "upgrade")
    assert out.exit_code == 0, out.output
    backups = list((tmp_path / "var" / "backups").iterdir())
    assert len(backups) == 1 and backups[0].name.endswith("-before-upgrade.backup")
    assert f"backup taken first: {backups[0]}" in out.output
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(backups[0].parent.stat().st_mode) == 0o700
    actions = audit_actions(environ)
    assert [a for a, _ in actions] == ["backup.made"] and '"reason": "upgrade"' in actions[0][1]
    # The backup holds the database as it was before: restored, it asks for the upgrade.
    other = {**environ, "HAVEN_DATA_DIR": str(tmp_path / "restored")}
    restored = haven(other, "restore", str(backups[0]))
    assert restored.exit_code == 0, restored.output
    assert "`haven db upgrade`" in restored.output
    # A second upgrade has nothing to migrate: no second backup.
    assert haven(environ, "db", "upgrade").exit_code == 0
    assert len(list((tmp_path / "var" / "backups").iterdir())) == 1


def test_an_upgrade_without_data_takes_no_backup_and_no_passphrase(tmp_path: Path) -> None:
    environ = at_an_earlier_revision(tmp_path, with_data=False)
    environ["HAVEN_PASSPHRASE"] = None
    out = haven(environ, "db", "upgrade")
    assert out.exit_code == 0, out.output
    assert not (tmp_path / "var" / "backups").exists()


def test_an_upgrade_with_data_but_no_passphrase_stops_before_migrating(tmp_path: Path) -> None:
    environ = at_an_earlier_revision(tmp_path, with_data=True)
    environ["HAVEN_PASSPHRASE"] = None
    out = haven(environ, "db", "upgrade")
    assert isinstance(out.exception, CliError) and "HAVEN_BACKUP_PASSPHRASE" in str(out.exception)
    assert not (tmp_path / "var" / "backups").exists()
    assert audit_actions(environ) == []  # not migrated: no chain, no event
    environ["HAVEN_BACKUP_PASSPHRASE"] = "a passphrase for backups only"
    assert haven(environ, "db", "upgrade").exit_code == 0


def test_backup_command_writes_a_dated_file(sqlite_env: Env) -> None:
    environ: dict[str, str | None] = dict(sqlite_env.environ)
    out = haven(environ, "backup")
    assert out.exit_code == 0, out.output
    (made,) = (sqlite_env.settings.data_dir / "backups").iterdir()
    assert made.name.startswith("haven-") and str(made) in out.output
    again = haven(environ, "backup", "--out", str(made))
    assert isinstance(again.exception, CliError) and "exists" in str(again.exception)


def test_the_progress_line(capsys) -> None:
    from haven.cli.backup import ProgressLine

    line = ProgressLine("backup")
    line.wanted = True
    line.started -= 1.0  # under way for a second
    line(3 * 2**20, 12 * 2**20)
    line(4 * 2**20, 12 * 2**20)  # within a quarter second: not drawn again
    line.end()
    err = capsys.readouterr().err
    assert err == "\rbackup: 3.0 MiB of 12.0 MiB (25%)   \n"
    quiet = ProgressLine("backup")  # not at a terminal (a service's journal): nothing
    quiet.started -= 1.0
    quiet(1, 2)
    quiet.end()
    assert capsys.readouterr().err == ""
