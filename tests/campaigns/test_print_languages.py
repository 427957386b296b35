"""Every language in print: its leaflet and its phrasebook card render with the script's text
extractable, every font embedded and the QR code decoding to the deep link; Arabic runs right
to left. The PDFs are rendered once per run (``leaflets`` and ``phrasebooks`` in conftest).
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from haven.campaigns.leaflet import INTRO, TITLE, leaflet_html
from haven.campaigns.links import Links
from haven.campaigns.phrasebook import lines, phrasebook_html
from haven.content import LANGS, gettext_for
from haven.content.texts import CROSSING_STEPS
from haven.services.verify import Check

from .conftest import pdf_fonts, pdf_text, qr_codes, run, squeeze

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

#: The letters each language is written in.
SCRIPT: dict[str, str] = {
    "ko": "[\uac00-\ud7a3]",
    "ru": "[\u0400-\u04ff]",
    "uk": "[\u0400-\u04ff]",
    "tg": "[\u0400-\u04ff]",
    "ar": "[\u0600-\u06ff]",
    "hi": "[\u0900-\u097f]",
    "ne": "[\u0900-\u097f]",
    "zh": "[\u4e00-\u9fff]",
    "en": "[A-Za-z]",
    "es": "[A-Za-zñáéíóú]",
    "fr": "[A-Za-zàâçéèêëîïôûù]",
    "uz": "[A-Za-zʻ]",
}
#: The font each script's page must embed.
SCRIPT_FONT: dict[str, str] = {
    "ko": "NanumGothic",
    "ar": "Noto-Naskh-Arabic",
    "hi": "Noto-Sans-Devanagari",
    "ne": "Noto-Sans-Devanagari",
    "zh": "Noto-Sans-CJK-SC",
}


# What pdftotext cannot give back in order, and so is left out of the comparison: Arabic
# vowel marks (it may put them anywhere in the word), and Devanagari words with the vowel sign
# ि or a reph (र्), which are drawn before or above the letter they follow in the text.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670]")
_REORDERED = re.compile("\u093f|\u0930\u094d")
#: Share of the words that must come back out of the PDF. Devanagari is printed right (shaped
#: by HarfBuzz: look at the PNG), but WeasyPrint maps each glyph of a subset font to the first
#: text it drew it for, so a vowel-sign glyph shared by several syllables reads back as the
#: first one (के comes out as कि+े): about a third of the words come back changed.
_RECOVERED = {"hi": 0.6, "ne": 0.6}


def words(text: str) -> list[str]:
    """The words of ``text`` between spaces and punctuation that pdftotext gives back as they
    are written: it may move punctuation around in right-to-left text, never letters."""
    cut = "".join(
        " " if c.isspace() or unicodedata.category(c).startswith(("P", "S")) else c for c in text
    )
    return [_ARABIC_MARKS.sub("", w) for w in cut.split() if not _REORDERED.search(w)]


def scripted(lang: str, text: str) -> int:
    return len(re.findall(SCRIPT[lang], text))


@pytest.mark.parametrize("lang", LANGS)
def test_leaflet_text_is_the_language(lang: str, leaflets: dict[str, Path]) -> None:
    text = pdf_text(leaflets[lang])
    flat = _ARABIC_MARKS.sub("", squeeze(text))
    _ = gettext_for(lang)
    found, lost = [], []
    for message in (TITLE, INTRO, CROSSING_STEPS[0]):
        for word in words(_(message)):
            (found if squeeze(word) in flat else lost).append(word)
    assert len(found) >= 5
    assert len(found) >= _RECOVERED.get(lang, 1) * (len(found) + len(lost)), lost
    assert scripted(lang, text) > 300
    fonts = pdf_fonts(leaflets[lang])
    assert fonts and all(embedded == "yes" for _, embedded in fonts)
    if lang in SCRIPT_FONT:
        assert any(SCRIPT_FONT[lang] in name for name, _ in fonts), fonts


@pytest.mark.parametrize("lang", LANGS)
def test_phrasebook_card_in_every_language(lang: str, phrasebooks: dict[str, Path]) -> None:
    flat = _ARABIC_MARKS.sub("", squeeze(pdf_text(phrasebooks[lang])))
    found, lost = [], []
    for _, group in lines("uk", lang=lang):
        for line in group:
            assert squeeze(line.cyrillic) in flat, line
            assert squeeze(line.meaning) in flat, line
            for word in words(line.text):
                (found if squeeze(word) in flat else lost).append(word)
            assert re.search("[\u0400-\u04ff]", line.cyrillic), line  # a Cyrillic reading
    assert len(found) >= 60
    assert len(found) >= _RECOVERED.get(lang, 1) * (len(found) + len(lost)), lost
    fonts = pdf_fonts(phrasebooks[lang])
    assert fonts and all(embedded == "yes" for _, embedded in fonts)
    if lang in SCRIPT_FONT:
        assert any(SCRIPT_FONT[lang] in name for name, _ in fonts), fonts


@pytest.mark.parametrize("lang", LANGS)
def test_qr_decodes_in_every_language(lang: str, leaflets: dict[str, Path], tmp_path: Path) -> None:
    assert qr_codes(leaflets[lang], tmp_path, page=2) == [
        "https://t.me/haven_help_bot?start=kursk-a1"
    ]


def bbox_words(pdf: Path, page: int) -> tuple[float, list[tuple[float, float, str]]]:
    """The page's width and its words as (xMin, xMax, text), as pdftotext places them."""
    xml = run("pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-")
    root = ET.fromstring(re.sub(r'\sxmlns="[^"]+"', "", xml, count=1))
    page_box = root.find(".//page")
    assert page_box is not None
    found = [
        (float(w.get("xMin", 0)), float(w.get("xMax", 0)), w.text or "") for w in root.iter("word")
    ]
    return float(page_box.get("width", 0)), found


MARGIN = 5 / 25.4 * 72  # the leaflet's @page margin, 5 mm in points


def test_arabic_leaflet_runs_right_to_left(
    leaflets: dict[str, Path], campaign_links: Links, verify: Check
) -> None:
    assert '<html lang="ar" dir="rtl"' in leaflet_html("ar", "A6", campaign_links, verify)
    assert 'dir="rtl"' not in leaflet_html("en", "A6", campaign_links, verify)
    for lang, rtl in (("ar", True), ("en", False)):
        width, placed = bbox_words(leaflets[lang], page=1)
        numbers = [(x0, x1) for x0, x1, text in placed if text in {str(n) for n in range(1, 8)}]
        assert len(numbers) >= 7
        # The steps' numbers (beside each step's first words) sit at the start of the line:
        # the right half of the page right to left, the left half left to right.
        assert all((x0 > width / 2) if rtl else (x1 < width / 2) for x0, x1 in numbers), lang
        arabic = [(x0, x1) for x0, x1, text in placed if re.search("[\u0600-\u06ff]", text)]
        if rtl:
            # Headings start at the right margin; no Arabic text starts at the left one.
            assert max(x1 for _, x1 in arabic) == pytest.approx(width - MARGIN, abs=1)
        else:
            assert arabic == []
            assert min(x0 for x0, _, _ in placed) == pytest.approx(MARGIN, abs=1)


def test_arabic_links_read_left_to_right(leaflets: dict[str, Path], campaign_links: Links) -> None:
    """Links, the bot's name and /verify inside Arabic text come out as typed."""
    text = pdf_text(leaflets["ar"])
    for link in (campaign_links.telegram or "", *campaign_links.web, "@haven_help_bot"):
        assert link in text, link
    assert "/verify" in squeeze(text)


def test_arabic_phrasebook_lines_sit_at_the_right(phrasebooks: dict[str, Path]) -> None:
    assert 'dir="rtl"' in phrasebook_html("uk", lang="ar")
    width, placed = bbox_words(phrasebooks["ar"], page=1)
    arabic = [(x0, x1) for x0, x1, text in placed if re.search("[\u0600-\u06ff]", text)]
    cyrillic = [x0 for x0, _, text in placed if re.search("[\u0400-\u04ff]", text)]
    right = max(x1 for _, x1 in arabic)
    assert right > width - 20
    # Short lines end at the right edge; the Cyrillic reading starts at the left.
    ends = sorted(x1 for _, x1 in arabic)
    assert sum(1 for x1 in ends if x1 > right - 1) >= 10
    assert min(x0 for x0, _ in arabic) > min(cyrillic)


def test_arabic_pages_as_pictures(leaflets: dict[str, Path], phrasebooks: dict[str, Path]) -> None:
    """PNGs of the Arabic leaflet and card in tests/artifacts/, to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    run("pdftoppm", "-r", "110", "-png", str(leaflets["ar"]), str(ARTIFACTS / "leaflet-ar"))
    run(
        "pdftoppm", "-r", "110", "-png", "-f", "1", "-l", "1",
        str(phrasebooks["ar"]), str(ARTIFACTS / "phrasebook-ar"),
    )  # fmt: skip
    assert len(list(ARTIFACTS.glob("leaflet-ar-*.png"))) >= 2
    assert list(ARTIFACTS.glob("phrasebook-ar-*.png"))
