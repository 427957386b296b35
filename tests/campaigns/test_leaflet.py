"""Leaflets: text, QR code, embedded fonts and glyphs, in every language."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.campaigns.leaflet import LeafletError, leaflet_html
from haven.campaigns.links import Links, links
from haven.campaigns.render import keep_all, page_count
from haven.content import LANGS, gettext_for
from haven.content.texts import CROSSING_STEPS, GENEVA_PROMISES
from haven.services.campaigns import BATCH_MAX, batch_mark, leaflet_code
from haven.services.verify import Check, check_text
from haven.settings import Settings

from .conftest import pdf_fonts, pdf_pages, pdf_text, qr_codes, squeeze
from .fonts import font_cmap

ALLOWED_FONTS = ("NanumGothic", "DejaVu", "Noto")


#: Languages whose text pdftotext gives back exactly as written. Arabic (reordered neutrals)
#: and Devanagari (vowel signs) are checked word by word in test_print_languages.
VERBATIM = tuple(lang for lang in LANGS if lang not in ("ar", "hi", "ne"))


@pytest.mark.parametrize("lang", VERBATIM)
def test_text_is_in_the_pdf(
    lang: str, leaflets: dict[str, Path], campaign_links: Links, verify: Check
) -> None:
    _ = gettext_for(lang)
    text = squeeze(pdf_text(leaflets[lang]))
    for message in (*CROSSING_STEPS, *GENEVA_PROMISES):
        assert squeeze(_(message)) in text, _(message)
    assert squeeze(campaign_links.telegram or "") in text
    for line in check_text(lang, verify).lines:
        assert squeeze(line) in text, line


def test_korean_leaflet_is_korean(leaflets: dict[str, Path]) -> None:
    text = pdf_text(leaflets["ko"])
    assert "목숨을 구하는 방법" in text
    assert "무인기" in text and "암호말" in text
    flat = squeeze(text)
    for corrected in (
        "흰 천이나 우리 전단을",  # the bot's reader holds no leaflet: "one of ours"
        "우리 군인들이 있는 곳에 이르면",  # whose soldiers
        "엽서를 보낼수 있고",  # Art. 70: he may send a card; nothing promises the family is told
        "폭력이나 위협, 모욕을 당하지 않도록",
        "군사장비",  # Art. 18
        "지체없이 석방되여",  # Art. 118
        "누구에게 넘기는 어떤 자료에도",
    ):
        assert squeeze(corrected) in flat, corrected
    assert squeeze("소식이 전해지며") not in flat and squeeze("이 전단") not in flat


@pytest.mark.parametrize(
    ("lang", "corrected"),
    [
        ("ru", ("одну из наших листовок", "до наших военных", "сдались добровольно", "в тыл")),
        ("uk", ("одну з наших листівок", "розведіть їх у сторони", "здалися добровільно")),
        (
            "en",
            (
                "one of our leaflets",
                "our soldiers",
                "serve in the army that holds you",
                "check code",
            ),
        ),
    ],
)
def test_leaflet_carries_the_corrections(
    lang: str, corrected: tuple[str, ...], leaflets: dict[str, Path]
) -> None:
    flat = squeeze(pdf_text(leaflets[lang]))
    for part in corrected:
        assert squeeze(part) in flat, part


@pytest.mark.parametrize("lang", LANGS)
def test_qr_decodes_to_the_deep_link(
    lang: str, leaflets: dict[str, Path], campaign_links: Links, tmp_path: Path
) -> None:
    assert qr_codes(leaflets[lang], tmp_path, page=2) == [
        "https://t.me/haven_help_bot?start=kursk-a1"
    ]
    assert campaign_links.primary == "https://t.me/haven_help_bot?start=kursk-a1"


@pytest.mark.parametrize("lang", LANGS)
def test_fonts_embedded_and_two_pages(lang: str, leaflets: dict[str, Path]) -> None:
    fonts = pdf_fonts(leaflets[lang])
    assert fonts
    for name, embedded in fonts:
        assert embedded == "yes", name
        assert any(allowed in name for allowed in ALLOWED_FONTS), name
    assert pdf_pages(leaflets[lang]) == 2


@pytest.mark.parametrize("size", ["A6", "A5"])
@pytest.mark.parametrize("lang", LANGS)
def test_front_and_back_fit(lang: str, size: str, campaign_links: Links, verify: Check) -> None:
    assert page_count(leaflet_html(lang, size, campaign_links, verify)) == 2


@pytest.mark.parametrize("lang", ["ko", "ru", "uk", "en"])
def test_a_numbered_batch_still_fits(lang: str, campaign_settings: Settings, verify: Check) -> None:
    numbered = links(campaign_settings, leaflet_code("k" * 32, BATCH_MAX))  # the longest code
    html = leaflet_html(lang, "A6", numbered, verify, batch_mark("k" * 32, BATCH_MAX))
    assert batch_mark("k" * 32, BATCH_MAX) in html
    assert page_count(html) == 2


def test_ukrainian_letters_come_from_dejavu(leaflets: dict[str, Path]) -> None:
    covered = font_cmap("DejaVu Sans")
    assert all(ord(c) in covered for c in "іїєґІЇЄҐ")
    assert any("DejaVu" in name for name, _ in pdf_fonts(leaflets["uk"]))


def test_bad_requests_are_refused(campaign_links: Links, verify: Check) -> None:
    with pytest.raises(LeafletError):
        leaflet_html("de", "A6", campaign_links, verify)
    with pytest.raises(LeafletError):
        leaflet_html("ko", "A4", campaign_links, verify)
    with pytest.raises(LeafletError):
        leaflet_html("ko", "A6", Links("x", None, ()), verify)


@given(st.text(max_size=60) | st.text(alphabet="<>&\"'/@a1 \u0627\u0644\ud55c", max_size=30))
def test_keep_all_escapes_everything(text: str) -> None:
    html = str(keep_all(text))
    stripped = html.replace('<span class="w">', "").replace('<span dir="ltr">', "")
    stripped = stripped.replace("</span>", "")
    assert "<" not in stripped and ">" not in stripped


def test_latin_runs_in_arabic_text_are_set_left_to_right() -> None:
    assert str(keep_all("افتح /verify أو https://t.me/x?start=a-1.")) == (
        'افتح <span dir="ltr">/verify</span> أو <span dir="ltr">https://t.me/x?start=a-1</span>.'
    )
    assert str(keep_all("open /verify")) == "open /verify"  # left-to-right text is left alone
