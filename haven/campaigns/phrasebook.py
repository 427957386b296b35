"""The front-line phrasebook card: each phrase in the applicant's script, in Cyrillic to read
aloud, and in the reader's language (Ukrainian, or Russian with ``--for ru``).

The Cyrillic line is :func:`haven.domain.translit.reading`: made by each language's rule (for
Korean the Kontsevich system), or the reading typed in the language's phrasebook file where
spelling does not tell the sound (fr, ar, en). Arabic lines are set right to left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from haven.content import LANGS, RTL
from haven.content.phrasebook import TARGETS, Phrasebook, load
from haven.domain.translit import reading
from haven.services.campaigns import CampaignError

from .render import PAPER_SIZES, html_to_pdf, render_html


class PhrasebookError(CampaignError):
    """The card cannot be made as asked."""


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    cyrillic: str
    meaning: str


def cyrillic(lang: str, text: str, target: str, typed: str | None = None) -> str:
    """The Cyrillic to read aloud: each sentence starts with a capital letter."""
    known = {text: typed} if typed else None
    return reading(lang, text, target=target, typed=known, capitalize=True)  # type: ignore[arg-type]


def _check(lang: str, target: str, size: str | None = None) -> Phrasebook:
    if lang not in LANGS:
        raise PhrasebookError(f"--lang {lang!r}: one of {', '.join(LANGS)}")
    if target not in TARGETS:
        raise PhrasebookError(f"--for {target!r}: one of {', '.join(TARGETS)}")
    if size is not None and size not in PAPER_SIZES:
        raise PhrasebookError(f"size {size!r}: one of {', '.join(PAPER_SIZES)}")
    book = load()
    problems = book.problems(lang)
    if problems:
        raise PhrasebookError(f"the {lang} phrasebook is incomplete: {problems[0]}")
    return book


def lines(
    target: str, book: Phrasebook | None = None, lang: str = "ko"
) -> list[tuple[str, list[Line]]]:
    """(section title, lines) in order, numbered through."""
    book = book or _check(lang, target)
    out = []
    number = 0
    for section in book.sections:
        group = []
        for phrase in book.in_section(section.id):
            number += 1
            text = phrase.text[lang]
            cyr = cyrillic(lang, text, target, phrase.typed.get(lang))
            group.append(Line(number, text, cyr, phrase.meaning[target]))
        out.append((section.title[target], group))
    return out


def phrasebook_html(target: str, size: str = "A6", lang: str = "ko") -> str:
    book = _check(lang, target, size)
    return render_html(
        "phrasebook.html",
        lang=lang,
        rtl=lang in RTL,
        target=target,
        size=size,
        title=book.title[target].format(language=book.language[target][lang]),
        note=book.note[target],
        sections=lines(target, book, lang),
    )


def write_phrasebook(out: Path, target: str, size: str = "A6", lang: str = "ko") -> Path:
    pdf = html_to_pdf(phrasebook_html(target, size, lang))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(out)
    return out
