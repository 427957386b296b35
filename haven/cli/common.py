"""What every command group shares: settings, the passphrase prompt, the store for the length
of a command, and the errors that end a command in one line with exit status 2."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer

from haven import crypto
from haven.content import MissingCatalog
from haven.domain.reference import BadReference
from haven.services.campaigns import CampaignError
from haven.services.cases import CaseNotFound
from haven.settings import Settings, SettingsError, load_settings
from haven.store import migrate
from haven.store.audit import AuditNotReady
from haven.store.db import InsecureFiles, Store

P = ParamSpec("P")
T = TypeVar("T")

#: Where ``haven init`` leaves a passphrase it made without a terminal (inside the data dir).
PASSPHRASE_FILE = "passphrase.txt"  # noqa: S105 - a file name


class CliError(Exception):
    """Ends the command with one line on stderr and exit status 2."""


#: The failures that end a command with ``haven: <message>`` on stderr and exit status 2.
ERRORS: tuple[type[Exception], ...] = (
    CliError,
    SettingsError,
    crypto.CryptoError,
    CaseNotFound,
    BadReference,
    MissingCatalog,
    CampaignError,
    InsecureFiles,
    AuditNotReady,
)


def error_line(exc: Exception) -> str:
    """The one line a failure in ``ERRORS`` prints."""
    message = f"not found: case {exc}" if isinstance(exc, CaseNotFound) else str(exc)
    return f"haven: {message}"


def settings() -> Settings:
    """The settings from the environment (and ``.env``)."""
    return load_settings()


def run(coro_fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Make an ``async def`` command callable by Typer: it runs in a loop of its own."""

    @wraps(coro_fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(coro_fn(*args, **kwargs))

    return wrapper


def configure_logging(level: str) -> None:
    """haven's logging (ids and events only), at ``level``."""
    from haven import logs

    logs.configure(level)


def passphrase(cfg: Settings, *, confirm: bool = False) -> str:
    """HAVEN_PASSPHRASE, else asked at a terminal; without either the command fails."""
    if cfg.passphrase:
        return cfg.passphrase
    if sys.stdin.isatty():
        return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
    raise CliError("no passphrase: set HAVEN_PASSPHRASE or run this at a terminal")


async def open_store(cfg: Settings, *, check_migrated: bool = True) -> Store:
    """The store, with the routing key loaded when there are keys; refuses a database that
    is not up to date unless ``check_migrated`` is false."""
    if crypto.keys_exist(cfg.keys_dir):
        # The routing key: appending to the audit log opens the chain's key with it.
        crypto.load_intake_keys(cfg.keys_dir)
    store = Store(cfg.db_url)
    if check_migrated and await migrate.pending(store.engine):
        await store.close()
        raise CliError("the database is not up to date: run `haven db upgrade`")
    return store


@asynccontextmanager
async def opened_store(cfg: Settings) -> AsyncIterator[Store]:
    """The migrated store for the length of a command, closed however the command ends."""
    store = await open_store(cfg)
    try:
        yield store
    finally:
        await store.close()


async def ensure_migrated(cfg: Settings) -> None:
    """Fail with one line unless the database is reachable, up to date, and has its audit
    chain."""
    store = await open_store(cfg)
    try:
        if not await migrate.has_audit_chain(store.engine):
            raise CliError("the audit log has no chain yet: run `haven db upgrade`")
    finally:
        await store.close()


def ready_to_serve() -> Settings:
    """Settings, logging, keys checked and the database migrated, before a server starts."""
    cfg = settings()
    configure_logging(cfg.log_level)
    crypto.load_intake_keys(cfg.keys_dir)  # refuse to start without keys, or with open ones
    asyncio.run(ensure_migrated(cfg))
    return cfg
