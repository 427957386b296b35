"""A fake LibreTranslate server on 127.0.0.1: its ``POST /translate`` JSON API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeLibreTranslate:
    """Answers ``[MT source->target] text``; ``api_key`` set: refuses other keys (403)."""

    api_key: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: The next answers' status (200: a translation).
    status: int = 200
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeLibreTranslate:
        app = web.Application()
        app.router.add_post("/translate", self._translate)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _translate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.api_key and body.get("api_key") != self.api_key:
            return web.json_response({"error": "Invalid API key"}, status=403)
        if self.status != 200:
            return web.json_response({"error": "busy"}, status=self.status)
        text = f"[MT {body['source']}->{body['target']}] {body['q']}"
        return web.json_response({"translatedText": text})
