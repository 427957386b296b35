"""``haven …`` commands (Typer): one module per command group, assembled here. Every failure
ends in one clear line and exit status 2."""

from __future__ import annotations

import sys

import typer

from . import (
    audit,
    backup,
    campaign,
    case,
    chat,
    content,
    db,
    doctor,
    keys,
    leaflet,
    outbox,
    post,
    purge,
    serve,
    user,
)
from .common import ERRORS, configure_logging, error_line

__all__ = ["app", "configure_logging", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="haven: a surrender hotline.",
)
# `haven --help` lists the commands in this order, then the groups.
app.command()(keys.init)
app.command("run")(serve.run_all)
app.command()(serve.serve)
app.command()(chat.chat)
app.command()(purge.purge)
app.command()(leaflet.leaflet)
app.command("leaflet-batch")(leaflet.leaflet_batch)
app.command()(leaflet.phrasebook)
app.command()(campaign.report)
app.command()(serve.console)
app.command()(backup.backup)
app.command()(backup.restore)
app.command()(doctor.doctor)
app.add_typer(db.app, name="db")
app.add_typer(case.app, name="case")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(content.app, name="content")
app.add_typer(campaign.app, name="campaign")
app.add_typer(post.app, name="post")
app.add_typer(outbox.app, name="outbox")
app.add_typer(user.app, name="user")


def main() -> None:
    """The ``haven`` program: run the command; a known failure is one line and exit 2."""
    try:
        app()
    except ERRORS as exc:
        typer.echo(error_line(exc), err=True)
        sys.exit(2)
