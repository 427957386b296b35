"""Settings from ``HAVEN_*`` environment variables (pydantic-settings).

Unknown or malformed settings fail at start with one clear line (:class:`SettingsError`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from dataclasses import field as field_
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from haven.content import LANGS
from haven.domain.cases import MIRROR_PREFIX, PRIMARY_BOT

PREFIX = "HAVEN_"
#: A Telegram bot token: the bot's numeric id, a colon, the secret.
BOT_TOKEN = re.compile(r"([0-9]{1,20}):[A-Za-z0-9_-]+")


#: The longest channel name the tables hold (``String(16)``): a mirror's is ``tg:<bot id>``.
CHANNEL_MAX = 16


@dataclass(frozen=True, slots=True)
class BotSpec:
    """One Telegram bot haven runs: the primary (channel ``telegram``) or a mirror
    (channel ``tg:<bot id>``). The token is never shown."""

    token: str = field_(repr=False)
    bot_id: int
    channel: str
    username: str = ""

    @property
    def is_primary(self) -> bool:
        return self.channel == PRIMARY_BOT


class SettingsError(Exception):
    """A setting is unknown or malformed; ``str()`` is one line for the operator."""


class KdfLevel(StrEnum):
    interactive = "interactive"
    moderate = "moderate"
    sensitive = "sensitive"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Path("./var")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: Where the console listens: its own process, on loopback unless a host of its own.
    console_host: str = "127.0.0.1"
    console_port: int = Field(8001, ge=1, le=65535)
    passphrase: str = Field("", repr=False)
    kdf_level: KdfLevel = KdfLevel.moderate
    log_level: str = "INFO"
    default_lang: str = "ko"
    # Telegram
    telegram_token: str = Field("", repr=False)
    telegram_api: str = "https://api.telegram.org"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = Field("", repr=False)
    telegram_bot_username: str = ""
    #: Mirror bots beside the primary (comma-separated tokens), and their @names in order.
    telegram_mirror_tokens: str = Field("", repr=False)
    telegram_mirror_usernames: str = ""
    telegram_photo_max_bytes: int = Field(5_000_000, ge=1)
    telegram_voice_max_bytes: int = Field(2_000_000, ge=1)
    outbox_rate: float = Field(30.0, gt=0)
    outbox_per_chat_rate: float = Field(1.0, gt=0)
    outbox_lease_seconds: float = Field(30.0, gt=0)
    telegram_flood_pause_seconds: float = Field(600.0, ge=0)
    intake_per_chat_limit: str = "20/minute"
    intake_global_limit: str = "300/second"
    # Fair under overload (docs/adr/0004-fair-under-overload.md)
    #: Seconds an automated reply waits in the outbox before it is served newest first.
    outbox_newest_first_after: float = Field(2.0, ge=0)
    #: The intake handles no more updates while the outbox holds this many seconds of
    #: automated replies (at ``outbox_rate``): the rest wait in the inbox, where admission
    #: decides who is next.
    intake_outbox_room_seconds: float = Field(1.0, gt=0)
    #: The share of turns that chats writing for the first time get while others wait too.
    intake_new_chat_share: float = Field(0.5, gt=0, le=1)
    #: Minutes of silence after which the bot empties a private chat. Telegram lets a bot
    #: delete messages for 48 hours only: at most a day, so that a backlog still fits.
    telegram_wipe_after: float = Field(60.0, gt=0, le=24 * 60)
    # Web intake
    onion_url: str = ""
    mirrors: Annotated[list[str], NoDecode] = []
    web_session_limit: str = "30/minute"
    web_global_limit: str = "200/second"
    #: Answers the server has recorded for a session before it goes ahead of new sessions
    #: past the global limit, and the reserve those sessions draw on beyond it.
    web_progress_answers: int = Field(3, ge=1)
    web_progress_limit: str = "100/second"
    web_unlock_limit: str = "5/hour"
    web_unlock_global_limit: str = "60/minute"
    web_photo_max_bytes: int = Field(5_000_000, ge=1)
    #: The pages' title, which the browser's history and tabs show: neutral by default.
    web_title: str = Field("Notes", min_length=1, max_length=60)
    #: Strict-Transport-Security max-age on HTTPS responses; 0 sends none (plain HTTP, onion).
    hsts_seconds: int = Field(0, ge=0)
    # Console
    session_idle_minutes: int = Field(30, ge=1)
    queue_weight_wounded: float = 1000.0
    queue_weight_group: float = 500.0
    #: Self-hosted machine translation (a LibreTranslate-compatible server); empty: none.
    translate_url: str = ""
    translate_api_key: str = Field("", repr=False)
    translate_timeout_seconds: float = Field(15.0, gt=0)
    translate_max_chars: int = Field(5000, ge=1)
    #: The longest voice note an operator records in call mode, in seconds and bytes.
    voice_note_max_seconds: int = Field(60, ge=1, le=600)
    voice_note_max_bytes: int = Field(240_000, ge=1024)
    # HTTP limits of both servers (haven.httplimits)
    http_max_connections: int = Field(1000, ge=1)
    http_keepalive_seconds: float = Field(5.0, gt=0)
    http_header_seconds: float = Field(10.0, gt=0)
    http_body_seconds: float = Field(120.0, gt=0)
    console_max_body_bytes: int = Field(262_144, ge=1024)
    #: Hours a handled update is remembered (so a redelivered copy changes nothing): Telegram
    #: gives up redelivering after a day.
    processed_updates_hours: int = Field(24, ge=1)
    # Retention of closed cases, in days; of abandoned questionnaires, in hours
    retention_days: int = Field(180, ge=1)
    draft_hours: int = Field(72, ge=1)
    # Backups (haven.services.backup): their own passphrase (else HAVEN_PASSPHRASE), and
    # where `haven db upgrade` leaves the one it takes first (default: the data dir's backups/)
    backup_passphrase: str = Field("", repr=False)
    backup_dir: Path | None = None

    @field_validator("mirrors", mode="before")
    @classmethod
    def _split_mirrors(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(",", " ").split() if part.strip()]
        return value

    @field_validator(
        "web_session_limit",
        "web_global_limit",
        "web_progress_limit",
        "web_unlock_limit",
        "web_unlock_global_limit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse  # a rate like "30/minute" (the `limits` library's notation)

        parse(value)
        return value

    @field_validator("default_lang")
    @classmethod
    def _known_lang(cls, value: str) -> str:
        if value not in LANGS:
            raise ValueError(f"must be one of {', '.join(LANGS)}")
        return value

    @field_validator("translate_url")
    @classmethod
    def _translate_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL of a LibreTranslate server")
        return value.rstrip("/")

    @field_validator("telegram_token")
    @classmethod
    def _bot_token(cls, value: str) -> str:
        if value and not BOT_TOKEN.fullmatch(value):
            raise ValueError("not a bot token (123456:ABC…)")  # the value itself is secret
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("an https:// URL that Telegram posts the updates to")
        if parts.query or parts.fragment or "#" in value:
            raise ValueError("no ?query or #fragment: the path alone tells the bots apart")
        if parts.path in ("", "/"):
            raise ValueError("a path of its own (e.g. https://host/tg/<random>): / is the web")
        return value

    @field_validator("telegram_mirror_tokens")
    @classmethod
    def _mirror_tokens(cls, value: str) -> str:
        tokens = _split(value)
        for n, token in enumerate(tokens, 1):
            if not BOT_TOKEN.fullmatch(token):
                raise ValueError(f"token {n} is not a bot token (123456:ABC…)")
            if len(MIRROR_PREFIX) + len(token.split(":", 1)[0]) > CHANNEL_MAX:
                raise ValueError(f"token {n} has a bot id longer than haven can record")
        ids = [token.split(":", 1)[0] for token in tokens]
        if len(set(ids)) != len(ids):
            raise ValueError("two tokens are of the same bot")
        return value

    @model_validator(mode="after")
    def _mirrors_of_a_primary(self) -> Settings:
        tokens = _split(self.telegram_mirror_tokens)
        names = _split(self.telegram_mirror_usernames)
        if tokens and not self.telegram_token:
            raise ValueError("mirror bots need HAVEN_TELEGRAM_TOKEN (the primary bot) too")
        # Names without tokens: a console host, which names the bots but sends nothing.
        if names and tokens and len(names) != len(tokens):
            raise ValueError(
                f"HAVEN_TELEGRAM_MIRROR_USERNAMES names {len(names)} bots, "
                f"HAVEN_TELEGRAM_MIRROR_TOKENS holds {len(tokens)}"
            )
        primary = self.telegram_bot_id
        if primary is not None and any(int(t.split(":", 1)[0]) == primary for t in tokens):
            raise ValueError("a mirror token is of the primary bot (HAVEN_TELEGRAM_TOKEN)")
        return self

    @cached_property
    def telegram_bots(self) -> tuple[BotSpec, ...]:
        """Every bot, the primary first; empty without a primary token."""
        if self.telegram_bot_id is None:
            return ()
        bots = [
            BotSpec(self.telegram_token, self.telegram_bot_id, PRIMARY_BOT,
                    self.telegram_bot_username)
        ]  # fmt: skip
        tokens = _split(self.telegram_mirror_tokens)
        names = _split(self.telegram_mirror_usernames) or [""] * len(tokens)
        for token, name in zip(tokens, names, strict=True):
            bot_id = int(token.split(":", 1)[0])
            bots.append(BotSpec(token, bot_id, f"{MIRROR_PREFIX}{bot_id}", name))
        return tuple(bots)

    @property
    def telegram_mirror_names(self) -> tuple[str, ...]:
        """The mirror bots' names as configured (for the check every surface shows), also
        where no token is (the console's host names them in the hand-off message)."""
        return tuple(_split(self.telegram_mirror_usernames))

    def channel_label(self, channel: str) -> str:
        """How the console names a case's channel: which bot it came through for Telegram's
        (``Telegram @name``, or ``Telegram bot <id>`` for a mirror without a name); any other
        channel, and the primary without a name, as the channel itself (to translate)."""
        bot = next((b for b in self.telegram_bots if b.channel == channel), None)
        if bot is not None and bot.username:
            return f"Telegram @{bot.username.lstrip('@')}"
        if channel.startswith(MIRROR_PREFIX):
            return f"Telegram bot {channel.removeprefix(MIRROR_PREFIX)}"
        return channel

    @cached_property
    def telegram_bot_id(self) -> int | None:
        """The numeric id the bot token starts with; ``None`` without a token."""
        found = BOT_TOKEN.fullmatch(self.telegram_token)
        return int(found.group(1)) if found else None

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'haven.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def backups_dir(self) -> Path:
        return self.backup_dir if self.backup_dir is not None else self.data_dir / "backups"

    @property
    def seals_path(self) -> Path:
        """The console's record of the newest seal of each account (on the console host)."""
        return self.data_dir / "console" / "seals.json"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment, failing with one clear line on any problem."""
    env = dict(os.environ if environ is None else environ)
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (known: {', '.join(sorted(known))})")
    values = {k[len(PREFIX) :].lower(): v for k, v in env.items() if k in known}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a rule between settings, which its message names
            raise SettingsError(f"malformed settings: {err['msg']}") from None
        name = PREFIX + str(err["loc"][0]).upper()
        raise SettingsError(f"malformed setting {name}: {err['msg']}") from None
