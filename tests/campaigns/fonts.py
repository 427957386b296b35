"""The characters a printed page's fonts can draw, read from the font files with fontTools."""

from __future__ import annotations

import subprocess
from functools import cache

from fontTools.ttLib import TTFont

from haven.campaigns.render import fonts


@cache
def font_cmap(family: str) -> frozenset[int]:
    """Every code point the installed font of ``family`` maps to a glyph (fontconfig finds the
    file, and the face inside a collection)."""
    found = subprocess.run(
        ["fc-match", "-f", "%{file}\n%{index}\n%{family}", family],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    path, index, families = found.split("\n")
    # fontconfig falls back to any font for a family it lacks: make sure it found this one.
    assert family in families.split(","), (family, path, families)
    return frozenset(TTFont(path, fontNumber=int(index or 0), lazy=True).getBestCmap())


def page_cmap(lang: str) -> frozenset[int]:
    """What the fonts of ``lang``'s printed pages can draw, together."""
    out: frozenset[int] = frozenset()
    for family in fonts(lang):
        out |= font_cmap(family)
    return out


def missing(text: str, covered: frozenset[int]) -> set[str]:
    """The characters of ``text`` (other than spaces and invisible controls) with no glyph."""
    return {c for c in text if not c.isspace() and c.isprintable() and ord(c) not in covered}
