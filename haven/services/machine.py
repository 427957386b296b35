"""Machine translation on the organisation's own host, behind one small interface.

A :class:`LibreTranslate` client talks to a LibreTranslate-compatible server (which serves
Argos models); nothing configured means no machine translation. There is no cloud default:
the text is an applicant's words, and only the console process, which holds them in
plaintext, ever sends them, to the host named by ``HAVEN_TRANSLATE_URL``.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

import httpx

log = logging.getLogger("haven.translate")

#: The largest answer read from the server (a translation is about as long as its text).
RESPONSE_MAX = 256 * 1024


class MachineError(Exception):
    """No machine translation now (server down, refused, slow or malformed); ``str()`` is
    safe to show and to log."""


class MachineTranslator(Protocol):
    async def translate(self, text: str, source: str, target: str) -> str: ...


class LibreTranslate:
    """``POST {url}/translate`` with ``{"q", "source", "target", "format": "text"}`` and an
    optional ``api_key``; the answer's ``translatedText``."""

    def __init__(
        self, url: str, *, api_key: str = "", timeout: float = 15.0, max_chars: int = 5000
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_chars = max_chars

    async def translate(self, text: str, source: str, target: str) -> str:
        if len(text) > self.max_chars:
            raise MachineError(f"longer than {self.max_chars} characters")
        body: dict[str, str] = {"q": text, "source": source, "target": target, "format": "text"}
        if self.api_key:
            body["api_key"] = self.api_key
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client,
                client.stream("POST", f"{self.url}/translate", json=body) as response,
            ):
                if response.status_code != 200:
                    raise MachineError(f"the translation server answered {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > RESPONSE_MAX:
                        raise MachineError("the translation server's answer is too large")
        except httpx.HTTPError as exc:
            log.warning("translate event=failed error=%s", type(exc).__name__)
            raise MachineError("the translation server cannot be reached") from None
        try:
            translated = json.loads(bytes(data))["translatedText"]
        except (ValueError, KeyError, TypeError):
            raise MachineError("the translation server's answer is not understood") from None
        if not isinstance(translated, str):
            raise MachineError("the translation server's answer is not understood")
        return translated


def from_settings(url: str, api_key: str, timeout: float, max_chars: int) -> LibreTranslate | None:
    """The configured translator, or ``None`` (no machine translation)."""
    if not url:
        return None
    return LibreTranslate(url, api_key=api_key, timeout=timeout, max_chars=max_chars)
