"""``haven …`` commands (Typer): one module per command group, assembled here. Every failure
ends in one clear line and exit status 2.

A run imports only the module of the command it runs (each command group pulls in its own
services; the rest would only slow every call down): :func:`main` builds the program with that
command alone, ``haven`` without one (or asking for help) builds all of it. ``app`` is the whole
program, for those who call it in process.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

import typer

from .common import ERRORS, configure_logging, error_line

__all__ = ["app", "build", "configure_logging", "main"]

#: The commands, in the order ``haven --help`` lists them: name -> (module, function).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("keys", "init"),
    "run": ("serve", "run_all"),
    "serve": ("serve", "serve"),
    "chat": ("chat", "chat"),
    "purge": ("purge", "purge"),
    "leaflet": ("leaflet", "leaflet"),
    "leaflet-batch": ("leaflet", "leaflet_batch"),
    "phrasebook": ("leaflet", "phrasebook"),
    "report": ("campaign", "report"),
    "console": ("serve", "console"),
    "backup": ("backup", "backup"),
    "restore": ("backup", "restore"),
    "doctor": ("doctor", "doctor"),
}
#: The command groups, after the commands: each is the ``app`` of its module.
GROUPS = ("db", "case", "audit", "keys", "content", "campaign", "post", "outbox", "user")


def build(only: str | None = None) -> typer.Typer:
    """The program: every command, or only the command (or group) ``only`` when it is one."""
    if only not in COMMANDS and only not in GROUPS:
        only = None
    program = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        help="haven: a surrender hotline.",
    )
    # A group even with one command in it: `haven chat` stays `haven chat`.
    program.callback()(_program)
    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            program.command(name)(getattr(import_module(f"{__name__}.{module}"), function))
    for name in GROUPS:
        if only in (None, name):
            program.add_typer(import_module(f"{__name__}.{name}").app, name=name)
    return program


def _program() -> None:
    """haven: a surrender hotline."""


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole program, built once when first asked for
        whole = build()
        globals()["app"] = whole
        return whole
    raise AttributeError(name)


def main() -> None:
    """The ``haven`` program: run the command; a known failure is one line and exit 2."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    try:
        build(command)()
    except ERRORS as exc:
        typer.echo(error_line(exc), err=True)
        sys.exit(2)
