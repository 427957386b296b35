"""``haven post …``: posts to a Telegram channel, composed, scheduled and queued."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from haven import crypto
from haven.campaigns.links import links
from haven.campaigns.posts import check_length, compose, media_kind, preview, publish
from haven.services.campaigns import Campaigns, PostSpec

from .common import CliError, opened_store, run, settings

app = typer.Typer(no_args_is_help=True, help="Posts to a Telegram channel.")


def _parse_when(value: str) -> datetime:
    """``--at`` as a naive UTC time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--at {value!r}: a UTC time like 2026-12-01T18:00") from None
    return moment.replace(tzinfo=None)


def _post_texts(items: list[str]) -> dict[str, str]:
    """``LANG=TEXT`` or ``LANG=@file.txt`` items as texts by language."""
    texts: dict[str, str] = {}
    for item in items:
        lg, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--text {item[:20]!r}: LANG=TEXT")
        if value.startswith("@"):
            value = Path(value[1:]).read_text("utf-8")
        texts[lg.strip()] = value
    return texts


@app.command("add")
@run
async def post_add(
    channel: Annotated[str, typer.Option(help="@channel where the bot is an admin.")],
    text: Annotated[list[str], typer.Option(help="LANG=TEXT or LANG=@file.txt (repeat).")],
    campaign: Annotated[str | None, typer.Option(help="Campaign code (adds its link).")] = None,
    media: Annotated[Path | None, typer.Option(help="A photo or video file.")] = None,
    at: Annotated[str | None, typer.Option(help="When, UTC (default: now).")] = None,
) -> None:
    """Compose and schedule a post; prints its preview."""
    cfg = settings()
    texts = _post_texts(text)
    kind = media_kind(media) if media is not None else ""
    when = _parse_when(at) if at else datetime.now(UTC).replace(tzinfo=None)
    link = links(cfg, campaign.strip().lower()) if campaign else None
    for value in texts.values():
        check_length(compose(value, link), media is not None)
    spec = PostSpec(channel, texts, when, campaign, str(media.resolve()) if media else "", kind)
    async with opened_store(cfg) as store:
        record = await Campaigns(store).schedule_post(spec)
    typer.echo(preview(record, link))


@app.command("list")
@run
async def post_list() -> None:
    """Scheduled, queued and cancelled posts."""
    cfg = settings()
    async with opened_store(cfg) as store:
        records = await Campaigns(store).posts()
    for r in records:
        typer.echo(
            f"{r.id}  {r.status}  {r.scheduled_at:%Y-%m-%d %H:%M}  {r.channel}  "
            f"{r.campaign or '-'}  {','.join(sorted(r.texts))}"
        )


@app.command("preview")
@run
async def post_preview(post_id: int) -> None:
    """What each language's message of a post will say."""
    cfg = settings()
    async with opened_store(cfg) as store:
        found = [r for r in await Campaigns(store).posts() if r.id == post_id]
    if not found:
        raise CliError(f"no post {post_id}")
    post = found[0]
    typer.echo(preview(post, links(cfg, post.campaign) if post.campaign else None))


@app.command("cancel")
@run
async def post_cancel(post_id: int) -> None:
    """Cancel a scheduled post."""
    cfg = settings()
    async with opened_store(cfg) as store:
        await Campaigns(store).cancel_post(post_id)
    typer.echo(f"post {post_id} cancelled")


@app.command("publish")
@run
async def post_publish() -> None:
    """Queue every due post in the outbox (the outbox worker of `haven serve` sends them)."""
    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    async with opened_store(cfg) as store:
        done = await publish(cfg, store, keys)
    typer.echo(f"{len(done)} posts queued" + (f": {', '.join(map(str, done))}" if done else ""))
