"""Leaflets: text, QR code, embedded fonts and glyphs, in ko, ru, uk and en."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont  # WeasyPrint's own dependency (font subsetting)
from hypothesis import given
from hypothesis import strategies as st

from haven.campaigns.leaflet import PAPER_TEXTS, LeafletError, leaflet_html, write_leaflet
from haven.campaigns.links import Links, links
from haven.campaigns.render import keep_all, page_count
from haven.content import LANGS, gettext_for
from haven.content.texts import CROSSING_STEPS, GENEVA_PROMISES
from haven.services.campaigns import BATCH_MAX, batch_mark, leaflet_code
from haven.services.verify import Check, check_text
from haven.settings import Settings

from .conftest import pdf_fonts, pdf_pages, pdf_text, qr_codes, squeeze

ALLOWED_FONTS = ("NanumGothic", "DejaVu")


@pytest.fixture(scope="module")
def leaflets(
    tmp_path_factory: pytest.TempPathFactory, campaign_links: Links, verify: Check
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("leaflets")
    return {
        lang: write_leaflet(out / f"{lang}.pdf", lang, "A6", campaign_links, verify)
        for lang in LANGS
    }


@pytest.mark.parametrize("lang", LANGS)
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


@pytest.mark.parametrize("lang", LANGS)
def test_a_numbered_batch_still_fits(lang: str, campaign_settings: Settings, verify: Check) -> None:
    numbered = links(campaign_settings, leaflet_code("k" * 32, BATCH_MAX))  # the longest code
    html = leaflet_html(lang, "A6", numbered, verify, batch_mark("k" * 32, BATCH_MAX))
    assert batch_mark("k" * 32, BATCH_MAX) in html
    assert page_count(html) == 2


@cache
def cmap(family: str) -> frozenset[int]:
    path = subprocess.run(
        ["fc-match", "-f", "%{file}", family], capture_output=True, text=True, check=True
    ).stdout
    assert family.replace(" ", "") in Path(path).name.replace("-", ""), (family, path)
    return frozenset(TTFont(path, lazy=True).getBestCmap())


@pytest.mark.parametrize("lang", LANGS)
def test_no_missing_glyph_in_any_paper_text(lang: str) -> None:
    """Every character of every catalog text a leaflet prints has a glyph in our fonts."""
    covered = cmap("NanumGothic") | cmap("DejaVu Sans")
    _ = gettext_for(lang)
    missing = {
        (char, message[:30])
        for message in PAPER_TEXTS
        for char in _(message)
        if not char.isspace() and ord(char) not in covered
    }
    assert missing == set()


def test_ukrainian_letters_come_from_dejavu(
    tmp_path: Path, campaign_links: Links, verify: Check
) -> None:
    covered = cmap("DejaVu Sans")
    assert all(ord(c) in covered for c in "іїєґІЇЄҐ")
    pdf = write_leaflet(tmp_path / "uk.pdf", "uk", "A6", campaign_links, verify)
    assert any("DejaVu" in name for name, _ in pdf_fonts(pdf))


def test_bad_requests_are_refused(campaign_links: Links, verify: Check) -> None:
    with pytest.raises(LeafletError):
        leaflet_html("fr", "A6", campaign_links, verify)
    with pytest.raises(LeafletError):
        leaflet_html("ko", "A4", campaign_links, verify)
    with pytest.raises(LeafletError):
        leaflet_html("ko", "A6", Links("x", None, ()), verify)


@given(st.text(max_size=60))
def test_keep_all_escapes_everything(text: str) -> None:
    html = str(keep_all(text))
    stripped = html.replace('<span class="w">', "").replace("</span>", "")
    assert "<" not in stripped and ">" not in stripped
