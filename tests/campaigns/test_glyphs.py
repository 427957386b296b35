"""No character that a leaflet or a phrasebook card prints lacks a glyph in the fonts of its page.

Shaping (Devanagari conjuncts, Arabic joining) is WeasyPrint's, through HarfBuzz; that the shaped
text comes back out of the PDF is checked in ``test_print_languages``.
"""

from __future__ import annotations

import pytest

from haven.campaigns.leaflet import PAPER_TEXTS
from haven.campaigns.phrasebook import lines
from haven.content import LANGS, gettext_for
from haven.content.phrasebook import TARGETS, load

from .fonts import font_cmap, missing, page_cmap


@pytest.mark.parametrize("lang", LANGS)
def test_no_missing_glyph_in_any_paper_text(lang: str) -> None:
    """Every character of every catalog text a leaflet prints has a glyph in its fonts."""
    covered = page_cmap(lang)
    _ = gettext_for(lang)
    gaps = {
        (char, message[:30]) for message in PAPER_TEXTS for char in missing(_(message), covered)
    }
    assert gaps == set()


@pytest.mark.parametrize("lang", LANGS)
def test_no_missing_glyph_in_the_phrasebook(lang: str) -> None:
    """The applicant's line in its script's fonts; the reading, the meaning and the headings in
    DejaVu Sans, the font of the card itself."""
    script = page_cmap(lang)
    card = font_cmap("DejaVu Sans")
    book = load()
    gaps: set[tuple[str, str]] = set()
    for target in TARGETS:
        for title, group in lines(target, lang=lang):
            gaps |= {(c, title) for c in missing(title, card)}
            for line in group:
                gaps |= {(c, line.text) for c in missing(line.text, script)}
                for text in (line.cyrillic, line.meaning):
                    gaps |= {(c, text) for c in missing(text, card)}
        heading = book.title[target].format(language=book.language[target][lang])
        gaps |= {(c, heading) for c in missing(heading + book.note[target], card)}
    assert gaps == set()


def test_ukrainian_letters_are_in_dejavu() -> None:
    assert all(ord(c) in font_cmap("DejaVu Sans") for c in "іїєґІЇЄҐ’")
    assert not missing("ҷӣқғҳӯ", font_cmap("DejaVu Sans"))  # Tajik, read as written


def test_the_check_sees_a_missing_glyph() -> None:
    assert missing("सेब 苹果", page_cmap("ko")) >= {"स", "苹"}
    assert missing("сон 손", page_cmap("ko")) == set()
