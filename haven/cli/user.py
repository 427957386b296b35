"""``haven user …``: console users, created and unlocked here, their accounts sealed."""

from __future__ import annotations

from typing import Annotated

import typer

from haven import crypto
from haven.services.accounts import AccountError, Accounts, Role
from haven.services.seals import Seals, fixed_keyring

from .common import CliError, opened_store, passphrase, run, settings

app = typer.Typer(no_args_is_help=True, help="Console users.")


@app.command("add")
@run
async def user_add(
    name: str,
    role: Annotated[
        str, typer.Option(help="operator, coordinator, analyst, admin, translator or front.")
    ],
    sectors: Annotated[
        str, typer.Option(help="Coordinators, front units: sectors, comma-separated; * = all.")
    ] = "*",
    lang: Annotated[str, typer.Option(help="Console language: uk or en.")] = "en",
    languages: Annotated[
        str, typer.Option(help="Translators: the languages they translate, e.g. ko,ru.")
    ] = "",
) -> None:
    """Create a console user and print a one-time setup link (valid 72 hours).

    The account is sealed with the master passphrase (HAVEN_PASSPHRASE, or asked at a
    terminal); an admin may be added without it and is sealed when he unlocks the console."""
    if role not in {r.value for r in Role}:
        raise CliError("--role must be one of " + ", ".join(r.value for r in Role))
    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    keyring = (
        crypto.unlock(cfg.keys_dir, passphrase(cfg))
        if cfg.passphrase or role != Role.admin.value
        else None
    )

    async with opened_store(cfg) as store:
        accounts = Accounts(
            store, keys, keyring=fixed_keyring(keyring), seals=Seals(cfg.seals_path)
        )
        try:
            token = await accounts.add_user(
                name, role, "cli", sectors=sectors, lang=lang, languages=languages
            )
        except AccountError as exc:
            raise CliError(str(exc)) from None
    typer.echo(
        f"user {name} ({role}) created. One-time setup link, valid 72 hours; open it on the "
        f"console host and give it over a safe channel:\n\n    "
        f"http://{cfg.console_host}:{cfg.console_port}/console/setup/{token}\n"
    )


@app.command("unlock")
@run
async def user_unlock(name: str) -> None:
    """Lift the wait that failed logins put on an account, at once (audited)."""
    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    async with opened_store(cfg) as store:
        try:
            await Accounts(store, keys).unlock(name, "cli")
        except AccountError as exc:
            raise CliError(str(exc)) from None
    typer.echo(f"user {name.strip()} can log in again")


@app.command("seal")
@run
async def user_seal() -> None:
    """Seal every console account as it is now, with the master passphrase (once, after an
    upgrade from a version whose accounts were not sealed): you vouch for every row."""
    cfg = settings()
    keyring = crypto.unlock(cfg.keys_dir, passphrase(cfg))
    async with opened_store(cfg) as store:
        accounts = Accounts(
            store, crypto.load_intake_keys(cfg.keys_dir), seals=Seals(cfg.seals_path)
        )
        sealed = await accounts.seal_all(keyring, "cli")
    for name, role in sealed:
        typer.echo(f"  {name} ({role})")
    typer.echo(
        f"{len(sealed)} accounts sealed; pending setup links were dropped (make new ones on "
        "the Users page). Disable at once any account above you do not know."
    )
