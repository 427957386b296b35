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

import logging
import math
from collections.abc import Sequence
from typing import Any

from cachetools import TTLCache
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from haven import crypto
from haven.content import LANGS
from haven.flows import Effect, Mode, State
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
from haven.services.verify import deployment_check
from haven.settings import Settings
from haven.store.db import Store, unavailable

from . import texts
from .forms import BadForm, Form, FormTooLarge, Upload, field, read_multipart, read_plain
from .pages import Pages
from .sessions import Session, Sessions, preferred_lang

log = logging.getLogger("haven.web")

CHANNEL = "web"
FORM_LIMIT = 128 * 1024
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
            counters=ratelimit.shared_counters(store, keys.lookup),
            name="web",
        )
        #: Several intake processes may serve one browser (limits in the database).
        self.shared = store.dialect == "postgresql"
        self.progress_answers = settings.web_progress_answers
        #: Session id -> answers the intake recorded for it (or the threshold, for a session
        #: that proved a passphrase): what lets it go ahead of new sessions (see limited).
        self.progress: TTLCache[str, int] = TTLCache(PROGRESS_MAX, PROGRESS_SECONDS)
        self.sessions = Sessions(keys)
        self.pages = Pages(
            settings,
            self.sessions,
            deployment_check(settings, keys),
        )
        self.photo_megabytes = max(1, settings.web_photo_max_bytes // 1_000_000)

    async def bind(self) -> Session:
        """The session of a first answer: the conversation starts under an id nobody has seen
        before (not the one of a cookie someone may have planted). This post counts against
        the new id's limit too, so the limit stays one per browser session."""
        sid = self.sessions.new(bound=True)
        await self.limits.hit(sid.id, own_only=True)
        return sid

    def lang_of(self, request: Request, form: Form | None = None) -> str:
        hinted = field(form, "l", 8) if form is not None else request.query_params.get("l", "")
        if hinted in LANGS:
            return hinted
        return preferred_lang(
            request.headers.get("accept-language", ""), self.settings.default_lang
        )

    async def limited(self, sid: Session) -> int:
        """Count one request of a session: 0, or the seconds to wait. A session the intake
        has recorded enough answers for goes ahead of new ones: past the global limit it
        draws on a reserve of its own, and the global limit's room goes to it first, so a
        flood of new sessions competes only for what the applicants under way leave."""
        progress = self.progress.get(sid.id)
        if progress is None and sid.bound and self.shared:
            # Another process behind the balancer may have recorded its answers: asked once.
            self.note_progress(sid, await self.intake.state(CHANNEL, sid.id))
            progress = self.progress.setdefault(sid.id, 0)
        ahead = (progress or 0) >= self.progress_answers
        return await self.limits.hit(sid.id, ahead=ahead)

    def note_progress(self, sid: Session, state: State | None) -> None:
        """Remember how far the intake has recorded this session's conversation."""
        if state is None or state.mode in (Mode.erased, Mode.submitted):
            self.progress.pop(sid.id, None)
        elif sid.bound:
            self.progress[sid.id] = len(state.answers)

    # -- the questionnaire ----------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        sid = self.sessions.of(request)
        lang = self.lang_of(request)
        # Only its form here (the page is served without the database): whether the campaign
        # exists is asked when the choice is posted.
        campaign = link_form(request.query_params.get("c", "")) or ""
        if sid is None:
            return self.pages.landing(
                request, lang, self.sessions.new(bound=False), campaign=campaign
            )
        wait = await self.limited(sid)
        if wait:
            note = texts.for_lang(lang).limited(_minutes(wait))
            return self.pages.notice(request, lang, sid, [note], status=429)
        if not sid.bound:
            return self.pages.landing(request, lang, sid, campaign=campaign)
        state = await self.intake.state(CHANNEL, sid.id)
        self.note_progress(sid, state)
        if state is None or state.lang is None or state.mode is Mode.erased:
            return self.pages.landing(request, lang, sid, campaign=campaign)
        if state.mode is Mode.submitted:
            return self.pages.notice(request, state.lang, sid, [self.intake.engine.ask(state).text])
        return self.pages.step_page(request, state.lang, sid, [self.intake.engine.ask(state)])

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
        sid = self.sessions.of(request)
        form = await self.read_form(request)
        if isinstance(form, tuple):
            message, status = form
            lang = self.lang_of(request)
            note = texts.for_lang(lang)(message).format(max=self.photo_megabytes)
            return self.pages.notice(
                request, lang, sid or self.sessions.new(bound=False), [note], status
            )
        lang = self.lang_of(request, form)
        t = texts.for_lang(lang)
        if sid is None:
            # No cookie, or one the server did not issue: a new one replaces it, and what was
            # typed comes back in the form to send again. Nothing else happens.
            forged = self.sessions.cookie_name(request) in request.cookies
            log.info("web event=%s", "cookie_rejected" if forged else "no_cookie")
            note = t.EXPIRED if forged else t.NO_COOKIE
            fresh = self.sessions.new(bound=False)
            return self.pages.resend(request, lang, fresh, note, form, action, status=403)
        if not self.sessions.csrf_ok(sid, form):
            log.info("web event=csrf_rejected")
            return self.pages.resend(request, lang, sid, t.EXPIRED, form, action, status=403)
        wait = await self.limited(sid)
        if wait:
            log.info("web event=rate_limited")
            note = t.limited(_minutes(wait))
            headers = {"retry-after": str(wait)}
            return self.pages.resend(
                request, lang, sid, note, form, action, status=429, headers=headers
            )
        return sid, lang, form

    async def answer(self, request: Request) -> Response:
        guarded = await self.guard(request, "./")
        if isinstance(guarded, Response):
            return guarded
        sid, lang, form = guarded
        inp: Input | PhotoData
        command, choice, typed = field(form, "cmd", 16), field(form, "choice", 64), ""
        photo = form.get("photo")
        if command in COMMANDS:
            inp = Command(command)
        elif choice:
            inp = Choice(choice)
        elif isinstance(photo, Upload) and photo.filename:
            data = photo.data
            if len(data) > self.settings.web_photo_max_bytes:
                note = texts.for_lang(lang).PHOTO_TOO_BIG.format(max=self.photo_megabytes)
                return self.pages.notice(request, lang, sid, [note], status=413)
            inp = PhotoData(data) if data else Text("")
        else:
            typed = field(form, "text")
            inp = Text(typed)
        if not sid.bound:
            sid = await self.bind()
        campaign = await self.campaigns.link_code(field(form, "c", 64))
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
            return self.pages.page(
                request,
                "done.html",
                lang,
                self.sessions.new(bound=False),
                replies=[r.text for r in result.replies],
                passphrase=issued.passphrase.split(),
            )
        if result.effect is Effect.erase:
            return self.pages.page(
                request,
                "notice.html",
                lang,
                self.sessions.new(bound=False),
                notes=[r.text for r in result.replies],
                form=None,
            )
        # Keep the typed text in the form when the same question is asked again.
        reasked = bool(typed) and len(result.replies) > 1
        return self.pages.step_page(
            request, lang, sid, result.replies, typed=typed if reasked else ""
        )

    # -- coming back with the passphrase --------------------------------------------------

    async def return_page(self, request: Request) -> Response:
        sid = self.sessions.of(request) or self.sessions.new(bound=False)
        lang = self.lang_of(request)
        return self.pages.page(request, "return.html", lang, sid, reference="")

    async def come_back(self, request: Request) -> Response:
        guarded = await self.guard(request, "return")
        if isinstance(guarded, Response):
            return guarded
        sid, lang, form = guarded
        t = texts.for_lang(lang)
        action = field(form, "a", 16)
        reference = field(form, "r", 64)
        if action == "open":
            try:
                unlocked = await self.applicants.unlock(reference, field(form, "p", 1000), sid.id)
            except RateLimited as exc:
                note = t.limited(_minutes(exc.retry_after))
                headers = {"retry-after": str(exc.retry_after)}
                return self.pages.resend(
                    request, lang, sid, note, form, "return", status=429, headers=headers
                )
            except WrongCredentials:
                return self.pages.page(
                    request, "return.html", lang, sid, notes=[t.WRONG], reference=reference
                )
            # Proved the passphrase: this session goes ahead of new ones from now on.
            self.progress[sid.id] = self.progress_answers
            items = await self.applicants.thread(unlocked)
            return self.thread(request, sid, unlocked, items)
        try:
            unlocked = await self.applicants.resume(reference, field(form, "t", 4096), sid.id)
        except WrongCredentials:
            return self.pages.page(
                request, "return.html", lang, sid, notes=[t.EXPIRED], reference=reference
            )
        if action == "erase_yes":
            await self.applicants.erase(unlocked)
            note = texts.for_lang(unlocked.lang)(flow_engine.M_FORGOTTEN)
            return self.pages.page(
                request,
                "notice.html",
                unlocked.lang,
                self.sessions.new(bound=False),
                notes=[note],
                form=None,
            )
        notes: list[str] = []
        typed = ""
        if action == "send":
            text = field(form, "text")
            posted = await self.applicants.post(unlocked, text)
            notes = [r.text for r in posted.replies]
            typed = "" if posted.stored else text
        items = await self.applicants.thread(unlocked)
        return self.thread(
            request,
            sid,
            unlocked,
            items,
            notes=notes,
            typed=typed,
            confirm_erase=action == "erase",
        )

    def thread(
        self, request: Request, sid: Session, unlocked: Unlocked, items: Sequence[Any], **kw: Any
    ) -> HTMLResponse:
        """The page of an applicant's thread with the operators, its token bound to ``sid``."""
        token = self.applicants.page_token(unlocked, sid.id)
        return self.pages.thread_page(request, sid, unlocked, items, token=token, **kw)

    # -- the rest -----------------------------------------------------------------------

    async def stylesheet(self, _request: Request) -> Response:
        return Response(
            self.pages.css,
            media_type="text/css",
            headers={"cache-control": "public, max-age=86400"},
        )

    async def not_found(self, request: Request, _exc: Exception) -> Response:
        lang = self.lang_of(request)
        # A page without a form: a token of its own, and no cookie set.
        sid = self.sessions.of(request) or Session(crypto.random_token(), bound=False)
        status = getattr(_exc, "status_code", 404)
        note = texts.for_lang(lang).NOT_FOUND if status == 404 else texts.for_lang(lang).BAD_FORM
        return self.pages.notice(request, lang, sid, [note], status=status)

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        """The database cannot take the work now (restarting, read-only, its disk full): a
        polite 503 in the applicant's language; its transaction rolled back whole."""
        if not unavailable(exc):
            raise exc
        log.warning("web event=database_unavailable type=%s", type(exc).__name__)
        lang = self.lang_of(request)
        sid = self.sessions.of(request) or Session(crypto.random_token(), bound=False)
        response = self.pages.notice(
            request, lang, sid, [texts.for_lang(lang).UNAVAILABLE], status=503
        )
        response.headers["retry-after"] = "60"
        return response


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
    handlers = {HTTPException: web.not_found, DBAPIError: web.unavailable, OSError: web.unavailable}
    return WebApp(web, ExceptionMiddleware(router, handlers=handlers), settings)
