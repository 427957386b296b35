"""The front-line phrasebook card: each phrase in Hangul, in Cyrillic to read aloud, and in
the reader's language (Ukrainian, or Russian with ``--for ru``).

The Cyrillic line is made here by code from the Hangul (Kontsevich system,
:func:`haven.domain.translit.to_cyrillic`), never typed by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from haven.content.phrasebook import TARGETS, Phrasebook, load
from haven.domain.translit import to_cyrillic
from haven.services.campaigns import CampaignError

from .render import PAPER_SIZES, html_to_pdf, render_html


class PhrasebookError(CampaignError):
    """The card cannot be made as asked."""


@dataclass(frozen=True)
class Line:
    number: int
    ko: str
    cyrillic: str
    meaning: str


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def cyrillic(korean: str, target: str) -> str:
    """The Cyrillic to read aloud: each sentence starts with a capital letter."""
    return " ".join(
        to_cyrillic(sentence, target, capitalize=True)  # type: ignore[arg-type]
        for sentence in _SENTENCE_END.split(korean.strip())
    )


def lines(target: str, book: Phrasebook | None = None) -> list[tuple[str, list[Line]]]:
    """(section title, lines) in order, numbered through."""
    if target not in TARGETS:
        raise PhrasebookError(f"--for {target!r}: one of {', '.join(TARGETS)}")
    book = book or load()
    out = []
    number = 0
    for section in book.sections:
        group = []
        for phrase in book.in_section(section.id):
            number += 1
            cyr = cyrillic(phrase.ko, target)
            group.append(Line(number, phrase.ko, cyr, phrase.meaning[target]))
        out.append((section.title[target], group))
    return out


def phrasebook_html(target: str, size: str = "A6", lang: str = "ko") -> str:
    if lang != "ko":
        raise PhrasebookError("the phrasebook is Korean: --lang ko")
    if target not in TARGETS:
        raise PhrasebookError(f"--for {target!r}: one of {', '.join(TARGETS)}")
    if size not in PAPER_SIZES:
        raise PhrasebookError(f"size {size!r}: one of {', '.join(PAPER_SIZES)}")
    book = load()
    return render_html(
        "phrasebook.html",
        target=target,
        size=size,
        title=book.title[target],
        note=book.note[target],
        sections=lines(target, book),
    )


def write_phrasebook(out: Path, target: str, size: str = "A6", lang: str = "ko") -> Path:
    pdf = html_to_pdf(phrasebook_html(target, size, lang))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(out)
    return out
