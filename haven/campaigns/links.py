"""Deep links of a campaign: the bot's ``?start=<code>`` and the web intake's ``?c=<code>``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from haven.settings import Settings


@dataclass(frozen=True)
class Links:
    code: str
    telegram: str | None
    web: tuple[str, ...]

    @property
    def primary(self) -> str:
        """The link the QR code carries: the bot if there is one, else the first web address."""
        if self.telegram:
            return self.telegram
        if self.web:
            return self.web[0]
        raise ValueError("no bot username, mirror or onion address is configured")

    @property
    def all(self) -> tuple[str, ...]:
        return ((self.telegram,) if self.telegram else ()) + self.web


def _with_code(base: str, code: str) -> str:
    parts = urlsplit(base if "://" in base else f"https://{base}")
    path = parts.path or "/"
    query = "&".join(q for q in (parts.query, urlencode({"c": code})) if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def links(settings: Settings, code: str) -> Links:
    username = settings.telegram_bot_username.lstrip("@")
    telegram = f"https://t.me/{username}?start={code}" if username else None
    bases = [*settings.mirrors, *([settings.onion_url] if settings.onion_url else [])]
    web = tuple(dict.fromkeys(_with_code(base, code) for base in bases))
    return Links(code, telegram, web)
