"""``haven db …``: the database."""

from __future__ import annotations

import typer

from haven.services.admin import prepare_database
from haven.store.audit import AuditNotReady
from haven.store.db import Store

from .common import passphrase, run, settings

app = typer.Typer(no_args_is_help=True, help="The database.")


@app.command("upgrade")
@run
async def db_upgrade() -> None:
    """Apply the Alembic migrations."""
    cfg = settings()
    store = Store(cfg.db_url)
    try:
        try:
            await prepare_database(store, cfg.keys_dir)
        except AuditNotReady:  # keys from before the audit chain was keyed
            await prepare_database(store, cfg.keys_dir, passphrase(cfg))
    finally:
        await store.close()
    typer.echo("database is up to date")
