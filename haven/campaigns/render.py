"""HTML/CSS templates to print-ready PDF with WeasyPrint.

Templates and stylesheets live in ``templates/`` so that a designer can edit them without
touching Python. Fonts come from Debian packages through fontconfig: ``fonts-dejavu-core``
(Latin and Cyrillic, with the Ukrainian і ї є ґ that Korean fonts lack), ``fonts-nanum``
(Hangul), ``fonts-noto-core`` (Devanagari, Arabic) and ``fonts-noto-cjk`` (Chinese).
:data:`FONTS` says which families each language's pages use, in order; the templates set
them. WeasyPrint embeds a subset of every font it uses, and shapes the text with HarfBuzz
(Devanagari conjuncts, Arabic joining), so nothing is shaped here.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from haven.content.scripts import isolated_runs

TEMPLATES = Path(str(resources.files(__package__) / "templates"))
PAPER_SIZES: tuple[str, ...] = ("A6", "A5")

_LATIN = ("DejaVu Sans",)
#: The font families of each language's printed pages, first choice first: the script's own
#: font, then DejaVu Sans for Latin and Cyrillic (links, readings, the Ukrainian meanings).
FONTS: dict[str, tuple[str, ...]] = {
    "ko": ("NanumGothic", *_LATIN),
    "ar": ("Noto Naskh Arabic", *_LATIN),
    "hi": ("Noto Sans Devanagari", *_LATIN),
    "ne": ("Noto Sans Devanagari", *_LATIN),
    "zh": ("Noto Sans CJK SC", *_LATIN),
}


def fonts(lang: str) -> tuple[str, ...]:
    """The font families of ``lang``'s printed pages (:data:`FONTS`; DejaVu Sans otherwise)."""
    return FONTS.get(lang, _LATIN)


def font_family(lang: str) -> str:
    """:func:`fonts` as a CSS ``font-family`` value."""
    return ", ".join(f'"{family}"' for family in fonts(lang))


_HANGUL_WORD = re.compile(r"\S*[\uac00-\ud7a3]\S*")


def keep_all(text: str) -> Markup:
    """Printed text made safe to lay out.

    Korean breaks lines at spaces only (CSS ``word-break: keep-all``): the stylesheets ask for
    it, WeasyPrint does not implement it yet, so every word that holds Hangul is also wrapped
    in a span that does not break. In right-to-left text, every left-to-right run that needs it
    (:func:`haven.content.scripts.isolated_runs`: a link, a reference, ``/verify``, ``@name``)
    goes in a ``dir="ltr"`` span: WeasyPrint lays a span out as one piece in its own
    direction, so the run reads as typed.
    """

    def korean(part: str) -> str:
        escaped = str(escape(part))
        return _HANGUL_WORD.sub(lambda m: f'<span class="w">{m.group(0)}</span>', escaped)

    return Markup(  # noqa: S704 - built from escape()'d text
        "".join(
            f'<span dir="ltr">{escape(part)}</span>' if ltr else korean(part)
            for ltr, part in isolated_runs(text)
        )
    )


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["keep_all"] = keep_all
    env.globals["font_family"] = font_family
    return env


def render_html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


class _QuietKeepAll(logging.Filter):
    """Drop WeasyPrint's warning about ``word-break: keep-all`` (handled by :func:`keep_all`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "keep-all" not in record.getMessage()


@cache
def _weasyprint() -> Any:
    import weasyprint  # imported on first use: it loads Pango, fontconfig and friends

    for name in ("weasyprint", "weasyprint.progress"):
        logging.getLogger(name).addFilter(_QuietKeepAll())
    return weasyprint


def html_to_pdf(html: str) -> bytes:
    weasyprint = _weasyprint()
    font_config = weasyprint.text.fonts.FontConfiguration()
    document = weasyprint.HTML(string=html, base_url=str(TEMPLATES))
    return bytes(document.write_pdf(font_config=font_config))


def page_count(html: str) -> int:
    weasyprint = _weasyprint()
    return len(weasyprint.HTML(string=html, base_url=str(TEMPLATES)).render().pages)
