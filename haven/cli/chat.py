"""``haven chat``: the questionnaire in the terminal, and how a reply is shown there."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from haven import crypto
from haven.content import LANGS
from haven.flows import Reply
from haven.flows.inputs import Command, Text
from haven.services.intake import Intake

from .common import CliError, open_store, run, settings


def render(reply: Reply) -> str:
    """A reply as terminal text: its text, then its choices numbered from 1."""
    lines = [reply.text]
    lines += [f"  {n}. {option.label}" for n, option in enumerate(reply.choices, start=1)]
    return "\n".join(lines)


def _lines(prompt: str) -> Iterator[str]:
    """The lines typed at a terminal (after ``prompt``), or piped in, until end of input."""
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


@run
async def chat(
    lang: Annotated[str | None, typer.Option(help="Language: ko, ru, uk or en.")] = None,
) -> None:
    """The questionnaire in the terminal, against the real store. Reads lines when piped."""
    if lang is not None and lang not in LANGS:
        raise CliError(f"--lang must be one of {', '.join(LANGS)}")
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
