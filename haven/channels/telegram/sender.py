"""The outbox's Telegram sender: one outbox row -> one Bot API call, errors mapped to outcomes.

Messages to a private chat are protected (no forwarding, no saving); channel posts are not,
since they are meant to spread. The same object deletes messages for the wiper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from aiogram import Bot
from aiogram.exceptions import (
    RestartingTelegram,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from haven.content import LANGUAGE_NAMES
from haven.content.scripts import isolate
from haven.outbox import (
    Payload,
    PermanentFailure,
    RetryLater,
    TemporaryFailure,
    Unreachable,
    is_private,
)

#: Telegram's limit for callback data, in bytes.
CALLBACK_MAX = 64
CAPTION_MAX = 1024
TEXT_MAX = 4096


def rendered(text: str, limit: int = TEXT_MAX) -> str:
    """A message's text as sent: Latin runs of right-to-left lines isolated (see
    :func:`isolate`), unless that would take it over Telegram's limit."""
    out = isolate(text)
    return out if len(out) <= limit else text


def callback_data(context: str | None, value: str) -> str:
    return f"{context or ''}|{value}"


def parse_callback(data: str | None) -> tuple[str, str] | None:
    """``(context, value)`` from a button's data, or ``None`` if it is not ours."""
    if not data or "|" not in data or len(data.encode("utf-8")) > CALLBACK_MAX:
        return None
    context, value = data.split("|", 1)
    return context, value


#: Language buttons per row: twelve names in four short rows, each still wide enough to read.
LANGUAGES_PER_ROW = 3


def keyboard(payload: Payload) -> InlineKeyboardMarkup | None:
    """One answer a row; the language choice (every value a language) three a row."""
    buttons = [
        InlineKeyboardButton(text=label[:64], callback_data=callback_data(payload.context, v))
        for v, label in payload.choices
        if len(callback_data(payload.context, v).encode("utf-8")) <= CALLBACK_MAX
    ]
    if not buttons:
        return None
    languages = len(payload.choices) > LANGUAGES_PER_ROW and all(
        v in LANGUAGE_NAMES for v, _label in payload.choices
    )
    per_row = LANGUAGES_PER_ROW if languages else 1
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def chat_id_of(address: str) -> int | str:
    """A numeric chat id, or a ``@channelname`` for channel posts."""
    return int(address) if address.lstrip("-").isdigit() else address


class TelegramSender:
    def __init__(self, bot: Bot, request_timeout: int = 15, channel: str = "telegram") -> None:
        self.bot = bot
        self.channel = channel
        self.request_timeout = request_timeout

    async def send(self, address: str, payload: Payload) -> int | None:
        chat_id = chat_id_of(address)
        protect = is_private(self.channel, address)
        try:
            if payload.media_kind in ("photo", "video") and payload.media_path:
                media = FSInputFile(payload.media_path)
                caption = rendered(payload.text[:CAPTION_MAX], CAPTION_MAX) or None
                if payload.media_kind == "photo":
                    msg = await self.bot.send_photo(
                        chat_id,
                        media,
                        caption=caption,
                        protect_content=protect,
                        request_timeout=self.request_timeout,
                    )
                else:
                    msg = await self.bot.send_video(
                        chat_id,
                        media,
                        caption=caption,
                        protect_content=protect,
                        request_timeout=self.request_timeout,
                    )
            else:
                msg = await self.bot.send_message(
                    chat_id=chat_id,
                    text=rendered(payload.text),
                    reply_markup=keyboard(payload),
                    protect_content=protect,
                    request_timeout=self.request_timeout,
                )
        except TelegramRetryAfter as exc:
            raise RetryLater(exc.retry_after) from None
        except TelegramForbiddenError:
            raise Unreachable() from None
        except (TelegramNetworkError, TelegramServerError, RestartingTelegram) as exc:
            raise TemporaryFailure(type(exc).__name__) from None
        except (TelegramBadRequest, TelegramNotFound) as exc:
            raise PermanentFailure(f"{type(exc).__name__}") from None
        except TelegramAPIError as exc:
            raise TemporaryFailure(type(exc).__name__) from None
        return msg.message_id

    async def delete(self, address: str, message_ids: Sequence[int]) -> list[int]:
        """Delete up to 100 messages of a chat; returns the ids Telegram would not delete.

        ``deleteMessages`` takes them all at once; if it refuses the batch (one of them is
        too old, or not the bot's to delete), each is tried alone to learn which.
        """
        chat_id = chat_id_of(address)
        try:
            await self.bot.delete_messages(
                chat_id, list(message_ids), request_timeout=self.request_timeout
            )
            return []
        except TelegramBadRequest:
            if len(message_ids) == 1:
                return list(message_ids)
        except Exception as exc:
            _raise_for(exc)
        refused = []
        for message_id in message_ids:
            try:
                await self.bot.delete_message(
                    chat_id, message_id, request_timeout=self.request_timeout
                )
            except (TelegramBadRequest, TelegramNotFound):
                refused.append(message_id)
            except Exception as exc:
                _raise_for(exc)
        return refused


def _raise_for(exc: Exception) -> NoReturn:
    """A Bot API error as the outbox's outcome (re-raised as is if it is not one)."""
    if isinstance(exc, TelegramRetryAfter):
        raise RetryLater(exc.retry_after) from None
    if isinstance(exc, TelegramForbiddenError):
        raise Unreachable() from None
    if isinstance(exc, TelegramAPIError):
        raise TemporaryFailure(type(exc).__name__) from None
    raise exc
