"""``haven doctor``: check a deployment, say what is wrong and how to fix it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from haven.services.doctor import Limits, diagnose

from .common import run, settings


@run
async def doctor(
    min_free_mb: Annotated[
        int, typer.Option(help="Free disk space below this (MiB) is a problem.")
    ] = 1024,
    backup_hours: Annotated[
        int, typer.Option(help="A last backup older than this (hours) is a problem.")
    ] = 48,
    retention_hours: Annotated[
        int, typer.Option(help="A last `haven purge` older than this (hours) is a problem.")
    ] = 48,
    wait: Annotated[float, typer.Option(help="Seconds to wait for each address.")] = 5.0,
) -> None:
    """Check permissions, the database, the two processes, Telegram and the webhook, the
    onion address and mirrors, disk space, and when retention and backups last ran. Exit
    status 1 when anything is wrong."""
    cfg = settings()
    limits = Limits(
        min_free_bytes=min_free_mb * 2**20,
        max_backup_age=timedelta(hours=backup_hours),
        max_retention_age=timedelta(hours=retention_hours),
        http_timeout=wait,
    )
    findings = await diagnose(cfg, limits)
    for finding in findings:
        mark = "ok     " if finding.ok else "PROBLEM"
        typer.echo(f"{mark}  {finding.check}: {finding.message}")
        if finding.fix:
            typer.echo(f"         fix: {finding.fix}")
    problems = sum(not f.ok for f in findings)
    if problems:
        typer.echo(f"{problems} problem{'s' if problems != 1 else ''} found", err=True)
        raise typer.Exit(1)
    typer.echo("no problem found")
