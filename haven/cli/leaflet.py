"""``haven leaflet``, ``haven leaflet-batch`` and ``haven phrasebook``: the printed material
(PDF)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from haven import crypto
from haven.campaigns.links import links
from haven.services.campaigns import BatchRecord, Campaigns, batch_mark
from haven.services.verify import Check, deployment_check
from haven.settings import Settings

from .common import CliError, opened_store, run, settings


def _verify(cfg: Settings) -> Check:
    """The verify check this deployment prints on every leaflet."""
    return deployment_check(cfg, crypto.load_intake_keys(cfg.keys_dir))


@run
async def leaflet(
    campaign: Annotated[str, typer.Option(help="Campaign code.")],
    out: Annotated[Path, typer.Option(help="PDF file to write.")],
    lang: Annotated[str, typer.Option(help="A language: ko, ru, uk, en, es, fr, ar, …")] = "ko",
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
    batch: Annotated[
        int | None, typer.Option(help="A print batch numbered by leaflet-batch, to print again.")
    ] = None,
) -> None:
    """A print-ready leaflet (PDF, front and back) for one campaign and language."""
    from haven.campaigns.leaflet import write_leaflet

    cfg = settings()
    async with opened_store(cfg) as store:
        record = await Campaigns(store).get(campaign)
        numbered = await Campaigns(store).batch(record.code, batch) if batch else None
    code, mark = _marked(record.code, numbered)
    write_leaflet(out, lang, size.upper(), links(cfg, code), _verify(cfg), mark)
    typer.echo(str(out))


def _marked(campaign: str, batch: BatchRecord | None) -> tuple[str, str]:
    """The code a leaflet's link carries and the mark printed beside it."""
    if batch is None:
        return campaign, campaign
    return batch.code, batch_mark(batch.campaign, batch.number)


@run
async def leaflet_batch(
    out_dir: Annotated[Path, typer.Option(help="Directory for the PDFs.")],
    campaign: Annotated[list[str] | None, typer.Option(help="Codes (repeat; all if none).")] = None,
    lang: Annotated[
        list[str] | None, typer.Option(help="Languages (default: each campaign's).")
    ] = None,
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
) -> None:
    """A new numbered print batch of each campaign (1, 2, 3 … per campaign), its leaflets in
    every language, with a progress bar: DIR/CODE-BATCH-LANG-SIZE.pdf. The batch's number is
    in each leaflet's QR link and printed beside the campaign code, so that a walk-in's
    leaflet tells which drop it came from."""
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
        batches = {r.code: await Campaigns(store).number_batch(r.code) for r in records}
    for record in records:
        numbered = batches[record.code]
        typer.echo(f"{record.code}: print batch {numbered.number} ({numbered.code})")
    jobs = [(r, lg) for r in records for lg in (lang or r.langs)]
    verify = _verify(cfg)
    with typer.progressbar(jobs, label="leaflets", file=sys.stderr) as bar:
        for record, lg in bar:
            code, mark = _marked(record.code, batches[record.code])
            target = out_dir / f"{code}-{lg}-{size.upper()}.pdf"
            write_leaflet(target, lg, size.upper(), links(cfg, code), verify, mark)
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
