"""HTML/CSS templates to print-ready PDF with WeasyPrint.

Templates and stylesheets live in ``templates/`` so that a designer can edit them without
touching Python. Fonts come from Debian packages through fontconfig: ``fonts-nanum`` (Korean)
and ``fonts-dejavu-core`` (Latin and Cyrillic, with the Ukrainian і ї є ґ that Korean fonts
lack). WeasyPrint embeds a subset of every font it uses.
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

TEMPLATES = Path(str(resources.files(__package__) / "templates"))
PAPER_SIZES: tuple[str, ...] = ("A6", "A5")

_HANGUL_WORD = re.compile(r"\S*[\uac00-\ud7a3]\S*")


def keep_all(text: str) -> Markup:
    """Korean line breaking at spaces only (CSS ``word-break: keep-all``).

    The stylesheets ask for ``keep-all``; WeasyPrint does not implement it yet, so every word
    that holds Hangul is also wrapped in a span that does not break.
    """
    escaped = str(escape(text))
    return Markup(  # noqa: S704 - built from escape()'d text
        _HANGUL_WORD.sub(lambda m: f'<span class="w">{m.group(0)}</span>', escaped)
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
