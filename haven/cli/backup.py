"""``haven backup`` and ``haven restore``: an encrypted archive of the database and the keys."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from haven.services.backup import (
    BackupRefused,
    Made,
    default_name,
    make_backup,
    record_made,
    restore_backup,
)
from haven.settings import Settings
from haven.store.db import Store

from .common import CliError, opened_store, run, settings


def backup_passphrase(cfg: Settings, *, confirm: bool = False) -> str:
    """HAVEN_BACKUP_PASSPHRASE, else HAVEN_PASSPHRASE, else asked at a terminal."""
    if cfg.backup_passphrase:
        return cfg.backup_passphrase
    if cfg.passphrase:
        return cfg.passphrase
    if sys.stdin.isatty():
        answer = typer.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm)
        return str(answer)
    raise CliError(
        "no backup passphrase: set HAVEN_BACKUP_PASSPHRASE (or HAVEN_PASSPHRASE), "
        "or run this at a terminal"
    )


class ProgressLine:
    """A progress line on stderr when it is a terminal (not in a service's journal), redrawn
    at most every quarter second, shown only once the work has taken half a second (a small
    database finishes before)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = False
        self.wanted = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not self.wanted or now - self.started < 0.5 or now - self.drawn < 0.25:
            return
        self.drawn = now
        self.shown = True
        text = f"{self.label}: {done / 2**20:,.1f} MiB"
        if total:
            text += f" of {total / 2**20:,.1f} MiB ({min(100, done * 100 // total)}%)"
        sys.stderr.write(f"\r{text}   ")
        sys.stderr.flush()

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


async def take_backup(
    cfg: Settings, store: Store, out: Path, passphrase: str, *, record: bool = True
) -> Made:
    line = ProgressLine("backup")
    try:
        return await make_backup(
            store,
            cfg.data_dir,
            out,
            passphrase,
            kdf_level=cfg.kdf_level.value,
            progress=line,
            record=record,
        )
    except BackupRefused as exc:
        raise CliError(str(exc)) from None
    finally:
        line.end()


@run
async def backup(
    out: Annotated[
        Path | None,
        typer.Option(help="The archive to write (default: a dated file in the backups dir)."),
    ] = None,
) -> None:
    """A consistent snapshot of the database and the key files, taken while haven runs, in
    one archive encrypted with HAVEN_BACKUP_PASSPHRASE (or the passphrase)."""
    cfg = settings()
    passphrase = backup_passphrase(cfg, confirm=True)
    target = out if out is not None else cfg.backups_dir / default_name()
    async with opened_store(cfg) as store:
        made = await take_backup(cfg, store, target, passphrase)
    typer.echo(f"backup written: {made.path} ({made.bytes:,} bytes, {made.dialect})")


@run
async def restore(
    archive: Annotated[Path, typer.Argument(help="An archive `haven backup` wrote.")],
) -> None:
    """Restore an archive into an empty data dir (SQLite) or a new, empty database
    (HAVEN_DATABASE_URL); refuses one that is in use or holds data."""
    cfg = settings()
    if not archive.is_file():
        raise CliError(f"no archive {archive}")
    passphrase = backup_passphrase(cfg)
    line = ProgressLine("restore")
    try:
        done = await restore_backup(
            archive, passphrase, data_dir=cfg.data_dir, db_url=cfg.db_url, progress=line
        )
    except BackupRefused as exc:
        raise CliError(str(exc)) from None
    finally:
        line.end()
    typer.echo(
        f"restored the backup of {done.taken_at} ({done.dialect}, {done.key_files} key files)"
    )
    if done.migrated:
        typer.echo("next: `haven audit verify`, then start haven")
    else:
        typer.echo("next: `haven db upgrade`, then `haven audit verify`")


__all__ = ["backup", "backup_passphrase", "record_made", "restore", "take_backup"]
