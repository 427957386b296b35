"""A photo an applicant sent, downloaded from Telegram within a size limit."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import PhotoSize

from haven.services.intake import PhotoData

from .texts import M_PHOTO_FAILED, M_PHOTO_TOO_LARGE
from .translate import Translated

log = logging.getLogger("haven.telegram")


class PhotoDownload:
    """Downloads the largest size of a photo that fits ``max_bytes``; what does not fit or
    fails becomes a notice to the applicant instead of an input."""

    def __init__(self, bot: Bot, max_bytes: int) -> None:
        self.bot = bot
        self.max_bytes = max_bytes

    async def fetch(self, address: str, sizes: Sequence[PhotoSize]) -> Translated:
        cap = self.max_bytes
        fitting = [s for s in sizes if s.file_size is None or s.file_size <= cap]
        too_large = Translated(
            address, None, notice=M_PHOTO_TOO_LARGE, notice_args={"max": f"{cap / 1_000_000:g}"}
        )
        if not fitting:
            return too_large
        best = max(fitting, key=lambda s: (s.file_size or 0, s.width * s.height))
        try:
            file = await self.bot.get_file(best.file_id, request_timeout=30)
            if file.file_size is not None and file.file_size > cap:
                return too_large
            if not file.file_path:
                return Translated(address, None, notice=M_PHOTO_FAILED)
            url = self.bot.session.api.file_url(self.bot.token, file.file_path)
            buf = io.BytesIO()
            async for chunk in self.bot.session.stream_content(url, timeout=60):
                buf.write(chunk)
                if buf.tell() > cap:
                    return too_large
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            log.warning("telegram event=photo_failed error=%s", type(exc).__name__)
            return Translated(address, None, notice=M_PHOTO_FAILED)
        return Translated(address, PhotoData(buf.getvalue()))
