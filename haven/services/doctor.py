"""``haven doctor``: what is wrong with a deployment, each finding with how to fix it.

Checks, in order: the data dir's, key files' and database files' permissions; the database
reachable, migrated, its audit chain started; the console a process of its own (not on the
intake's address, not reachable through the intake's port); Telegram reachable, the bot's
name, the webhook set where it should be, with a secret every intake process shares and that
the webhook enforces; the onion address and the mirrors answering; free disk space; when
retention and the last backup ran (from the audit log). Only the URLs the settings name are
contacted. No finding quotes a token, a passphrase or anything an applicant wrote.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from haven import crypto
from haven.settings import Settings
from haven.store import migrate
from haven.store.db import InsecureFiles, make_engine
from haven.store.models import AuditEvent, utcnow

#: The file ``haven init`` leaves a passphrase in when it made one (see ``haven.cli.common``).
PASSPHRASE_FILE = "passphrase.txt"  # noqa: S105 - a file name
#: The header Telegram sends the webhook's secret in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Limits:
    min_free_bytes: int = 1 << 30
    max_backup_age: timedelta = timedelta(hours=48)
    max_retention_age: timedelta = timedelta(hours=48)
    http_timeout: float = 5.0


def _ok(check: str, message: str) -> Finding:
    return Finding(check, True, message)


def _problem(check: str, message: str, fix: str) -> Finding:
    return Finding(check, False, message, fix)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- files ----------------------------------------------------------------------------------


def check_files(settings: Settings) -> list[Finding]:
    data_dir = settings.data_dir
    found: list[Finding] = []
    if not data_dir.is_dir():
        return [_problem("data dir", f"{data_dir} does not exist", "run `haven init`")]
    if _mode(data_dir) & 0o077:
        found.append(
            _problem(
                "data dir",
                f"{data_dir} is open to others (mode {_mode(data_dir):04o})",
                f"chmod 700 {data_dir}, and check who else had access",
            )
        )
    elif data_dir.stat().st_uid != os.geteuid():
        found.append(
            _problem(
                "data dir",
                f"{data_dir} belongs to another user (uid {data_dir.stat().st_uid})",
                "run haven as its owner, or chown -R it to the user haven runs as",
            )
        )
    else:
        found.append(_ok("data dir", f"{data_dir} is the owner's alone"))
    keys_dir = settings.keys_dir
    if not (keys_dir / crypto.CASE_PUB).exists() or not (keys_dir / crypto.ROUTING_KEY).exists():
        found.append(
            _problem(
                "keys",
                f"no keys in {keys_dir} (case.pub and routing.key)",
                "run `haven init`, or copy keys/ from the console host with its modes",
            )
        )
    else:
        open_files = [p for p in [keys_dir, *keys_dir.rglob("*")] if _mode(p) & 0o077]
        if open_files:
            names = ", ".join(f"{p} ({_mode(p):04o})" for p in open_files[:5])
            found.append(
                _problem(
                    "keys",
                    f"key files open to others: {names}",
                    f"chmod -R go-rwx {keys_dir}, and check who else had access",
                )
            )
        else:
            found.append(_ok("keys", f"{keys_dir} and its files are 0700/0600"))
    leftovers = sorted(
        [
            *data_dir.glob(".backup-*.db*"),
            *data_dir.glob(".restore-*.db"),
            *data_dir.glob("backups/*.part"),
        ]
    )
    if leftovers:
        found.append(
            _problem(
                "leftovers",
                f"an interrupted backup or restore left {', '.join(map(str, leftovers[:3]))}",
                "delete them (they hold a copy of the database) once no backup is running",
            )
        )
    left = data_dir / PASSPHRASE_FILE
    if left.exists():
        found.append(
            _problem(
                "passphrase",
                f"{left} is still there: whoever reads it reads every case",
                "copy the passphrase somewhere offline, then delete the file",
            )
        )
    if settings.is_sqlite:
        db = _sqlite_file(settings)
        files = [p for p in (db, *(Path(f"{db}{s}") for s in ("-wal", "-shm"))) if p.exists()]
        open_db = [p for p in files if _mode(p) & 0o077]
        if open_db:
            names = ", ".join(f"{p} ({_mode(p):04o})" for p in open_db)
            found.append(_problem("database files", f"open to others: {names}", f"chmod 600 {db}*"))
        elif files:
            found.append(_ok("database files", f"{db} is 0600"))
    return found


def _sqlite_file(settings: Settings) -> Path:
    return Path(settings.db_url.split("///", 1)[-1])


def check_disk(settings: Settings, limits: Limits) -> Finding:
    where = settings.data_dir if settings.data_dir.exists() else Path(".")
    free = shutil.disk_usage(where).free
    if free < limits.min_free_bytes:
        return _problem(
            "disk",
            f"{free / 2**20:,.0f} MiB free where {where} is "
            f"(less than {limits.min_free_bytes / 2**20:,.0f} MiB)",
            "free some space or grow the disk: a full disk stops every write, applicants' too",
        )
    return _ok("disk", f"{free / 2**30:,.1f} GiB free")


# --- the database ---------------------------------------------------------------------------


async def check_database(engine: AsyncEngine, limits: Limits) -> list[Finding]:
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return [
            _problem(
                "database",
                f"cannot reach the database ({type(exc).__name__})",
                "check HAVEN_DATABASE_URL, that the server runs, and the user's rights",
            )
        ]
    found: list[Finding] = []
    if await migrate.pending(engine):
        found.append(
            _problem("database", "the database is not up to date", "run `haven db upgrade`")
        )
        return found
    if not await migrate.has_audit_chain(engine):
        found.append(
            _problem("database", "the audit log has no chain yet", "run `haven db upgrade`")
        )
        return found
    found.append(_ok("database", "reachable and up to date"))
    now = utcnow()
    for action, check, fix, age in (
        (
            "backup.made",
            "backup",
            "run `haven backup`, and install deploy/haven-backup.timer (README, Backups)",
            limits.max_backup_age,
        ),
        (
            "retention.ran",
            "retention",
            "run `haven purge` daily (deploy/haven-purge.timer, or cron)",
            limits.max_retention_age,
        ),
    ):
        last = await _last(engine, action)
        if last is None:
            found.append(_problem(check, f"no {check} recorded in the audit log", fix))
        elif now - last > age:
            hours = (now - last).total_seconds() / 3600
            found.append(_problem(check, f"the last {check} ran {hours:,.0f} hours ago", fix))
        else:
            found.append(_ok(check, f"last ran {last:%Y-%m-%d %H:%M} UTC"))
    return found


async def _last(engine: AsyncEngine, action: str) -> datetime | None:
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(sa.func.max(AuditEvent.at)).where(AuditEvent.action == action)
        )
    return found if isinstance(found, datetime) else None


# --- processes and the network --------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _everywhere(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")  # noqa: S104 - what is being checked for


def _url_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def check_processes(settings: Settings, client: httpx.AsyncClient) -> list[Finding]:
    found: list[Finding] = []
    same_port = settings.console_port == settings.port
    if same_port and (
        settings.console_host == settings.host
        or _everywhere(settings.host)
        or _everywhere(settings.console_host)
    ):
        found.append(
            _problem(
                "console",
                f"the console and the intake share {settings.host}:{settings.port}",
                "give the console its own HAVEN_CONSOLE_PORT (and ideally its own host)",
            )
        )
        return found
    if _everywhere(settings.console_host):
        found.append(
            _problem(
                "console",
                "the console listens on every interface",
                "set HAVEN_CONSOLE_HOST=127.0.0.1 (reach it over a VPN or an SSH tunnel)",
            )
        )
    # The intake, if it runs here, must not serve the console.
    host = "127.0.0.1" if _everywhere(settings.host) else settings.host
    base = f"http://{_url_host(host, settings.port)}"
    try:
        health = await client.get(base + "/healthz")
    except httpx.HTTPError:
        found.append(_ok("console", "a process of its own (no intake answers here)"))
        return found
    if health.status_code == 200:
        console = await client.get(base + "/console/")
        if console.status_code != 404:
            found.append(
                _problem(
                    "console",
                    f"the intake's port answers /console/ ({console.status_code})",
                    "run the console as its own process (`haven console`), never inside "
                    "the intake, and restart the intake",
                )
            )
            return found
    if not found:
        found.append(_ok("console", "a process of its own, apart from the intake"))
    return found


async def check_telegram(settings: Settings, client: httpx.AsyncClient) -> list[Finding]:
    if not settings.telegram_token:
        return [_ok("telegram", "no bot configured")]
    api = settings.telegram_api.rstrip("/")
    where = urlparse(api).netloc
    base = f"{api}/bot{settings.telegram_token}"
    try:
        me = (await client.get(f"{base}/getMe")).json()
        info = (await client.get(f"{base}/getWebhookInfo")).json()
    except (httpx.HTTPError, ValueError) as exc:  # never the URL: it holds the token
        return [
            _problem(
                "telegram",
                f"cannot reach the Bot API at {where} ({type(exc).__name__})",
                "check the host's network and HAVEN_TELEGRAM_API",
            )
        ]
    if not me.get("ok"):
        return [
            _problem(
                "telegram",
                f"the Bot API at {where} refuses the token ({me.get('error_code')})",
                "set HAVEN_TELEGRAM_TOKEN to the token @BotFather gave",
            )
        ]
    found: list[Finding] = []
    username = str(me.get("result", {}).get("username") or "")
    configured = settings.telegram_bot_username.lstrip("@")
    if configured and username.lower() != configured.lower():
        found.append(
            _problem(
                "telegram",
                f"the token is the bot @{username}, not @{configured}",
                "use the token of the bot that leaflets and pages name, or fix "
                "HAVEN_TELEGRAM_BOT_USERNAME",
            )
        )
    else:
        found.append(_ok("telegram", f"the Bot API answers, bot @{username}"))
    hook = info.get("result", {}) if info.get("ok") else {}
    set_url = str(hook.get("url") or "")
    wanted = settings.telegram_webhook_url
    if not wanted:
        if set_url:
            found.append(
                _problem(
                    "webhook",
                    "Telegram has a webhook set, but this haven polls",
                    "restart `haven serve` (polling deletes it), or set "
                    "HAVEN_TELEGRAM_WEBHOOK_URL on every intake process",
                )
            )
        else:
            found.append(_ok("webhook", "none (long polling)"))
        return found
    if set_url != wanted:
        found.append(
            _problem(
                "webhook",
                "Telegram's webhook is not HAVEN_TELEGRAM_WEBHOOK_URL"
                + (" (none is set)" if not set_url else ""),
                "start `haven serve`: it sets the webhook at start",
            )
        )
    if hook.get("last_error_message"):
        found.append(
            _problem(
                "webhook",
                f"Telegram reports the webhook failing: {str(hook['last_error_message'])[:120]}",
                "check the reverse proxy and TLS in front of `haven serve`",
            )
        )
    if not settings.telegram_webhook_secret:
        found.append(
            _problem(
                "webhook",
                "no HAVEN_TELEGRAM_WEBHOOK_SECRET: each intake process makes its own and sets "
                "it at Telegram, so the others refuse what Telegram sends them",
                "set one HAVEN_TELEGRAM_WEBHOOK_SECRET (random, 32+ characters) on every "
                "intake process",
            )
        )
    found.append(await _probe_webhook(wanted, client))
    return found


async def _probe_webhook(url: str, client: httpx.AsyncClient) -> Finding:
    """The webhook must refuse a request without the secret (no update is sent)."""
    try:
        answer = await client.post(url, content=b"{}", headers={SECRET_HEADER: "not-the-secret"})
    except httpx.HTTPError as exc:
        return _problem(
            "webhook",
            f"the webhook URL does not answer ({type(exc).__name__})",
            "start `haven serve` in webhook mode and check the reverse proxy in front of it",
        )
    if answer.status_code != 403:
        return _problem(
            "webhook",
            f"the webhook URL answers {answer.status_code} to a request without the secret",
            "make sure the URL leads to `haven serve` (which refuses such requests with 403)",
        )
    return _ok("webhook", "set, and it refuses requests without the secret")


async def check_addresses(settings: Settings, client: httpx.AsyncClient) -> list[Finding]:
    urls = ([settings.onion_url] if settings.onion_url else []) + list(settings.mirrors)
    if not urls:
        return [_ok("addresses", "no onion address or mirror configured")]
    found: list[Finding] = []
    for url in urls:
        onion = (urlparse(url).hostname or "").endswith(".onion")
        try:
            answer = await client.get(url)
            status: int | None = answer.status_code
        except httpx.HTTPError as exc:
            status, error = None, type(exc).__name__
        if status == 200:
            found.append(_ok("addresses", f"{url} answers"))
            continue
        fix = (
            "check tor runs and its HiddenServicePort; check it from this host with "
            "`torsocks haven doctor`"
            if onion
            else "check the mirror's web server and that it forwards to `haven serve`"
        )
        what = f"answers {status}" if status is not None else f"does not answer ({error})"
        found.append(_problem("addresses", f"{url} {what}", fix))
    return found


async def diagnose(settings: Settings, limits: Limits | None = None) -> list[Finding]:
    """Every check, in order."""
    limits = limits or Limits()
    found = check_files(settings)
    if settings.is_sqlite and not _sqlite_file(settings).exists():
        found.append(_problem("database", "no database yet", "run `haven db upgrade`"))
    else:
        try:
            engine = make_engine(settings.db_url, **_engine_args(settings, limits))
        except InsecureFiles:
            found.append(
                _problem(
                    "database",
                    "not opened: its files or directory are open to others",
                    "fix the permissions above first",
                )
            )
        else:
            try:
                found += await check_database(engine, limits)
            finally:
                await engine.dispose()
    async with httpx.AsyncClient(timeout=limits.http_timeout, trust_env=False) as client:
        found += await check_processes(settings, client)
        found += await check_telegram(settings, client)
        found += await check_addresses(settings, client)
    found.append(check_disk(settings, limits))
    return found


def _engine_args(settings: Settings, limits: Limits) -> dict[str, object]:
    return {} if settings.is_sqlite else {"connect_args": {"timeout": limits.http_timeout}}
