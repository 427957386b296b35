"""The check that tells the real bot from a look-alike (CONTENT.md, "Checking the bot is real").

The bot's ``/verify``, the web page and every leaflet print the same two things: the bot's
numeric Telegram id and :func:`verify_check`, a short fingerprint over that id and the
organisation's case public key. A copy of the bot has another id, and cannot produce the same
check without also having our case key's public half *and* our bot id.
"""

from __future__ import annotations

from haven import crypto


def verify_check(bot_id: int, public_key: bytes) -> str:
    """Fingerprint (``XXXX-XXXX-XXXX-XXXX``) over the bot's numeric id and the case public key."""
    return crypto.fingerprint(str(int(bot_id)).encode("ascii") + b"\n" + public_key)


def bot_id_from_token(token: str) -> int | None:
    """The numeric bot id a Telegram token starts with (``123456:ABC…``), or ``None``."""
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else None
