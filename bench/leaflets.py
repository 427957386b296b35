"""Seconds per leaflet for a batch of 40 (10 campaigns x 4 languages), against a baseline.

The baseline is one WeasyPrint render of a plain page, measured in the same run, so the ratio
says what the leaflet itself costs (fonts, SVG pictograms, the QR code) on this machine.

    .venv/bin/python bench/leaflets.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from haven.campaigns.leaflet import write_leaflet
from haven.campaigns.links import links
from haven.campaigns.render import html_to_pdf
from haven.content import LANGS
from haven.crypto import IntakeKeys
from haven.services.verify import verify_for
from haven.settings import load_settings

PLAIN = "<!doctype html><html><body><h1>Plain page</h1><p>Hello.</p></body></html>"


def main() -> None:
    settings = load_settings(
        {"HAVEN_TELEGRAM_BOT_USERNAME": "haven_help_bot", "HAVEN_MIRRORS": "https://m.example"}
    )
    verify = verify_for(settings.telegram_bot_username, IntakeKeys(bytes(32), bytes(32)))
    html_to_pdf(PLAIN)  # warm up: Pango, fontconfig
    start = time.perf_counter()
    html_to_pdf(PLAIN)
    baseline = time.perf_counter() - start
    codes = [f"bench-{n:02d}" for n in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for code in codes:
            for lang in LANGS:
                write_leaflet(
                    Path(tmp) / f"{code}-{lang}.pdf", lang, "A6", links(settings, code), verify
                )
        total = time.perf_counter() - start
    count = len(codes) * len(LANGS)
    per = total / count
    print(f"plain page (baseline): {baseline:.3f} s")
    print(f"leaflets: {count} in {total:.2f} s, {per:.3f} s per leaflet")
    print(f"ratio per leaflet / plain page: {per / baseline:.1f}x")


if __name__ == "__main__":
    main()
