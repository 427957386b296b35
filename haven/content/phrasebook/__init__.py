"""The front-line phrasebook as content: ``phrases.toml`` (Korean, Ukrainian, Russian).

This module only reads the file; the card is rendered by ``haven.campaigns.phrasebook``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

TARGETS: tuple[str, ...] = ("uk", "ru")


@dataclass(frozen=True)
class Phrase:
    id: str
    section: str
    ko: str
    meaning: dict[str, str]


@dataclass(frozen=True)
class Section:
    id: str
    title: dict[str, str]


@dataclass(frozen=True)
class Phrasebook:
    title: dict[str, str]
    note: dict[str, str]
    sections: tuple[Section, ...]
    phrases: tuple[Phrase, ...]

    def in_section(self, section: str) -> tuple[Phrase, ...]:
        return tuple(p for p in self.phrases if p.section == section)


class PhrasebookError(ValueError):
    """``phrases.toml`` is malformed."""


@cache
def load() -> Phrasebook:
    raw = tomllib.loads((resources.files(__package__) / "phrases.toml").read_text("utf-8"))
    sections = tuple(
        Section(s["id"], {k: v for k, v in s.items() if k != "id"}) for s in raw["section"]
    )
    known = {s.id for s in sections}
    phrases = []
    seen: set[str] = set()
    for p in raw["phrase"]:
        if p["section"] not in known or p["id"] in seen:
            raise PhrasebookError(f"phrase {p['id']!r}: unknown section or duplicate id")
        if not all(p.get(lang, "").strip() for lang in ("ko", *TARGETS)):
            raise PhrasebookError(f"phrase {p['id']!r}: ko, uk and ru are all needed")
        seen.add(p["id"])
        phrases.append(Phrase(p["id"], p["section"], p["ko"], {t: p[t] for t in TARGETS}))
    return Phrasebook(dict(raw["title"]), dict(raw["note"]), sections, tuple(phrases))
