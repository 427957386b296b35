"""The Telegram channel (aiogram 3): the adapter, the outbox sender and the runtime wiring."""

from .adapter import TelegramChannel
from .fairness import FloodGuard
from .runtime import TelegramRuntime, make_bot
from .sender import TelegramSender, callback_data, parse_callback
from .translate import ALLOWED_UPDATES, Translated

__all__ = [
    "ALLOWED_UPDATES",
    "FloodGuard",
    "TelegramChannel",
    "TelegramRuntime",
    "TelegramSender",
    "Translated",
    "callback_data",
    "make_bot",
    "parse_callback",
]
