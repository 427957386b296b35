"""The security headers of every response haven serves, and the middleware that adds them.

One set for both servers; only the content security policy differs: the applicants' pages
run no script at all, the console runs its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_POLICY = "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#: The applicants' pages (web intake, health check): styles and images of their own only.
APPLICANT_CSP = f"default-src 'none'; style-src 'self'; img-src 'self'; {_POLICY}"
#: The console: its own scripts too, and requests back to itself.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    f"media-src 'self'; connect-src 'self'; {_POLICY}"
)


def security_headers(csp: str) -> dict[str, str]:
    """Every security header, with ``csp`` as the content security policy."""
    return {
        "content-security-policy": csp,
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=()",
    }


APPLICANT_HEADERS = security_headers(APPLICANT_CSP)
#: The console may use the microphone of its own pages: an operator's voice note of a call.
CONSOLE_HEADERS = {
    **security_headers(CONSOLE_CSP),
    "permissions-policy": "camera=(), microphone=(self), geolocation=()",
}


class SecurityHeaders:
    """Adds ``headers`` to every response that does not set them itself (pure ASGI, cheap),
    and turns a crash into a plain 500 page with them, whose log line names only the
    exception type (its message could hold what someone typed, or case content).

    ``onion_url`` adds an ``Onion-Location`` header; ``hsts_seconds``, over HTTPS, HSTS."""

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str] = APPLICANT_HEADERS,
        *,
        area: str = "web",
        onion_url: str = "",
        hsts_seconds: int = 0,
    ) -> None:
        self.app = app
        self.area = area
        self.log = logging.getLogger(f"haven.{area}")
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        self.onion_url = onion_url.rstrip("/")
        self.hsts = (
            [(b"strict-transport-security", f"max-age={hsts_seconds}".encode())]
            if hsts_seconds
            else []
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers
        if self.onion_url:
            location = (self.onion_url + scope.get("path", "/")).encode()
            extra = [*extra, (b"onion-location", location)]
        if self.hsts and scope.get("scheme") == "https":
            extra = [*extra, *self.hsts]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in extra if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Not re-raised: the server would log the traceback, and its message.
            self.log.error("%s event=error type=%s", self.area, type(exc).__name__)
            if not started:
                response = HTMLResponse("<!doctype html><title>500</title><p>500</p>", 500)
                await response(scope, receive, send_with_headers)


class ConsoleHeaders(SecurityHeaders):
    """The console's security headers (``app.add_middleware(ConsoleHeaders)``)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, CONSOLE_HEADERS, area="console")
