"""An update as the intake needs it: pure translation, no I/O.

What needs I/O is left for the adapter to finish: a deep link's payload (``start``) is
looked up as a campaign code, a photo (``photo``) or a voice message (``voice``) is
downloaded (:mod:`.photos`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiogram.types import CallbackQuery, Message, PhotoSize, Update, Voice

from haven.content import language_for
from haven.flows.engine import COMMANDS
from haven.flows.inputs import Choice, Command, Input, Location, Text, Unsupported
from haven.services.intake import Notice, PhotoData

from .sender import parse_callback

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
UNSUPPORTED_KINDS = (
    "sticker",
    "video",
    "video_note",
    "animation",
    "audio",
    "document",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)


@dataclass(frozen=True)
class Translated:
    """An update as the intake needs it."""

    address: str
    inp: Input | PhotoData | None
    campaign: str | None = None
    context: str | None = None
    notice: Notice | None = None
    notice_args: dict[str, object] | None = None
    callback: CallbackQuery | None = None
    #: A deep link's payload (``/start PAYLOAD``), still to be looked up as a campaign code.
    start: str | None = None
    #: A photo's sizes, still to be downloaded.
    photo: tuple[PhotoSize, ...] = ()
    #: A voice message, still to be downloaded.
    voice: Voice | None = None


def address_of(update: Update) -> str | None:
    """The chat an update comes from (``None``: no chat, an update kind not for us)."""
    if update.message is not None:
        return str(update.message.chat.id)
    if update.edited_message is not None:
        return str(update.edited_message.chat.id)
    if update.callback_query is not None:
        query = update.callback_query
        if query.message is not None:
            return str(query.message.chat.id)
        return str(query.from_user.id)
    return None


def lang_of(update: Update) -> str | None:
    """The language of ours the sender's Telegram is set to (``from.language_code``), if any:
    a new conversation starts in it instead of asking (``None``: asked)."""
    source = update.message or update.edited_message or update.callback_query
    user = source.from_user if source is not None else None
    return language_for(user.language_code) if user is not None else None


def translate(update: Update, verify: Callable[[str], str]) -> Translated | None:
    """The update as an input, or ``None`` for one that is not for us (groups, other kinds).
    ``verify`` is what ``/verify`` answers, as a function of the language."""
    if update.message is not None:
        return message(update.message, verify)
    if update.edited_message is not None:
        if update.edited_message.chat.type != "private":
            return None
        return Translated(str(update.edited_message.chat.id), Unsupported("edited"))
    if update.callback_query is not None:
        return callback(update.callback_query)
    return None


def message(msg: Message, verify: Callable[[str], str]) -> Translated | None:
    if msg.chat.type != "private":
        return None
    address = str(msg.chat.id)
    if msg.text is not None:
        return text(address, msg.text, verify)
    if msg.location is not None:
        loc = msg.location
        return Translated(address, Location(loc.latitude, loc.longitude))
    if msg.venue is not None:
        loc = msg.venue.location
        return Translated(address, Location(loc.latitude, loc.longitude))
    if msg.photo:
        return Translated(address, None, photo=tuple(msg.photo))
    if msg.voice is not None:
        return Translated(address, None, voice=msg.voice)
    kind = next((k for k in UNSUPPORTED_KINDS if getattr(msg, k, None)), "other")
    return Translated(address, Unsupported(kind))


def text(address: str, said: str, verify: Callable[[str], str]) -> Translated:
    """A text: a command of ours, an unknown command, or text for the flow."""
    if not said.startswith("/"):
        return Translated(address, Text(said))
    head, _, rest = said.strip().partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if name == "start":
        return Translated(address, Command("start"), start=rest.strip() or None)
    if name == "verify":
        return Translated(address, Command("verify"), notice=verify)
    if name in COMMANDS:
        return Translated(address, Command(name))
    if name.isascii() and name.replace("_", "").isalnum() and not rest:
        return Translated(address, Command(name))  # an unknown command: "what I can read"
    return Translated(address, Text(said))


def callback(query: CallbackQuery) -> Translated | None:
    """A pressed button: the choice and the question it belongs to."""
    chat = query.message.chat if query.message is not None else None
    if chat is not None and chat.type != "private":
        return None
    address = str(chat.id if chat is not None else query.from_user.id)
    parsed = parse_callback(query.data)
    if parsed is None:
        # Not our button: answered like a wrong choice (a polite re-ask), nothing else.
        return Translated(address, Choice(""), context="-", callback=query)
    context, value = parsed
    return Translated(address, Choice(value), context=context, callback=query)
