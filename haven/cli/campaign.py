"""``haven campaign …`` and ``haven report``: campaigns, their deep links and their funnel."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from haven.campaigns import report as rep
from haven.campaigns.links import links
from haven.services.campaigns import CampaignKind, Campaigns, CampaignSpec

from .common import CliError, opened_store, run, settings

app = typer.Typer(no_args_is_help=True, help="Campaigns: what brings people in.")


def _date(value: str | None, name: str) -> date | None:
    """``value`` as a date (None when empty); a bad one fails naming the option ``name``."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{name} {value!r}: a date like 2026-12-01") from None


@app.command("add")
@run
async def campaign_add(
    code: Annotated[str, typer.Argument(help="Short code, e.g. kursk-a1 (a-z, 0-9, - and _).")],
    name: Annotated[str, typer.Option(help="What the campaign is.")],
    kind: Annotated[str, typer.Option(help="leaflet, video, post or other.")] = "leaflet",
    lang: Annotated[list[str] | None, typer.Option(help="Languages (repeat).")] = None,
    sector: Annotated[str, typer.Option(help="Front sector or drop zone.")] = "",
    starts: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    ends: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
) -> None:
    """Add a campaign and print its deep links."""
    cfg = settings()
    if kind not in {k.value for k in CampaignKind}:
        raise CliError(f"--kind {kind!r}: one of {', '.join(k.value for k in CampaignKind)}")
    spec = CampaignSpec(
        code,
        name,
        CampaignKind(kind),
        tuple(lang or ["ko"]),
        sector,
        _date(starts, "--starts"),
        _date(ends, "--ends"),
    )
    async with opened_store(cfg) as store:
        record = await Campaigns(store).add(spec)
    typer.echo(f"campaign {record.code} added")
    for link in links(cfg, record.code).all:
        typer.echo(f"  {link}")


@app.command("list")
@run
async def campaign_list() -> None:
    """Every campaign with its deep links."""
    cfg = settings()
    async with opened_store(cfg) as store:
        records = await Campaigns(store).list()
    for r in records:
        dates = f"{r.starts_on or '…'}..{r.ends_on or '…'}"
        typer.echo(
            f"{r.code}  {r.kind.value}  {','.join(r.langs)}  {r.sector or '-'}  {dates}  {r.name}"
        )
        for link in links(cfg, r.code).all:
            typer.echo(f"    {link}")
    if not records:
        typer.echo("no campaigns yet: `haven campaign add CODE --name …`")


@run
async def report(
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the table as CSV ('-': stdout).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML page with charts.")] = None,
) -> None:
    """The funnel per campaign, language, sector and week; counts under 5 shown as <5."""
    cfg = settings()
    async with opened_store(cfg) as store:
        rows = await Campaigns(store).funnel()
    if csv_out is not None and str(csv_out) == "-":
        typer.echo(rep.to_csv(rows), nl=False)
        return
    typer.echo(rep.to_text(rows))
    if csv_out is not None:
        csv_out.write_text(rep.to_csv(rows), "utf-8")
    if html is not None:
        html.write_text(rep.to_html(rows), "utf-8")
