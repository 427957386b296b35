"""``haven purge``: retention for closed cases and abandoned questionnaires."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import CliError, opened_store, run, settings


@run
async def purge(
    days: Annotated[
        int | None, typer.Option(help="Retention in days (default HAVEN_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Wipe what closed cases hold about people, once closed longer than the retention, and
    questionnaires abandoned for longer than HAVEN_DRAFT_HOURS."""
    from haven.services.auditlog import record
    from haven.services.erasure import purge_closed, purge_drafts

    cfg = settings()
    retention = days if days is not None else cfg.retention_days
    if retention < 1:
        raise CliError("--days must be at least 1")
    async with opened_store(cfg) as store:
        count = await purge_closed(store, retention)
        drafts = await purge_drafts(store, cfg.draft_hours)
        # When retention last ran, for `haven doctor`.
        detail = {"closed": count, "drafts": drafts, "days": retention}
        await record(store=store, actor="retention", action="retention.ran", detail=detail)
        await store.settle()
    typer.echo(f"{count} closed cases purged (closed more than {retention} days ago)")
    typer.echo(f"{drafts} abandoned questionnaires erased (idle more than {cfg.draft_hours} h)")
