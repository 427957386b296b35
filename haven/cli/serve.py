"""``haven serve``, ``haven console`` and ``haven run``: the two server processes, whose apps
come from the composition root (``haven.server``)."""

from __future__ import annotations

import os

import typer

from haven import crypto

from .common import PASSPHRASE_FILE, CliError, ready_to_serve


def run_all() -> None:
    """Start the intake (HAVEN_HOST:HAVEN_PORT) and the console (127.0.0.1:HAVEN_CONSOLE_PORT)
    as two processes; Ctrl-C stops both. The intake never sees HAVEN_PASSPHRASE."""
    from haven.server import run_both

    cfg = ready_to_serve()
    typer.echo(
        f"haven: intake on http://{cfg.host}:{cfg.port}/, "
        f"console on http://{cfg.console_host}:{cfg.console_port}/console/",
        err=True,
    )
    raise typer.Exit(run_both(cfg))


def serve() -> None:
    """Serve the public intake (web pages, Telegram, outbox worker) on HAVEN_HOST:HAVEN_PORT.

    It holds the case public key and the routing key only: it refuses to start when it can
    see the passphrase, and cannot unlock the case key."""
    from haven.server import INTAKE_FORBIDDEN_ENV, create_app, serve_forever

    present = [name for name in INTAKE_FORBIDDEN_ENV if name in os.environ]
    if present:
        raise CliError(
            f"{present[0]} is set: the internet-facing intake must never hold it. Unset it "
            "here; give it only to `haven console` (`haven run` does this for you)"
        )
    crypto.refuse_private_keys()
    cfg = ready_to_serve()
    left = cfg.data_dir / PASSPHRASE_FILE
    if left.exists():
        raise CliError(
            f"{left} holds the master passphrase, where the internet-facing intake can read "
            "it: copy it offline, delete it, then start again"
        )
    serve_forever(create_app(cfg), cfg)


def console() -> None:
    """Serve the operators' console (/console) on HAVEN_CONSOLE_HOST:HAVEN_CONSOLE_PORT: the
    only process that unlocks the case key (from HAVEN_PASSPHRASE, or an admin's entry)."""
    from haven.hardening import refuse_inspection
    from haven.server import create_console, serve_forever

    refuse_inspection()
    cfg = ready_to_serve()
    serve_forever(create_console(cfg), cfg, host=cfg.console_host, port=cfg.console_port)
