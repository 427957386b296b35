"""``haven db …``: the database."""

from __future__ import annotations

from typing import Annotated

import typer

from haven.services.admin import prepare_database
from haven.services.backup import default_name, has_data
from haven.store import migrate
from haven.store.audit import AuditNotReady
from haven.store.db import Store

from .backup import backup_passphrase, record_made, take_backup
from .common import passphrase, run, settings

app = typer.Typer(no_args_is_help=True, help="The database.")


@app.command("upgrade")
@run
async def db_upgrade(
    no_backup: Annotated[
        bool, typer.Option("--no-backup", help="Do not take a backup before migrating.")
    ] = False,
) -> None:
    """Apply the Alembic migrations. A database with data is backed up first (into
    HAVEN_BACKUP_DIR, default the data dir's backups/), encrypted with
    HAVEN_BACKUP_PASSPHRASE or the passphrase."""
    cfg = settings()
    store = Store(cfg.db_url)
    try:
        made = None
        if not no_backup and await migrate.pending(store.engine) and await has_data(store):
            secret = backup_passphrase(cfg, confirm=True)
            out = cfg.backups_dir / default_name(reason="before-upgrade")
            made = await take_backup(cfg, store, out, secret, record=False)
            typer.echo(f"backup taken first: {made.path}")
        try:
            await prepare_database(store, cfg.keys_dir)
        except AuditNotReady:  # keys from before the audit chain was keyed
            await prepare_database(store, cfg.keys_dir, passphrase(cfg))
        if made is not None:  # recorded once the log is at this version
            await record_made(store, made.bytes, reason="upgrade")
    finally:
        await store.close()
    typer.echo("database is up to date")
