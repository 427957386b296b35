"""``haven outbox …``: the queued outgoing messages, and a worker that sends them."""

from __future__ import annotations

import typer

from haven.services.outbox import count_by_state

from .common import CliError, configure_logging, ensure_migrated, opened_store, run, settings

app = typer.Typer(no_args_is_help=True, help="The outbox: queued outgoing messages.")


@app.command("status")
@run
async def outbox_status() -> None:
    """How many messages are pending, in flight, sent, failed or dropped."""
    cfg = settings()
    async with opened_store(cfg) as store:
        counts = await count_by_state(store=store)
    for state, count in counts.items():
        typer.echo(f"{state}: {count}")


@app.command("work")
@run
async def outbox_work() -> None:
    """Run an outbox worker only (more senders beside `haven serve`, on PostgreSQL)."""
    from haven.server import run_outbox_worker

    cfg = settings()
    configure_logging(cfg.log_level)
    if not cfg.telegram_token:
        raise CliError("HAVEN_TELEGRAM_TOKEN is not set: there is nothing to send to")
    await ensure_migrated(cfg)
    await run_outbox_worker(cfg)
