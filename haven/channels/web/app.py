"""The web intake: the questionnaire as plain HTML forms, one step a page, no JavaScript.

Every page and link is relative (``./``, ``return``, ``style.css``), so the same pages work
under any mirror domain or path and as a Tor onion service. The only state in the browser is
one session cookie that the server issued: a random id, whether it is bound to a conversation
yet, and a MAC under a key derived from the routing key. A cookie the server did not issue is
replaced, never adopted. The first answer of a session creates the conversation under a fresh
bound id (set with that response), so a cookie planted in a browser beforehand never leads to
what that browser's user answers. The bound id is the web channel's *address* for the intake
service, which keeps the flow state sealed under the routing key. Over HTTPS the cookie is
``__Host-`` prefixed. Nothing about the client (IP address, user agent) is read, logged or
stored.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from haven import crypto
from haven.content import LANGS, LANGUAGE_NAMES
from haven.flows import Effect, Mode, Reply, State
from haven.flows import engine as flow_engine
from haven.flows.inputs import Choice, Command, Input, Text
from haven.httpheaders import APPLICANT_HEADERS, SecurityHeaders
from haven.services import ratelimit
from haven.services.applicant import (
    Applicants,
    RateLimited,
    Unlocked,
    WrongCredentials,
)
from haven.services.campaigns import Campaigns, link_form
from haven.services.intake import Intake, IntakeResult, PhotoData
from haven.services.verify import check_text, verify_for
from haven.settings import Settings
from haven.store.db import Store

from . import texts
from .forms import BadForm, Form, FormTooLarge, Upload, read_multipart, read_plain

log = logging.getLogger("haven.web")

HERE = Path(__file__).resolve().parent
COOKIE = "s"
#: Over HTTPS: only a Secure cookie of this host, path ``/`` (no subdomain can set it).
SECURE_COOKIE = "__Host-s"
CHANNEL = "web"
FORM_LIMIT = 128 * 1024
#: A cookie: ``u`` (unbound) or ``b`` (bound), the random id, ``.``, the MAC.
_COOKIE = re.compile(r"([ub])([A-Za-z0-9_-]{32})\.([0-9a-f]{32})")
COMMANDS = ("lang", "restart", "forget")
#: How long the progress of a session is remembered after its last answer, and for how many
#: sessions (in this process's memory, by the session's random id).
PROGRESS_SECONDS = 12 * 3600
PROGRESS_MAX = 100_000


class WebApp(SecurityHeaders):
    """The web intake behind its security headers (what :func:`create_web_app` returns)."""

    def __init__(self, web: WebIntake, app: ASGIApp, settings: Settings) -> None:
        super().__init__(
            app,
            APPLICANT_HEADERS,
            area="web",
            onion_url=settings.onion_url,
            hsts_seconds=settings.hsts_seconds,
        )
        self.web = web


def session_cookie(keys: crypto.IntakeKeys, sid: str, *, bound: bool) -> str:
    """The cookie value of a session: ``u`` or ``b``, the id, ``.``, a MAC of both under a key
    derived from the routing key (only the server can make one)."""
    kind = "b" if bound else "u"
    return f"{kind}{sid}.{keys.lookup('web-session-cookie', kind + sid)[:32]}"


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session the server issued (see the module doc)."""

    #: The random id: the conversation's address once bound; the key of tokens and limits.
    id: str
    bound: bool
    #: The cookie to set with this response ("" when the browser already holds it).
    cookie: str = ""


@dataclass
class Resend:
    """A form to send again (after a rate limit or an expired page): nothing typed is lost."""

    action: str
    text: str | None = None
    reference: str | None = None
    hidden: list[tuple[str, str]] = field(default_factory=list)


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
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGS and quality > 0:
            candidate = (-quality, index, primary)
            if best is None or candidate < best:
                best = candidate
    return best[2] if best else default


def _str(form: Form, name: str, limit: int = 20_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


class WebIntake:
    def __init__(
        self, settings: Settings, store: Store, keys: crypto.IntakeKeys, intake: Intake
    ) -> None:
        self.settings = settings
        self.keys = keys
        # The process's intake batches concurrent inputs into one transaction (group commit),
        # and the store queues SQLite's writers in order: no lock of our own here.
        self.intake = intake
        self.campaigns = Campaigns(store)
        self.applicants = Applicants(
            store,
            keys,
            per_case_limit=settings.web_unlock_limit,
            global_limit=settings.web_unlock_global_limit,
        )
        self.limits = ratelimit.Limiter(
            ratelimit.Rules.of(
                own=settings.web_session_limit,
                shared=settings.web_global_limit,
                reserve=settings.web_progress_limit,
            ),
            name="web",
        )
        self.progress_answers = settings.web_progress_answers
        #: Session id -> answers the intake recorded for it (or the threshold, for a session
        #: that proved a passphrase): what lets it go ahead of new sessions (see limited).
        self.progress: TTLCache[str, int] = TTLCache(PROGRESS_MAX, PROGRESS_SECONDS)
        self.check = verify_for(settings.telegram_bot_username, keys)
        self.jinja = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.templates = {
            path.name: self.jinja.get_template(path.name)
            for path in (HERE / "templates").glob("*.html")
        }
        self.notes = self.templates["notes.html"].module.notes  # type: ignore[attr-defined]
        self.frames: dict[str, tuple[str, str]] = {}  # by language (see frame)
        self.bodies: dict[tuple[str, str], list[str]] = {}  # by template, language (see holed)
        self.css = (HERE / "style.css").read_bytes()
        self.photo_megabytes = max(1, settings.web_photo_max_bytes // 1_000_000)

    # -- sessions and tokens ------------------------------------------------------------

    def new_session(self, *, bound: bool) -> Session:
        """A fresh session, with the cookie that carries it."""
        sid = crypto.random_token(24)
        return Session(sid, bound, session_cookie(self.keys, sid, bound=bound))

    def bind(self) -> Session:
        """The session of a first answer: the conversation starts under an id nobody has seen
        before (not the one of a cookie someone may have planted). This post counts against
        the new id's limit too, so the limit stays one per browser session."""
        sid = self.new_session(bound=True)
        self.limits.hit(sid.id, own_only=True)
        return sid

    @staticmethod
    def _cookie_name(request: Request) -> str:
        return SECURE_COOKIE if request.scope.get("scheme") == "https" else COOKIE

    def session_of(self, request: Request) -> Session | None:
        """The session of the request's cookie if the server issued it, else ``None``."""
        found = _COOKIE.fullmatch(request.cookies.get(self._cookie_name(request), ""))
        if found is None:
            return None
        kind, sid, _mac = found.groups()
        bound = kind == "b"
        if not secrets.compare_digest(found.group(0), session_cookie(self.keys, sid, bound=bound)):
            return None
        return Session(sid, bound)

    def csrf(self, sid: Session) -> str:
        return self.keys.lookup("web-csrf", sid.id)

    def csrf_ok(self, sid: Session, form: Form) -> bool:
        # As bytes: compare_digest refuses a str with characters beyond ASCII.
        given = _str(form, "csrf", 128).encode()
        return secrets.compare_digest(given, self.csrf(sid).encode())

    def lang_of(self, request: Request, form: Form | None = None) -> str:
        hinted = _str(form, "l", 8) if form is not None else request.query_params.get("l", "")
        if hinted in LANGS:
            return hinted
        return preferred_lang(
            request.headers.get("accept-language", ""), self.settings.default_lang
        )

    def limited(self, sid: Session) -> int:
        """Count one request of a session: 0, or the seconds to wait. A session the intake
        has recorded enough answers for goes ahead of new ones: past the global limit it
        draws on a reserve of its own, and the global limit's room goes to it first, so a
        flood of new sessions competes only for what the applicants under way leave."""
        return self.limits.hit(sid.id, ahead=self.progress.get(sid.id, 0) >= self.progress_answers)

    def note_progress(self, sid: Session, state: State | None) -> None:
        """Remember how far the intake has recorded this session's conversation."""
        if state is None or state.mode in (Mode.erased, Mode.submitted):
            self.progress.pop(sid.id, None)
        elif sid.bound:
            self.progress[sid.id] = len(state.answers)

    # -- rendering ------------------------------------------------------------------------

    def frame(self, lang: str) -> tuple[str, str]:
        """The page around the body in one language (head, header, footer), rendered once:
        it depends only on the language and the configuration."""
        frame = self.frames.get(lang)
        if frame is None:
            frame = self.frames[lang] = self._render_frame(lang)
        return frame

    def _render_frame(self, lang: str) -> tuple[str, str]:
        t = texts.for_lang(lang)
        marker = "\x00body\x00"
        html = self.templates["base.html"].render(
            t=t,
            check=check_text(lang, self.check),
            mirrors=self.settings.mirrors,
            onion=self.settings.onion_url,
            title=self.settings.web_title,
            body=marker,
        )
        head, foot = html.split(marker)
        return head, foot

    def page(
        self,
        request: Request,
        template: str,
        lang: str,
        sid: Session,
        *,
        status: int = 200,
        notes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        t = texts.for_lang(lang)
        body = self.templates[template].render(t=t, csrf=self.csrf(sid), **context)
        return self.respond(request, lang, sid, body, status=status, notes=notes, headers=headers)

    def respond(
        self,
        request: Request,
        lang: str,
        sid: Session,
        body: str,
        *,
        status: int = 200,
        notes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """A page around ``body``, with the session's cookie when it is new."""
        head, foot = self.frame(lang)
        html = head + (str(self.notes(notes)) if notes else "") + body + foot
        response = HTMLResponse(html, status_code=status, headers=headers)
        if sid.cookie:
            response.raw_headers.append((b"set-cookie", self.set_cookie(request, sid.cookie)))
        return response

    def set_cookie(self, request: Request, value: str) -> bytes:
        """The Set-Cookie header of a session cookie, as ``http.cookies`` writes it (the value
        is the server's own, of URL-safe characters: nothing to quote). No Domain, path
        ``/``: what the ``__Host-`` prefix requires over HTTPS."""
        name = self._cookie_name(request)
        secure = "; Secure" if name != COOKIE else ""
        return f"{name}={value}; HttpOnly; Path=/; SameSite=strict{secure}".encode("latin-1")

    def holed(self, template: str, lang: str, **context: Any) -> list[str]:
        """A body that depends only on the language and the configuration, rendered once, cut
        where the session's CSRF token goes (join the parts with the token)."""
        key = (template, lang)
        parts = self.bodies.get(key)
        if parts is None:
            marker = "\x00csrf\x00"
            html = self.templates[template].render(t=texts.for_lang(lang), csrf=marker, **context)
            parts = self.bodies[key] = html.split(marker)
        return parts

    def resend(
        self,
        request: Request,
        lang: str,
        sid: Session,
        note: str,
        form: Form,
        action: str,
        *,
        status: int,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """A short page with the note and the same form again, holding what was typed."""
        keep = Resend(action)
        if "text" in form:
            keep.text = _str(form, "text")
        if action == "return" and _str(form, "a", 16) == "open":
            keep.reference = _str(form, "r", 64)
        for name in ("choice", "cmd", "c", "a", "r", "t"):
            if name in form and not (name == "r" and keep.reference is not None):
                keep.hidden.append((name, _str(form, name, 4096)))
        return self.page(
            request,
            "notice.html",
            lang,
            sid,
            status=status,
            notes=[note],
            form=keep,
            headers=headers,
        )

    def notice(
        self, request: Request, lang: str, sid: Session, notes: Sequence[str], status: int = 200
    ) -> HTMLResponse:
        return self.page(request, "notice.html", lang, sid, status=status, notes=notes, form=None)

    def step_page(
        self,
        request: Request,
        lang: str | None,
        sid: Session,
        replies: Sequence[Reply],
        *,
        typed: str = "",
        status: int = 200,
    ) -> HTMLResponse:
        lang = lang or self.settings.default_lang
        if not replies:
            replies = (Reply(""),)
        *notes, question = replies
        if question.expects is None and not question.choices:
            notes, question = [*notes, question], Reply("")
        csrf = self.csrf(sid)
        form = self.templates["step.html"].render(
            t=texts.for_lang(lang),
            csrf=csrf,
            question=question.text,
            expects=question.expects,
            choices=question.choices,
            typed=typed,
            langs=LANGS,
        )
        commands = csrf.join(self.holed("commands.html", lang))
        body = form + "\n" + commands
        return self.respond(request, lang, sid, body, status=status, notes=[n.text for n in notes])

    def landing(
        self, request: Request, lang: str, sid: Session, *, campaign: str = ""
    ) -> HTMLResponse:
        t = texts.for_lang(lang)
        context: dict[str, Any] = {
            "choose": t(texts.CHOOSE_LANG),
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGS],
        }
        if campaign:
            return self.page(request, "landing.html", lang, sid, campaign=campaign, **context)
        body = self.csrf(sid).join(self.holed("landing.html", lang, campaign="", **context))
        return self.respond(request, lang, sid, body)

    # -- the questionnaire ----------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        sid = self.session_of(request)
        lang = self.lang_of(request)
        # Only its form here (the page is served without the database): whether the campaign
        # exists is asked when the choice is posted.
        campaign = link_form(request.query_params.get("c", "")) or ""
        if sid is None:
            return self.landing(request, lang, self.new_session(bound=False), campaign=campaign)
        wait = self.limited(sid)
        if wait:
            note = texts.for_lang(lang).limited(_minutes(wait))
            return self.notice(request, lang, sid, [note], status=429)
        if not sid.bound:
            return self.landing(request, lang, sid, campaign=campaign)
        state = await self.intake.state(CHANNEL, sid.id)
        self.note_progress(sid, state)
        if state is None or state.lang is None or state.mode is Mode.erased:
            return self.landing(request, lang, sid, campaign=campaign)
        if state.mode is Mode.submitted:
            return self.notice(request, state.lang, sid, [self.intake.engine.ask(state).text])
        return self.step_page(request, state.lang, sid, [self.intake.engine.ask(state)])

    async def read_form(self, request: Request) -> Form | tuple[str, int]:
        """The posted form, or the note (a message id) and status to answer when it cannot be
        read."""
        headers = request.headers
        length = headers.get("content-length", "")
        multipart = headers.get("content-type", "").startswith("multipart/")
        limit = FORM_LIMIT + (self.settings.web_photo_max_bytes if multipart else 0)
        if not length.isdigit():
            return texts.BAD_FORM, 411
        if int(length) > limit:
            return (texts.PHOTO_TOO_BIG if multipart else texts.TOO_LARGE), 413
        try:
            if multipart:
                return await read_multipart(
                    request,
                    max_bytes=limit,
                    max_fields=40,
                    max_field_bytes=FORM_LIMIT,
                    max_files=1,
                )
            return await read_plain(request, max_bytes=limit, max_fields=40)
        except FormTooLarge:
            return (texts.PHOTO_TOO_BIG if multipart else texts.TOO_LARGE), 413
        except (BadForm, ClientDisconnect):
            return texts.BAD_FORM, 400

    async def guard(self, request: Request, action: str) -> tuple[Session, str, Form] | Response:
        """Cookie, form, CSRF token and rate limits of a POST, in that order."""
        sid = self.session_of(request)
        form = await self.read_form(request)
        if isinstance(form, tuple):
            message, status = form
            lang = self.lang_of(request)
            note = texts.for_lang(lang)(message).format(max=self.photo_megabytes)
            return self.notice(request, lang, sid or self.new_session(bound=False), [note], status)
        lang = self.lang_of(request, form)
        t = texts.for_lang(lang)
        if sid is None:
            # No cookie, or one the server did not issue: a new one replaces it, and what was
            # typed comes back in the form to send again. Nothing else happens.
            forged = self._cookie_name(request) in request.cookies
            log.info("web event=%s", "cookie_rejected" if forged else "no_cookie")
            note = t.EXPIRED if forged else t.NO_COOKIE
            fresh = self.new_session(bound=False)
            return self.resend(request, lang, fresh, note, form, action, status=403)
        if not self.csrf_ok(sid, form):
            log.info("web event=csrf_rejected")
            return self.resend(request, lang, sid, t.EXPIRED, form, action, status=403)
        wait = self.limited(sid)
        if wait:
            log.info("web event=rate_limited")
            note = t.limited(_minutes(wait))
            headers = {"retry-after": str(wait)}
            return self.resend(request, lang, sid, note, form, action, status=429, headers=headers)
        return sid, lang, form

    async def answer(self, request: Request) -> Response:
        guarded = await self.guard(request, "./")
        if isinstance(guarded, Response):
            return guarded
        sid, lang, form = guarded
        inp: Input | PhotoData
        command, choice, typed = _str(form, "cmd", 16), _str(form, "choice", 64), ""
        photo = form.get("photo")
        if command in COMMANDS:
            inp = Command(command)
        elif choice:
            inp = Choice(choice)
        elif isinstance(photo, Upload) and photo.filename:
            data = photo.data
            if len(data) > self.settings.web_photo_max_bytes:
                note = texts.for_lang(lang).PHOTO_TOO_BIG.format(max=self.photo_megabytes)
                return self.notice(request, lang, sid, [note], status=413)
            inp = PhotoData(data) if data else Text("")
        else:
            typed = _str(form, "text")
            inp = Text(typed)
        if not sid.bound:
            sid = self.bind()
        campaign = await self.campaigns.link_code(_str(form, "c", 64))
        result = await self.intake.handle(CHANNEL, sid.id, inp, campaign=campaign)
        self.note_progress(sid, result.state)
        return await self.after(request, sid, result, typed)

    async def after(
        self, request: Request, sid: Session, result: IntakeResult, typed: str
    ) -> Response:
        lang = result.lang or self.settings.default_lang
        if result.effect is Effect.submit:
            issued = await self.applicants.issue(result.case_id, lang)
            log.info("web event=submitted case=%s", result.case_id)
            # A fresh session: the finished conversation is no longer tied to this browser.
            return self.page(
                request,
                "done.html",
                lang,
                self.new_session(bound=False),
                replies=[r.text for r in result.replies],
                passphrase=issued.passphrase.split(),
            )
        if result.effect is Effect.erase:
            return self.page(
                request,
                "notice.html",
                lang,
                self.new_session(bound=False),
                notes=[r.text for r in result.replies],
                form=None,
            )
        # Keep the typed text in the form when the same question is asked again.
        reasked = bool(typed) and len(result.replies) > 1
        return self.step_page(request, lang, sid, result.replies, typed=typed if reasked else "")

    # -- coming back with the passphrase --------------------------------------------------

    async def return_page(self, request: Request) -> Response:
        sid = self.session_of(request) or self.new_session(bound=False)
        lang = self.lang_of(request)
        return self.page(request, "return.html", lang, sid, reference="")

    def thread_page(
        self,
        request: Request,
        sid: Session,
        unlocked: Unlocked,
        items: Sequence[Any],
        *,
        notes: Sequence[str] = (),
        typed: str = "",
        confirm_erase: bool = False,
    ) -> HTMLResponse:
        t = texts.for_lang(unlocked.lang)
        return self.page(
            request,
            "thread.html",
            unlocked.lang,
            sid,
            notes=notes,
            reference=unlocked.reference,
            token=self.applicants.page_token(unlocked, sid.id),
            items=items,
            typed=typed,
            confirm_erase=t(flow_engine.M_FORGET_ASK) if confirm_erase else "",
            erase_yes=t(flow_engine.M_FORGET_YES),
            erase_no=t(flow_engine.M_FORGET_NO),
        )

    async def come_back(self, request: Request) -> Response:
        guarded = await self.guard(request, "return")
        if isinstance(guarded, Response):
            return guarded
        sid, lang, form = guarded
        t = texts.for_lang(lang)
        action = _str(form, "a", 16)
        reference = _str(form, "r", 64)
        if action == "open":
            try:
                unlocked = await self.applicants.unlock(reference, _str(form, "p", 1000), sid.id)
            except RateLimited as exc:
                note = t.limited(_minutes(exc.retry_after))
                headers = {"retry-after": str(exc.retry_after)}
                return self.resend(
                    request, lang, sid, note, form, "return", status=429, headers=headers
                )
            except WrongCredentials:
                return self.page(
                    request, "return.html", lang, sid, notes=[t.WRONG], reference=reference
                )
            # Proved the passphrase: this session goes ahead of new ones from now on.
            self.progress[sid.id] = self.progress_answers
            items = await self.applicants.thread(unlocked)
            return self.thread_page(request, sid, unlocked, items)
        try:
            unlocked = await self.applicants.resume(reference, _str(form, "t", 4096), sid.id)
        except WrongCredentials:
            return self.page(
                request, "return.html", lang, sid, notes=[t.EXPIRED], reference=reference
            )
        if action == "erase_yes":
            await self.applicants.erase(unlocked)
            note = texts.for_lang(unlocked.lang)(flow_engine.M_FORGOTTEN)
            return self.page(
                request,
                "notice.html",
                unlocked.lang,
                self.new_session(bound=False),
                notes=[note],
                form=None,
            )
        notes: list[str] = []
        typed = ""
        if action == "send":
            text = _str(form, "text")
            posted = await self.applicants.post(unlocked, text)
            notes = [r.text for r in posted.replies]
            typed = "" if posted.stored else text
        items = await self.applicants.thread(unlocked)
        return self.thread_page(
            request,
            sid,
            unlocked,
            items,
            notes=notes,
            typed=typed,
            confirm_erase=action == "erase",
        )

    # -- the rest -----------------------------------------------------------------------

    async def stylesheet(self, _request: Request) -> Response:
        return Response(
            self.css,
            media_type="text/css",
            headers={"cache-control": "public, max-age=86400"},
        )

    async def not_found(self, request: Request, _exc: Exception) -> Response:
        lang = self.lang_of(request)
        # A page without a form: a token of its own, and no cookie set.
        sid = self.session_of(request) or Session(crypto.random_token(), bound=False)
        status = getattr(_exc, "status_code", 404)
        note = texts.for_lang(lang).NOT_FOUND if status == 404 else texts.for_lang(lang).BAD_FORM
        return self.notice(request, lang, sid, [note], status=status)


def create_web_app(
    settings: Settings, store: Store, keys: crypto.IntakeKeys, intake: Intake
) -> WebApp:
    """The web intake as an ASGI app on the process's ``intake``, to be mounted at ``/`` by
    the composition root."""
    web = WebIntake(settings, store, keys, intake)
    router = Router(
        routes=[
            Route("/", web.home, methods=["GET", "HEAD"]),
            Route("/", web.answer, methods=["POST"]),
            Route("/return", web.return_page, methods=["GET", "HEAD"]),
            Route("/return", web.come_back, methods=["POST"]),
            Route("/style.css", web.stylesheet, methods=["GET", "HEAD"]),
        ]
    )
    # No Starlette app of its own (the composition root's is around it): only the handler
    # of its 404 and 405 pages, and the security headers (which also answer any crash).
    return WebApp(
        web, ExceptionMiddleware(router, handlers={HTTPException: web.not_found}), settings
    )
