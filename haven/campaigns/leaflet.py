"""Leaflets: a print-ready PDF per campaign and language, front and back.

Front: the title, and the crossing step by step with a drawn pictogram per step. Back: the QR
code of the campaign's deep link with the link under it, the campaign code to type (with the
print batch's number, when the leaflet belongs to a numbered batch) and the batch's mark, the web
addresses, how to check the bot is real (the bot's exact name, large, and the same check as every
other surface: :mod:`haven.services.verify`), the guarantees of the Third Geneva Convention, and
the promise to be recorded as captured.
"""

from __future__ import annotations

from pathlib import Path

import segno

from haven.content import LANGS, N_, RTL, gettext_for
from haven.content.texts import (
    CROSSING_STEPS,
    CROSSING_TITLE,
    GENEVA_PROMISES,
    GENEVA_TITLE,
    PRIVACY_CAPTURED,
)
from haven.services.campaigns import CampaignError
from haven.services.verify import TEXTS as CHECK_TEXTS
from haven.services.verify import Check, check_text

from .links import Links
from .render import PAPER_SIZES, html_to_pdf, render_html

TITLE = N_("How to save your life")
INTRO = N_("You can stay alive. This is how to cross over safely.")
QR_LABEL = N_("Scan this code with a phone to reach our bot:")
CODE_LABEL = N_("If the link does not open, send this code to the bot: {code}")
WEB_LABEL = N_("Our web page (open it through a VPN or Tor):")
CONTACTS_TITLE = N_("How to reach us")

#: Every catalog text a leaflet may print (the glyph test renders all of them).
PAPER_TEXTS: tuple[str, ...] = (
    TITLE,
    INTRO,
    QR_LABEL,
    CODE_LABEL,
    WEB_LABEL,
    *CHECK_TEXTS,
    CONTACTS_TITLE,
    CROSSING_TITLE,
    *CROSSING_STEPS,
    GENEVA_TITLE,
    *GENEVA_PROMISES,
    PRIVACY_CAPTURED,
)


class LeafletError(CampaignError):
    """A leaflet cannot be made as asked (language, size, missing links)."""


def qr_data_uri(link: str) -> str:
    return str(segno.make(link, error="m", micro=False).svg_data_uri(scale=4, border=2))


def leaflet_html(lang: str, size: str, links: Links, verify: Check, mark: str = "") -> str:
    """The leaflet's page; ``mark`` is its print batch's mark (:func:`batch_mark`), printed
    beside the campaign code."""
    if lang not in LANGS:
        raise LeafletError(f"language {lang!r}: one of {', '.join(LANGS)}")
    if size not in PAPER_SIZES:
        raise LeafletError(f"size {size!r}: one of {', '.join(PAPER_SIZES)}")
    _ = gettext_for(lang)
    try:
        primary = links.primary
    except ValueError as exc:
        raise LeafletError(str(exc)) from None
    steps = [(n, _(text)) for n, text in enumerate(CROSSING_STEPS, start=1)]
    return render_html(
        "leaflet.html",
        lang=lang,
        rtl=lang in RTL,
        size=size,
        title=_(TITLE),
        intro=_(INTRO),
        crossing_title=_(CROSSING_TITLE),
        steps=steps,
        qr=qr_data_uri(primary),
        qr_label=_(QR_LABEL),
        link=primary,
        code_label=_(CODE_LABEL).format(code=links.code) if links.telegram else "",
        web_label=_(WEB_LABEL),
        web=[w for w in links.web if w != primary],
        verify=check_text(lang, verify),
        contacts_title=_(CONTACTS_TITLE),
        geneva_title=_(GENEVA_TITLE),
        geneva=[_(t) for t in GENEVA_PROMISES],
        captured=_(PRIVACY_CAPTURED),
        mark=mark,
    )


def leaflet_pdf(lang: str, size: str, links: Links, verify: Check, mark: str = "") -> bytes:
    return html_to_pdf(leaflet_html(lang, size, links, verify, mark))


def write_leaflet(
    out: Path, lang: str, size: str, links: Links, verify: Check, mark: str = ""
) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(leaflet_pdf(lang, size, links, verify, mark))
    tmp.replace(out)
    return out
