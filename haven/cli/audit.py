"""``haven audit …``: check the audit chain and print its head."""

from __future__ import annotations

from typing import Annotated

import typer

from haven import crypto
from haven.services.admin import audit_head, verify_audit
from haven.store.audit import Head

from .common import CliError, opened_store, passphrase, run, settings

app = typer.Typer(no_args_is_help=True, help="The audit log.")


@app.command("verify")
@run
async def audit_verify(
    head: Annotated[
        str | None, typer.Option(help="A head printed by `haven audit head`, kept elsewhere.")
    ] = None,
) -> None:
    """Check the audit chain from its first key (needs the passphrase); with --head, also
    that the log still holds the event that head names, unchanged. Names the first broken
    link."""
    cfg = settings()
    try:
        pinned = Head.parse(head) if head is not None else None
    except ValueError as exc:
        raise CliError(f"--head: {exc}") from None
    keyring = crypto.unlock(cfg.keys_dir, passphrase(cfg))
    async with opened_store(cfg) as store:
        verdict = await verify_audit(store, keyring, pinned)
    if verdict.ok:
        typer.echo(f"audit log intact: {verdict.checked} events")
        return
    where = f"at event {verdict.broken_id}" if verdict.broken_id is not None else "at its end"
    typer.echo(
        f"audit log BROKEN {where}: {verdict.why} ({verdict.checked} events before it are intact)",
        err=True,
    )
    raise typer.Exit(1)


@app.command("head")
@run
async def audit_head_cmd() -> None:
    """Print the log's head (last event id and link): keep it elsewhere, and check the log
    against it later with `haven audit verify --head`."""
    cfg = settings()
    async with opened_store(cfg) as store:
        typer.echo(str(await audit_head(store)))
