"""``haven …`` commands (Typer). Every failure ends in one clear line and exit status 2."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from haven import crypto
from haven.content import LANGS, MissingCatalog, catalog
from haven.domain.codephrase import cyrillic
from haven.domain.reference import ALPHABET, BadReference
from haven.flows import Reply, State
from haven.flows.inputs import Command, Text
from haven.services.admin import (
    audit_head,
    forget_retired_keys,
    prepare_database,
    rotate_keys,
    verify_audit,
)
from haven.services.campaigns import CampaignError
from haven.services.cases import CaseNotFound, Cases
from haven.services.intake import Intake, default_engine
from haven.settings import Settings, SettingsError, load_settings
from haven.store import migrate
from haven.store.audit import AuditNotReady, Head
from haven.store.db import InsecureFiles, Store

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

#: Where ``haven init`` leaves a passphrase it made without a terminal (inside the data dir).
PASSPHRASE_FILE = "passphrase.txt"  # noqa: S105 - a file name


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
    from haven import logs

    logs.configure(level)


def passphrase(cfg: Settings, *, confirm: bool = False) -> str:
    if cfg.passphrase:
        return cfg.passphrase
    if sys.stdin.isatty():
        return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
    raise CliError("no passphrase: set HAVEN_PASSPHRASE or run this at a terminal")


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


async def open_store(cfg: Settings, *, check_migrated: bool = True) -> Store:
    if crypto.keys_exist(cfg.keys_dir):
        # The routing key: appending to the audit log opens the chain's key with it.
        crypto.load_intake_keys(cfg.keys_dir)
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


@db_app.command("upgrade")
@run
async def db_upgrade() -> None:
    """Apply the Alembic migrations."""
    cfg = settings()
    store = Store(cfg.db_url)
    try:
        try:
            await prepare_database(store, cfg.keys_dir)
        except AuditNotReady:  # keys from before the audit chain was keyed
            await prepare_database(store, cfg.keys_dir, passphrase(cfg))
    finally:
        await store.close()
    typer.echo("database is up to date")


@app.command("run")
def run_all() -> None:
    """Start the intake (HAVEN_HOST:HAVEN_PORT) and the console (127.0.0.1:HAVEN_CONSOLE_PORT)
    as two processes; Ctrl-C stops both. The intake never sees HAVEN_PASSPHRASE."""
    from haven.server import run_both

    cfg = _ready_to_serve()
    typer.echo(
        f"haven: intake on http://{cfg.host}:{cfg.port}/, "
        f"console on http://{cfg.console_host}:{cfg.console_port}/console/",
        err=True,
    )
    raise typer.Exit(run_both(cfg))


@app.command()
def serve() -> None:
    """Serve the public intake (web pages, Telegram, outbox worker) on HAVEN_HOST:HAVEN_PORT.

    It holds the case public key and the routing key only: it refuses to start when it can
    see the passphrase, and cannot unlock the case key."""
    from haven.server import INTAKE_FORBIDDEN_ENV, create_app, serve_forever

    present = [name for name in INTAKE_FORBIDDEN_ENV if name in os.environ]
    if present:
        raise CliError(
            f"{present[0]} is set: the internet-facing intake must never hold it. Unset it "
            "here; give it only to `haven console` (`haven run` does this for you)"
        )
    crypto.refuse_private_keys()
    cfg = _ready_to_serve()
    left = cfg.data_dir / PASSPHRASE_FILE
    if left.exists():
        raise CliError(
            f"{left} holds the master passphrase, where the internet-facing intake can read "
            "it: copy it offline, delete it, then start again"
        )
    serve_forever(create_app(cfg), cfg)


def _ready_to_serve() -> Settings:
    """Settings, logging, keys checked and the database migrated, before a server starts."""
    cfg = settings()
    configure_logging(cfg.log_level)
    crypto.load_intake_keys(cfg.keys_dir)  # refuse to start without keys, or with open ones
    asyncio.run(ensure_migrated(cfg))
    return cfg


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


# --- cases, audit, keys --------------------------------------------------------------------


@case_app.command("show")
@run
async def case_show(reference: str) -> None:
    """Decrypt and print a case (needs the passphrase; the read is audited)."""
    cfg = settings()
    keyring = crypto.unlock(cfg.keys_dir, passphrase(cfg))
    async with opened_store(cfg) as store:
        view = await Cases(store).read(reference, keyring, actor="cli")
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
async def audit_verify(
    head: Annotated[
        str | None, typer.Option(help="A head printed by `haven audit head`, kept elsewhere.")
    ] = None,
) -> None:
    """Check the audit chain from its first key (needs the passphrase); with --head, also
    that the log still holds the event that head names, unchanged. Names the first broken
    link."""
    cfg = settings()
    try:
        pinned = Head.parse(head) if head is not None else None
    except ValueError as exc:
        raise CliError(f"--head: {exc}") from None
    keyring = crypto.unlock(cfg.keys_dir, passphrase(cfg))
    async with opened_store(cfg) as store:
        verdict = await verify_audit(store, keyring, pinned)
    if verdict.ok:
        typer.echo(f"audit log intact: {verdict.checked} events")
        return
    where = f"at event {verdict.broken_id}" if verdict.broken_id is not None else "at its end"
    typer.echo(
        f"audit log BROKEN {where}: {verdict.why} ({verdict.checked} events before it are intact)",
        err=True,
    )
    raise typer.Exit(1)


@audit_app.command("head")
@run
async def audit_head_cmd() -> None:
    """Print the log's head (last event id and link): keep it elsewhere, and check the log
    against it later with `haven audit verify --head`."""
    cfg = settings()
    async with opened_store(cfg) as store:
        typer.echo(str(await audit_head(store)))


@app.command()
@run
async def purge(
    days: Annotated[
        int | None, typer.Option(help="Retention in days (default HAVEN_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Wipe what closed cases hold about people, once closed longer than the retention, and
    questionnaires abandoned for longer than HAVEN_DRAFT_HOURS."""
    from haven.services.erasure import purge_closed, purge_drafts

    cfg = settings()
    retention = days if days is not None else cfg.retention_days
    if retention < 1:
        raise CliError("--days must be at least 1")
    async with opened_store(cfg) as store:
        count = await purge_closed(store, retention)
        drafts = await purge_drafts(store, cfg.draft_hours)
        await store.settle()
    typer.echo(f"{count} closed cases purged (closed more than {retention} days ago)")
    typer.echo(f"{drafts} abandoned questionnaires erased (idle more than {cfg.draft_hours} h)")


@keys_app.command("rotate")
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


@keys_app.command("forget-retired")
@run
async def keys_forget_retired() -> None:
    """Re-seal what is still sealed to a retired key, then delete the retired keys. Only once
    every intake host seals to the new case.pub."""
    cfg = settings()
    secret = passphrase(cfg)
    async with opened_store(cfg) as store:
        count = await forget_retired_keys(store, cfg.keys_dir, secret)
    typer.echo(f"{count} retired case keys deleted")


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


# --- campaigns, leaflets, phrasebook, posts, report ------------------------------

campaign_app = typer.Typer(no_args_is_help=True, help="Campaigns: what brings people in.")
post_app = typer.Typer(no_args_is_help=True, help="Posts to a Telegram channel.")
app.add_typer(campaign_app, name="campaign")
app.add_typer(post_app, name="post")


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{name} {value!r}: a date like 2026-12-01") from None


def _verify(cfg: Settings) -> Any:
    from haven.services.verify import verify_for

    return verify_for(cfg.telegram_bot_username, crypto.load_intake_keys(cfg.keys_dir))


@campaign_app.command("add")
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
    from haven.campaigns.links import links
    from haven.services.campaigns import CampaignKind, Campaigns, CampaignSpec

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


@campaign_app.command("list")
@run
async def campaign_list() -> None:
    """Every campaign with its deep links."""
    from haven.campaigns.links import links
    from haven.services.campaigns import Campaigns

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


async def _campaign(cfg: Settings, code: str) -> Any:
    from haven.services.campaigns import Campaigns

    async with opened_store(cfg) as store:
        return await Campaigns(store).get(code)


@app.command()
@run
async def leaflet(
    campaign: Annotated[str, typer.Option(help="Campaign code.")],
    out: Annotated[Path, typer.Option(help="PDF file to write.")],
    lang: Annotated[str, typer.Option(help="ko, ru, uk or en.")] = "ko",
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
) -> None:
    """A print-ready leaflet (PDF, front and back) for one campaign and language."""
    from haven.campaigns.leaflet import write_leaflet
    from haven.campaigns.links import links

    cfg = settings()
    record = await _campaign(cfg, campaign)
    write_leaflet(out, lang, size.upper(), links(cfg, record.code), _verify(cfg))
    typer.echo(str(out))


@app.command("leaflet-batch")
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
    from haven.campaigns.links import links
    from haven.services.campaigns import Campaigns

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


@app.command()
def phrasebook(
    out: Annotated[Path, typer.Option(help="PDF file to write.")],
    lang: Annotated[str, typer.Option(help="The language spoken to: ko.")] = "ko",
    for_: Annotated[str, typer.Option("--for", help="The reader's language: uk or ru.")] = "uk",
    size: Annotated[str, typer.Option(help="A6 or A5.")] = "A6",
) -> None:
    """The front-line phrasebook card (PDF): Hangul, Cyrillic to read aloud, meaning."""
    from haven.campaigns.phrasebook import write_phrasebook

    write_phrasebook(out, for_, size.upper(), lang)
    typer.echo(str(out))


@app.command()
@run
async def report(
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the table as CSV ('-': stdout).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML page with charts.")] = None,
) -> None:
    """The funnel per campaign, language, sector and week; counts under 5 shown as <5."""
    from haven.campaigns import report as rep
    from haven.services.campaigns import Campaigns

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


@content_app.command("lint")
def content_lint(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="A translator's own .po or text files to check instead of the shipped texts.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
) -> None:
    """Catalog problems, and Korean that a North Korean reader would notice: each finding names
    the file or text, the message, the word, the North Korean form and the source. Advice (a
    word the North also uses) is shown but does not fail."""
    from haven.content.lint import lint, lint_files

    findings = lint_files(files) if files else lint()
    for finding in findings:
        typer.echo(str(finding), err=True)
    errors = [f for f in findings if f.error]
    if errors:
        typer.echo(f"{len(errors)} findings", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"content lint: no findings ({len(findings)} advice)"
        if findings
        else "content lint: no findings"
    )


def _parse_when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--at {value!r}: a UTC time like 2026-12-01T18:00") from None
    return moment.replace(tzinfo=None)


def _post_texts(items: list[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for item in items:
        lg, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--text {item[:20]!r}: LANG=TEXT")
        if value.startswith("@"):
            value = Path(value[1:]).read_text("utf-8")
        texts[lg.strip()] = value
    return texts


@post_app.command("add")
@run
async def post_add(
    channel: Annotated[str, typer.Option(help="@channel where the bot is an admin.")],
    text: Annotated[list[str], typer.Option(help="LANG=TEXT or LANG=@file.txt (repeat).")],
    campaign: Annotated[str | None, typer.Option(help="Campaign code (adds its link).")] = None,
    media: Annotated[Path | None, typer.Option(help="A photo or video file.")] = None,
    at: Annotated[str | None, typer.Option(help="When, UTC (default: now).")] = None,
) -> None:
    """Compose and schedule a post; prints its preview."""
    from haven.campaigns.links import links
    from haven.campaigns.posts import check_length, compose, media_kind, preview
    from haven.services.campaigns import Campaigns, PostSpec

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


@post_app.command("list")
@run
async def post_list() -> None:
    """Scheduled, queued and cancelled posts."""
    from haven.services.campaigns import Campaigns

    cfg = settings()
    async with opened_store(cfg) as store:
        records = await Campaigns(store).posts()
    for r in records:
        typer.echo(
            f"{r.id}  {r.status}  {r.scheduled_at:%Y-%m-%d %H:%M}  {r.channel}  "
            f"{r.campaign or '-'}  {','.join(sorted(r.texts))}"
        )


@post_app.command("preview")
@run
async def post_preview(post_id: int) -> None:
    """What each language's message of a post will say."""
    from haven.campaigns.links import links
    from haven.campaigns.posts import preview
    from haven.services.campaigns import Campaigns

    cfg = settings()
    async with opened_store(cfg) as store:
        found = [r for r in await Campaigns(store).posts() if r.id == post_id]
    if not found:
        raise CliError(f"no post {post_id}")
    post = found[0]
    typer.echo(preview(post, links(cfg, post.campaign) if post.campaign else None))


@post_app.command("cancel")
@run
async def post_cancel(post_id: int) -> None:
    """Cancel a scheduled post."""
    from haven.services.campaigns import Campaigns

    cfg = settings()
    async with opened_store(cfg) as store:
        await Campaigns(store).cancel_post(post_id)
    typer.echo(f"post {post_id} cancelled")


@post_app.command("publish")
@run
async def post_publish() -> None:
    """Queue every due post in the outbox (the outbox worker of `haven serve` sends them)."""
    from haven.campaigns.links import links
    from haven.campaigns.posts import OutboxSink
    from haven.services.campaigns import Campaigns, publish_due

    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    async with opened_store(cfg) as store:
        codes = [r.code for r in await Campaigns(store).list()]
        sink = OutboxSink(keys, {code: links(cfg, code) for code in codes})
        done = await publish_due(store, sink)
    typer.echo(f"{len(done)} posts queued" + (f": {', '.join(map(str, done))}" if done else ""))


# --- outbox ----------------------------------------------------------------------

outbox_app = typer.Typer(no_args_is_help=True, help="The outbox: queued outgoing messages.")
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("status")
@run
async def outbox_status() -> None:
    """How many messages are pending, in flight, sent, failed or dropped."""
    from sqlalchemy import func, select

    from haven.store.models import OutboxMessage

    cfg = settings()
    async with opened_store(cfg) as store:
        async with store.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            )
            counts = {state: int(n) for state, n in rows.all()}
    for state in ("pending", "sending", "sent", "failed", "dropped"):
        typer.echo(f"{state}: {counts.get(state, 0)}")


@outbox_app.command("work")
@run
async def outbox_work() -> None:
    """Run an outbox worker only (more senders beside `haven serve`, on PostgreSQL)."""
    from haven.server import run_outbox_worker

    cfg = settings()
    configure_logging(cfg.log_level)
    if not cfg.telegram_token:
        raise CliError("HAVEN_TELEGRAM_TOKEN is not set: there is nothing to send to")
    await ensure_migrated(cfg)
    await run_outbox_worker(cfg)


# --- console users and the console alone -----------------------------------------

user_app = typer.Typer(no_args_is_help=True, help="Console users.")
app.add_typer(user_app, name="user")


@user_app.command("add")
@run
async def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="operator, coordinator, analyst or admin.")],
    sectors: Annotated[
        str, typer.Option(help="Coordinators: sectors, comma-separated; * = all.")
    ] = "*",
    lang: Annotated[str, typer.Option(help="Console language: uk or en.")] = "en",
) -> None:
    """Create a console user and print a one-time setup link (valid 72 hours).

    The account is sealed with the master passphrase (HAVEN_PASSPHRASE, or asked at a
    terminal); an admin may be added without it and is sealed when he unlocks the console."""
    from haven.services.accounts import AccountError, Accounts, Role
    from haven.services.seals import Seals

    if role not in {r.value for r in Role}:
        raise CliError("--role must be one of operator, coordinator, analyst, admin")
    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    keyring = (
        crypto.unlock(cfg.keys_dir, passphrase(cfg))
        if cfg.passphrase or role != Role.admin.value
        else None
    )

    async def unlocked() -> crypto.CaseKeyring | None:
        return keyring

    store = await open_store(cfg)
    try:
        accounts = Accounts(store, keys, keyring=unlocked, seals=Seals(cfg.seals_path))
        token = await accounts.add_user(name, role, "cli", sectors=sectors, lang=lang)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    finally:
        await store.close()
    typer.echo(
        f"user {name} ({role}) created. One-time setup link, valid 72 hours; open it on the "
        f"console host and give it over a safe channel:\n\n    "
        f"http://{cfg.console_host}:{cfg.console_port}/console/setup/{token}\n"
    )


@user_app.command("unlock")
@run
async def user_unlock(name: str) -> None:
    """Lift the wait that failed logins put on an account, at once (audited)."""
    from haven.services.accounts import AccountError, Accounts

    cfg = settings()
    keys = crypto.load_intake_keys(cfg.keys_dir)
    async with opened_store(cfg) as store:
        try:
            await Accounts(store, keys).unlock(name, "cli")
        except AccountError as exc:
            raise CliError(str(exc)) from None
    typer.echo(f"user {name.strip()} can log in again")


@user_app.command("seal")
@run
async def user_seal() -> None:
    """Seal every console account as it is now, with the master passphrase (once, after an
    upgrade from a version whose accounts were not sealed): you vouch for every row."""
    from haven.services.accounts import Accounts
    from haven.services.seals import Seals

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


@app.command()
def console() -> None:
    """Serve the operators' console (/console) on HAVEN_CONSOLE_HOST:HAVEN_CONSOLE_PORT: the
    only process that unlocks the case key (from HAVEN_PASSPHRASE, or an admin's entry)."""
    from haven.hardening import refuse_inspection
    from haven.server import create_console, serve_forever

    refuse_inspection()
    cfg = _ready_to_serve()
    serve_forever(create_console(cfg), cfg, host=cfg.console_host, port=cfg.console_port)


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


def main() -> None:
    try:
        app()
    except ERRORS as exc:
        message = f"not found: case {exc}" if isinstance(exc, CaseNotFound) else str(exc)
        typer.echo(f"haven: {message}", err=True)
        sys.exit(2)
