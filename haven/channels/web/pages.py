"""The web intake's pages: Jinja templates around one frame per language (head, header,
footer), rendered once; bodies that depend only on the language and the configuration are
rendered once too, cut where each session's CSRF token goes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from haven.content import LANGS, LANGUAGE_NAMES
from haven.content.scripts import isolated_runs
from haven.flows import Reply
from haven.flows import engine as flow_engine
from haven.services.applicant import Unlocked
from haven.services.verify import Check, check_text
from haven.settings import Settings

from . import texts
from .forms import Form, field
from .sessions import Session, Sessions

HERE = Path(__file__).resolve().parent


def bidi(text: object) -> Markup:
    """A text for the page, escaped, each Latin run of a right-to-left line (a reference, a
    command, an address) in ``<bdi dir="ltr">``, so that it reads left to right inside
    Arabic text without the page's own direction reordering it (see ``isolate``)."""
    return Markup("").join(
        Markup('<bdi dir="ltr">{}</bdi>').format(part) if ltr else escape(part)
        for ltr, part in isolated_runs(str(text))
    )


@dataclass
class Resend:
    """A form to send again (after a rate limit or an expired page): nothing typed is lost."""

    action: str
    text: str | None = None
    reference: str | None = None
    hidden: list[tuple[str, str]] = default(default_factory=list)


class Pages:
    """Renders every page of the web intake."""

    def __init__(self, settings: Settings, sessions: Sessions, check: Check) -> None:
        self.settings = settings
        self.sessions = sessions
        self.check = check
        self.jinja = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.jinja.filters["bidi"] = bidi
        self.templates = {
            path.name: self.jinja.get_template(path.name)
            for path in (HERE / "templates").glob("*.html")
        }
        self.notes = self.templates["notes.html"].module.notes  # type: ignore[attr-defined]
        self.frames: dict[str, tuple[str, str]] = {}  # by language (see frame)
        self.bodies: dict[tuple[str, str], list[str]] = {}  # by template, language (see holed)
        self.css = (HERE / "style.css").read_bytes()

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
        body = self.templates[template].render(t=t, csrf=self.sessions.csrf(sid), **context)
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
            response.raw_headers.append(
                (b"set-cookie", self.sessions.set_cookie(request, sid.cookie))
            )
        return response

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
            keep.text = field(form, "text")
        if action == "return" and field(form, "a", 16) == "open":
            keep.reference = field(form, "r", 64)
        for name in ("choice", "cmd", "c", "a", "r", "t"):
            if name in form and not (name == "r" and keep.reference is not None):
                keep.hidden.append((name, field(form, name, 4096)))
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
        csrf = self.sessions.csrf(sid)
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
        body = self.sessions.csrf(sid).join(
            self.holed("landing.html", lang, campaign="", **context)
        )
        return self.respond(request, lang, sid, body)

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
        token: str,
    ) -> HTMLResponse:
        t = texts.for_lang(unlocked.lang)
        return self.page(
            request,
            "thread.html",
            unlocked.lang,
            sid,
            notes=notes,
            reference=unlocked.reference,
            token=token,
            items=items,
            typed=typed,
            confirm_erase=t(flow_engine.M_FORGET_ASK) if confirm_erase else "",
            erase_yes=t(flow_engine.M_FORGET_YES),
            erase_no=t(flow_engine.M_FORGET_NO),
        )
