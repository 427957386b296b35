"""A photo or a voice message an applicant sent, downloaded from Telegram within a size
limit."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import PhotoSize, Voice

from haven.services.intake import PhotoData, VoiceData

from .texts import M_PHOTO_FAILED, M_PHOTO_TOO_LARGE, M_VOICE_FAILED, M_VOICE_TOO_LARGE
from .translate import Translated

log = logging.getLogger("haven.telegram")


class PhotoDownload:
    """Downloads the largest size of a photo that fits ``max_bytes``, and voice messages up
    to ``voice_max_bytes``; what does not fit or fails becomes a notice to the applicant
    instead of an input."""

    def __init__(self, bot: Bot, max_bytes: int, voice_max_bytes: int = 2_000_000) -> None:
        self.bot = bot
        self.max_bytes = max_bytes
        self.voice_max_bytes = voice_max_bytes

    async def fetch(self, address: str, sizes: Sequence[PhotoSize]) -> Translated:
        cap = self.max_bytes
        fitting = [s for s in sizes if s.file_size is None or s.file_size <= cap]
        too_large = Translated(
            address, None, notice=M_PHOTO_TOO_LARGE, notice_args={"max": f"{cap / 1_000_000:g}"}
        )
        if not fitting:
            return too_large
        best = max(fitting, key=lambda s: (s.file_size or 0, s.width * s.height))
        data = await self._download(best.file_id, cap)
        if data is None:
            return too_large
        if isinstance(data, Exception):
            return Translated(address, None, notice=M_PHOTO_FAILED)
        return Translated(address, PhotoData(data))

    async def fetch_voice(self, address: str, voice: Voice) -> Translated:
        cap = self.voice_max_bytes
        too_large = Translated(address, None, notice=M_VOICE_TOO_LARGE)
        if voice.file_size is not None and voice.file_size > cap:
            return too_large
        data = await self._download(voice.file_id, cap)
        if data is None:
            return too_large
        if isinstance(data, Exception):
            return Translated(address, None, notice=M_VOICE_FAILED)
        return Translated(address, VoiceData(data, duration=int(voice.duration or 0)))

    async def _download(self, file_id: str, cap: int) -> bytes | Exception | None:
        """The file's bytes; ``None`` when it is larger than ``cap``; an exception when it
        could not be had (logged by type only)."""
        try:
            file = await self.bot.get_file(file_id, request_timeout=30)
            if file.file_size is not None and file.file_size > cap:
                return None
            if not file.file_path:
                return LookupError("no file path")
            url = self.bot.session.api.file_url(self.bot.token, file.file_path)
            buf = io.BytesIO()
            async for chunk in self.bot.session.stream_content(url, timeout=60):
                buf.write(chunk)
                if buf.tell() > cap:
                    return None
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            log.warning("telegram event=download_failed error=%s", type(exc).__name__)
            return exc
        return buf.getvalue()
