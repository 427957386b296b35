"""``haven …`` commands (Typer). Every failure ends in one clear line and exit status 2."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Callable, Coroutine, Iterator
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from haven import crypto
from haven.content import MissingCatalog, catalog
from haven.domain.codephrase import cyrillic
from haven.domain.reference import ALPHABET, BadReference
from haven.flows import Reply, State
from haven.flows.inputs import Command, Text
from haven.services.admin import rotate_keys, verify_audit
from haven.services.cases import CaseNotFound, Cases
from haven.services.intake import Intake, default_engine
from haven.settings import Settings, SettingsError, load_settings
from haven.store import migrate
from haven.store.db import Store

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="haven: a surrender hotline.",
)
db_app = typer.Typer(no_args_is_help=True, help="The database.")
case_app = typer.Typer(no_args_is_help=True, help="Cases (reads are audited).")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
keys_app = typer.Typer(no_args_is_help=True, help="The case key and the routing key.")
content_app = typer.Typer(no_args_is_help=True, help="The gettext catalogs.")
app.add_typer(db_app, name="db")
app.add_typer(case_app, name="case")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(content_app, name="content")

T = TypeVar("T")


class CliError(Exception):
    """Ends the command with one line on stderr and exit status 2."""


def settings() -> Settings:
    return load_settings()


def run(coro_fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @wraps(coro_fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(coro_fn(*args, **kwargs))

    return wrapper


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def passphrase(cfg: Settings, *, confirm: bool = False) -> str:
    if cfg.passphrase:
        return cfg.passphrase
    if sys.stdin.isatty():
        return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
    raise CliError("no passphrase: set HAVEN_PASSPHRASE or run this at a terminal")


async def open_store(cfg: Settings, *, check_migrated: bool = True) -> Store:
    store = Store(cfg.db_url)
    if check_migrated and await migrate.pending(store.engine):
        await store.close()
        raise CliError("the database is not up to date: run `haven db upgrade`")
    return store


# --- init, db, serve -----------------------------------------------------------------------


@app.command()
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
    generated = False
    if cfg.passphrase:
        secret = cfg.passphrase
    elif sys.stdin.isatty():
        secret = passphrase(cfg, confirm=True)
    else:
        secret = "-".join("".join(secrets.choice(ALPHABET) for _ in range(5)) for _ in range(5))
        generated = True
    keys = crypto.init_keys(cfg.keys_dir, secret, cfg.kdf_level.value)
    typer.echo(f"keys created in {cfg.keys_dir} (case key id {keys.key_id.hex()})")
    if generated:
        typer.echo(
            "No passphrase was given, so one was made. It unlocks every case and is shown "
            f"only now; keep it offline:\n\n    {secret}\n"
        )


@db_app.command("upgrade")
@run
async def db_upgrade() -> None:
    """Apply the Alembic migrations."""
    cfg = settings()
    store = Store(cfg.db_url)
    try:
        await migrate.upgrade(store.engine)
    finally:
        await store.close()
    typer.echo("database is up to date")


@app.command()
def serve() -> None:
    """Serve haven (status page, intake, console) on HAVEN_HOST:HAVEN_PORT."""
    import uvicorn

    from haven.server import create_app

    cfg = settings()
    configure_logging(cfg.log_level)
    crypto.load_intake_keys(cfg.keys_dir)  # refuse to start without keys, or with open ones

    async def _check() -> None:
        store = await open_store(cfg)
        await store.close()

    asyncio.run(_check())
    uvicorn.run(
        create_app(cfg),
        host=cfg.host,
        port=cfg.port,
        access_log=False,
        log_level=cfg.log_level.lower(),
        server_header=False,
    )


# --- chat --------------------------------------------------------------------------------


def render(reply: Reply) -> str:
    lines = [reply.text]
    lines += [f"  {n}. {option.label}" for n, option in enumerate(reply.choices, start=1)]
    return "\n".join(lines)


def _lines(prompt: str) -> Iterator[str]:
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            try:
                yield input(prompt)
            except EOFError:
                return
        else:
            line = sys.stdin.readline()
            if not line:
                return
            yield line.rstrip("\n")


@app.command()
@run
async def chat(
    lang: Annotated[str | None, typer.Option(help="Language: ko, ru, uk or en.")] = None,
) -> None:
    """The questionnaire in the terminal, against the real store. Reads lines when piped."""
    if lang is not None and lang not in ("ko", "ru", "uk", "en"):
        raise CliError("--lang must be one of ko, ru, uk, en")
    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    store = await open_store(cfg)
    intake = Intake(store, keys)
    address = secrets.token_hex(16)
    try:
        result = await intake.handle("cli", address, Command("start"), lang=lang)
        typer.echo("\n\n".join(render(r) for r in result.replies))
        for line in _lines("> "):
            result = await intake.handle("cli", address, Text(line), lang=lang)
            typer.echo("\n\n".join(render(r) for r in result.replies))
            if result.reference is not None or (
                result.effect is not None and (result.effect.value == "erase")
            ):
                break
    finally:
        await store.close()


# --- cases, audit, keys --------------------------------------------------------------------


@case_app.command("show")
@run
async def case_show(reference: str) -> None:
    """Decrypt and print a case (needs the passphrase; the read is audited)."""
    cfg = settings()
    keyring = crypto.unlock(cfg.keys_dir, passphrase(cfg))
    store = await open_store(cfg)
    try:
        view = await Cases(store).read(reference, keyring, actor="cli")
    finally:
        await store.close()
    engine = default_engine()
    out = [
        f"Case {view.reference}  state: {view.state}"
        + (f" ({view.close_reason})" if view.close_reason else ""),
        f"language: {view.lang}  channel: {view.channel}  campaign: {view.campaign or '-'}",
        f"group size: {view.group_size if view.group_size is not None else '-'}  "
        f"wounded: {'-' if view.wounded is None else ('yes' if view.wounded else 'no')}  "
        f"flags: {', '.join(sorted(view.flags)) or '-'}",
        f"created: {view.created_at:%Y-%m-%d %H:%M} UTC  submitted: "
        + (f"{view.submitted_at:%Y-%m-%d %H:%M} UTC" if view.submitted_at else "-"),
    ]
    if view.code_phrase:
        out.append(
            f"code phrase: {view.code_phrase}  (Cyrillic: {cyrillic(view.code_phrase, view.lang)})"
        )
    if view.answers:
        state = State(
            flow=engine.flow.id,
            version=engine.flow.version,
            lang=view.answers.get("lang"),
            answers=view.answers.get("answers", {}),
        )
        out += ["", engine.summary_text(state)]
    for message in view.messages:
        content = message.content.get("text") or message.content
        out.append(f"[{message.at:%Y-%m-%d %H:%M}] {message.direction}: {content}")
    typer.echo("\n".join(out))


@audit_app.command("verify")
@run
async def audit_verify() -> None:
    """Check the audit log's hash chain; name the first broken link."""
    cfg = settings()
    store = await open_store(cfg)
    try:
        verdict = await verify_audit(store)
    finally:
        await store.close()
    if verdict.ok:
        typer.echo(f"audit log intact: {verdict.checked} events")
        return
    typer.echo(
        f"audit log BROKEN at event {verdict.broken_id}: {verdict.why} "
        f"({verdict.checked} events before it are intact)",
        err=True,
    )
    raise typer.Exit(1)


@keys_app.command("rotate")
@run
async def keys_rotate() -> None:
    """New case keypair; every sealed record re-sealed to it; the old key deleted."""
    cfg = settings()
    secret = passphrase(cfg)
    store = await open_store(cfg)
    try:
        count = await rotate_keys(store, cfg.keys_dir, secret, cfg.kdf_level.value)
    finally:
        await store.close()
    typer.echo(f"case key rotated; {count} sealed records re-sealed")


# --- content ----------------------------------------------------------------------------


@content_app.command("compile")
def content_compile() -> None:
    """Compile the .po catalogs into .mo files."""
    for path in catalog.compile_all():
        typer.echo(str(path))


@content_app.command("check")
def content_check() -> None:
    """Missing, empty, fuzzy or placeholder-mismatched translations."""
    problems = catalog.check()
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("catalogs complete")


@content_app.command("extract")
def content_extract(
    out: Annotated[Path, typer.Option(help="Template to write.")] = catalog.locale_dir()
    / "haven.pot",
) -> None:
    """Write the message template (.pot) from the code and the flow files."""
    catalog.write_template(out)
    typer.echo(str(out))


ERRORS: tuple[type[Exception], ...] = (
    CliError,
    SettingsError,
    crypto.CryptoError,
    CaseNotFound,
    BadReference,
    MissingCatalog,
)


def main() -> None:
    try:
        app()
    except ERRORS as exc:
        message = f"not found: case {exc}" if isinstance(exc, CaseNotFound) else str(exc)
        typer.echo(f"haven: {message}", err=True)
        sys.exit(2)
