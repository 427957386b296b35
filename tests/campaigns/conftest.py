"""Fixtures for the campaigns tests: settings with a bot and mirrors, PDFs rendered once."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from haven.campaigns.leaflet import write_leaflet
from haven.campaigns.links import Links, links
from haven.campaigns.phrasebook import write_phrasebook
from haven.content import LANGS
from haven.crypto import IntakeKeys
from haven.services.verify import Check, verify_for
from haven.settings import Settings, load_settings

KEYS = IntakeKeys(bytes(range(32)), bytes(range(32, 64)))
CODE = "kursk-a1"


@pytest.fixture(scope="session")
def campaign_settings() -> Settings:
    return load_settings(
        {
            "HAVEN_TELEGRAM_BOT_USERNAME": "haven_help_bot",
            "HAVEN_MIRRORS": "https://mirror-one.example/intake, https://m2.example/?x=1",
            "HAVEN_ONION_URL": "http://" + "a" * 56 + ".onion",
        }
    )


@pytest.fixture(scope="session")
def campaign_links(campaign_settings: Settings) -> Links:
    return links(campaign_settings, CODE)


@pytest.fixture(scope="session")
def verify(campaign_settings: Settings) -> Check:
    return verify_for(campaign_settings.telegram_bot_username, KEYS)


@pytest.fixture(scope="session")
def leaflets(
    tmp_path_factory: pytest.TempPathFactory, campaign_links: Links, verify: Check
) -> dict[str, Path]:
    """An A6 leaflet in every language, rendered once for the whole run."""
    out = tmp_path_factory.mktemp("leaflets")
    return {
        lang: write_leaflet(out / f"{lang}.pdf", lang, "A6", campaign_links, verify)
        for lang in LANGS
    }


@pytest.fixture(scope="session")
def phrasebooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The A6 phrasebook card (for Ukrainian readers) of every language, rendered once."""
    out = tmp_path_factory.mktemp("phrasebooks")
    return {lang: write_phrasebook(out / f"{lang}.pdf", "uk", "A6", lang) for lang in LANGS}


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def pdf_text(pdf: Path) -> str:
    return run("pdftotext", "-enc", "UTF-8", str(pdf), "-")


#: What pdftotext adds around right-to-left text (embeddings, marks, isolates).
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def squeeze(text: str) -> str:
    """Text without any whitespace, hyphen or bidi control: line breaks in a PDF fall anywhere
    between words or at a hyphen (which pdftotext then drops), and pdftotext marks the
    direction of right-to-left text."""
    return re.sub(r"[\s\-\u00ad]+", "", BIDI_CONTROLS.sub("", text))


def pdf_fonts(pdf: Path) -> list[tuple[str, str]]:
    """(font name, embedded yes/no) for every font pdffonts lists."""
    rows = run("pdffonts", str(pdf)).splitlines()[2:]
    out = []
    for row in rows:
        parts = row.split()
        # name type... encoding emb sub uni object ID: emb is the 5th field from the end
        out.append((parts[0], parts[-5]))
    return out


def pdf_pages(pdf: Path) -> int:
    info = run("pdfinfo", str(pdf))
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]


def qr_codes(pdf: Path, tmp: Path, page: int) -> list[str]:
    prefix = tmp / f"page{page}"
    run("pdftoppm", "-r", "200", "-png", "-f", str(page), "-l", str(page), str(pdf), str(prefix))
    png = next(tmp.glob(f"page{page}*.png"))
    out = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=60
    )
    return [line for line in out.stdout.splitlines() if line]
