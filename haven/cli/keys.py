"""``haven init`` and ``haven keys …``: the case keypair and the routing key."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from haven import crypto
from haven.domain.reference import ALPHABET
from haven.services.admin import forget_retired_keys, rotate_keys

from .common import PASSPHRASE_FILE, CliError, opened_store, passphrase, run, settings

app = typer.Typer(no_args_is_help=True, help="The case key and the routing key.")


def init(
    if_missing: Annotated[bool, typer.Option(help="Do nothing if keys exist.")] = False,
) -> None:
    """Create the case keypair (wrapped with a passphrase) and the routing key."""
    cfg = settings()
    if crypto.keys_exist(cfg.keys_dir):
        if if_missing:
            crypto.check_permissions(cfg.keys_dir)
            return
        raise CliError(f"keys already exist in {cfg.keys_dir}")
    written: Path | None = None
    if cfg.passphrase:
        secret = cfg.passphrase
    elif sys.stdin.isatty():
        secret = passphrase(cfg, confirm=True)
    else:
        # No one to show it to: never to standard output, which a service manager keeps.
        secret = "-".join("".join(secrets.choice(ALPHABET) for _ in range(5)) for _ in range(5))
        written = cfg.data_dir / PASSPHRASE_FILE
    keys = crypto.init_keys(cfg.keys_dir, secret, cfg.kdf_level.value)
    if written is not None:
        fd = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
    typer.echo(f"keys created in {cfg.keys_dir} (case key id {keys.key_id.hex()})")
    if written is not None:
        typer.echo(
            f"No passphrase was given, so one was made and written to {written} (mode 0600). "
            "It unlocks every case: copy it offline now (on paper, kept safe), then delete "
            "that file."
        )


@app.command("rotate")
@run
async def keys_rotate() -> None:
    """New case keypair; every sealed record re-sealed to it. The old key is kept (wrapped
    with the passphrase) until `haven keys forget-retired`."""
    cfg = settings()
    secret = passphrase(cfg)
    async with opened_store(cfg) as store:
        count = await rotate_keys(store, cfg.keys_dir, secret, cfg.kdf_level.value)
    typer.echo(
        f"case key rotated; {count} sealed records re-sealed. Copy the new keys/case.pub to "
        "every intake host, then run `haven keys forget-retired`."
    )


@app.command("forget-retired")
@run
async def keys_forget_retired() -> None:
    """Re-seal what is still sealed to a retired key, then delete the retired keys. Only once
    every intake host seals to the new case.pub."""
    cfg = settings()
    secret = passphrase(cfg)
    async with opened_store(cfg) as store:
        count = await forget_retired_keys(store, cfg.keys_dir, secret)
    typer.echo(f"{count} retired case keys deleted")
