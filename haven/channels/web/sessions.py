"""The web intake's browser sessions: one cookie the server issued (a random id, whether it is
bound to a conversation yet, and a MAC under a key derived from the routing key), and the CSRF
token of each form, derived from the session id. A cookie the server did not issue is never
adopted. Over HTTPS the cookie is ``__Host-`` prefixed."""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from haven import crypto
from haven.content import language_for

from .forms import Form, field

COOKIE = "s"
#: The cookie's name over HTTPS: no Domain, path ``/``, Secure (the ``__Host-`` rules).
SECURE_COOKIE = "__Host-s"
_COOKIE = re.compile(r"([ub])([A-Za-z0-9_-]{32})\.([0-9a-f]{32})")


def session_cookie(keys: crypto.IntakeKeys, sid: str, *, bound: bool) -> str:
    """The cookie value of a session: ``u`` or ``b``, the id, ``.``, a MAC of both under a key
    derived from the routing key (only the server can make one)."""
    kind = "b" if bound else "u"
    return f"{kind}{sid}.{keys.lookup('web-session-cookie', kind + sid)[:32]}"


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session the server issued."""

    #: The random id: the conversation's address once bound; the key of tokens and limits.
    id: str
    bound: bool
    #: The cookie to set with this response ("" when the browser already holds it).
    cookie: str = ""


class Sessions:
    """Issues and recognises sessions and their CSRF tokens."""

    def __init__(self, keys: crypto.IntakeKeys) -> None:
        self.keys = keys

    def new(self, *, bound: bool) -> Session:
        """A fresh session, with the cookie that carries it."""
        sid = crypto.random_token(24)
        return Session(sid, bound, session_cookie(self.keys, sid, bound=bound))

    @staticmethod
    def cookie_name(request: Request) -> str:
        return SECURE_COOKIE if request.scope.get("scheme") == "https" else COOKIE

    def of(self, request: Request) -> Session | None:
        """The session of the request's cookie if the server issued it, else ``None``."""
        found = _COOKIE.fullmatch(request.cookies.get(self.cookie_name(request), ""))
        if found is None:
            return None
        kind, sid, _mac = found.groups()
        bound = kind == "b"
        if not secrets.compare_digest(found.group(0), session_cookie(self.keys, sid, bound=bound)):
            return None
        return Session(sid, bound)

    def set_cookie(self, request: Request, value: str) -> bytes:
        """The Set-Cookie header of a session cookie, as ``http.cookies`` writes it (the value
        is the server's own, of URL-safe characters: nothing to quote). No Domain, path
        ``/``: what the ``__Host-`` prefix requires over HTTPS."""
        name = self.cookie_name(request)
        secure = "; Secure" if name != COOKIE else ""
        return f"{name}={value}; HttpOnly; Path=/; SameSite=strict{secure}".encode("latin-1")

    def csrf(self, sid: Session) -> str:
        return self.keys.lookup("web-csrf", sid.id)

    def csrf_ok(self, sid: Session, form: Form) -> bool:
        # As bytes: compare_digest refuses a str with characters beyond ASCII.
        given = field(form, "csrf", 128).encode()
        return secrets.compare_digest(given, self.csrf(sid).encode())


@functools.lru_cache(maxsize=512)
def preferred_lang(header: str, default: str) -> str:
    """The first of our languages the browser's Accept-Language asks for (it only preselects)."""
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = language_for(tag)
        if lang is not None and quality > 0:
            candidate = (-quality, index, lang)
            if best is None or candidate < best:
                best = candidate
    return best[2] if best else default
