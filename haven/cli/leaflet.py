"""``haven leaflet``, ``haven leaflet-batch`` and ``haven phrasebook``: the printed material
(PDF)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from haven import crypto
from haven.campaigns.links import links
from haven.services.campaigns import Campaigns
from haven.services.verify import Check, verify_for
from haven.settings import Settings

from .common import CliError, opened_store, run, settings


def _verify(cfg: Settings) -> Check:
    """The verify check this deployment prints on every leaflet."""
    return verify_for(cfg.telegram_bot_username, crypto.load_intake_keys(cfg.keys_dir))


@run
async def leaflet(
    campaign: Annotated[str, typer.Option(help="Campaign code.")],
    out: Annotated[Path, typer.Option(help="PDF file to write.")],
    lang: Annotated[str, typer.Option(help="A language: ko, ru, uk, en, es, fr, ar, …")] = "ko",
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
) -> None:
    """A print-ready leaflet (PDF, front and back) for one campaign and language."""
    from haven.campaigns.leaflet import write_leaflet

    cfg = settings()
    async with opened_store(cfg) as store:
        record = await Campaigns(store).get(campaign)
    write_leaflet(out, lang, size.upper(), links(cfg, record.code), _verify(cfg))
    typer.echo(str(out))


@run
async def leaflet_batch(
    out_dir: Annotated[Path, typer.Option(help="Directory for the PDFs.")],
    campaign: Annotated[list[str] | None, typer.Option(help="Codes (repeat; all if none).")] = None,
    lang: Annotated[
        list[str] | None, typer.Option(help="Languages (default: each campaign's).")
    ] = None,
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
) -> None:
    """Leaflets for many campaigns x languages, with a progress bar: DIR/CODE-LANG-SIZE.pdf."""
    from haven.campaigns.leaflet import write_leaflet

    cfg = settings()
    async with opened_store(cfg) as store:
        records = await Campaigns(store).list()
    if campaign:
        wanted = {c.strip().lower() for c in campaign}
        unknown = wanted - {r.code for r in records}
        if unknown:
            raise CliError(f"no campaign {sorted(unknown)[0]!r}")
        records = [r for r in records if r.code in wanted]
    jobs = [(r, lg) for r in records for lg in (lang or r.langs)]
    verify = _verify(cfg)
    with typer.progressbar(jobs, label="leaflets", file=sys.stderr) as bar:
        for record, lg in bar:
            target = out_dir / f"{record.code}-{lg}-{size.upper()}.pdf"
            write_leaflet(target, lg, size.upper(), links(cfg, record.code), verify)
    typer.echo(f"{len(jobs)} leaflets in {out_dir}")


def phrasebook(
    out: Annotated[Path, typer.Option(help="PDF file to write.")],
    lang: Annotated[str, typer.Option(help="The language spoken to: ko, ar, zh, …")] = "ko",
    for_: Annotated[str, typer.Option("--for", help="The reader's language: uk or ru.")] = "uk",
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
) -> None:
    """The front-line phrasebook card (PDF): the line in its script, Cyrillic to read aloud,
    meaning."""
    from haven.campaigns.phrasebook import write_phrasebook

    write_phrasebook(out, for_, size.upper(), lang)
    typer.echo(str(out))
