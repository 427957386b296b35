"""The front-line phrasebook as content.

``phrases.toml`` holds what every language shares: the sections, the phrase ids, what each
phrase means for the soldier holding the card (Ukrainian and Russian), and the Korean lines.
Every other applicant language has ``<lang>.toml``: a ``[phrase]`` table (id -> the line in
that language) and, for the languages whose reading is typed (:data:`TYPED`), a ``[reading]``
table (id -> the line in Ukrainian Cyrillic, as a Ukrainian soldier says it). Russian and
Ukrainian applicants are spoken to in the meanings themselves.

This module only reads the files; the card is rendered by ``haven.campaigns.phrasebook``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from haven.content import LANGS
from haven.domain.translit import TYPED

#: The languages of the soldier who holds the card.
TARGETS: tuple[str, ...] = ("uk", "ru")


@dataclass(frozen=True)
class Phrase:
    id: str
    section: str
    meaning: dict[str, str]
    #: language -> the line said to the applicant (only the languages that have it).
    text: dict[str, str] = field(default_factory=dict)
    #: language -> the typed Ukrainian reading (languages in TYPED only).
    typed: dict[str, str] = field(default_factory=dict)

    @property
    def ko(self) -> str:
        return self.text["ko"]


@dataclass(frozen=True)
class Section:
    id: str
    title: dict[str, str]


@dataclass(frozen=True)
class Phrasebook:
    title: dict[str, str]
    note: dict[str, str]
    #: target -> applicant language -> its name in the target language (for the title).
    language: dict[str, dict[str, str]]
    sections: tuple[Section, ...]
    phrases: tuple[Phrase, ...]

    def in_section(self, section: str) -> tuple[Phrase, ...]:
        return tuple(p for p in self.phrases if p.section == section)

    def problems(self, lang: str) -> list[str]:
        """What keeps ``lang``'s card from being printed: lines or readings missing."""
        out = [f"{lang}: no line for {p.id!r}" for p in self.phrases if not p.text.get(lang)]
        if lang in TYPED:
            out += [
                f"{lang}: no reading for {p.id!r}" for p in self.phrases if not p.typed.get(lang)
            ]
        return out


class PhrasebookError(ValueError):
    """A phrasebook file is malformed."""


def _read(name: str) -> dict[str, object] | None:
    path = resources.files(__package__) / name
    if not path.is_file():
        return None
    return tomllib.loads(path.read_text("utf-8"))


def _strings(raw: object, what: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise PhrasebookError(f'{what}: a table of id = "text"')
    return {k: v.strip() for k, v in raw.items()}


@cache
def load() -> Phrasebook:
    raw = _read("phrases.toml")
    assert raw is not None  # shipped with the package
    sections = tuple(
        Section(s["id"], {k: v for k, v in s.items() if k != "id"})
        for s in raw["section"]  # type: ignore[attr-defined]
    )
    known = {s.id for s in sections}
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for p in raw["phrase"]:  # type: ignore[attr-defined]
        if p["section"] not in known or p["id"] in seen:
            raise PhrasebookError(f"phrase {p['id']!r}: unknown section or duplicate id")
        if not all(p.get(lang, "").strip() for lang in ("ko", *TARGETS)):
            raise PhrasebookError(f"phrase {p['id']!r}: ko, uk and ru are all needed")
        seen.add(p["id"])
        rows.append(p)
    text: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    typed: dict[str, dict[str, str]] = {lang: {} for lang in TYPED}
    for p in rows:
        for lang in ("ko", *TARGETS):
            text[lang][p["id"]] = p[lang].strip()
    for lang in LANGS:
        if lang in ("ko", *TARGETS):
            continue
        own = _read(f"{lang}.toml")
        if own is None:
            continue
        text[lang] = _strings(own.get("phrase"), f"{lang}.toml [phrase]")
        if lang in TYPED:
            typed[lang] = _strings(own.get("reading"), f"{lang}.toml [reading]")
        unknown = (set(text[lang]) | set(typed.get(lang, {}))) - seen
        if unknown:
            raise PhrasebookError(f"{lang}.toml: no phrase {sorted(unknown)[0]!r} in phrases.toml")
    phrases = tuple(
        Phrase(
            p["id"],
            p["section"],
            {t: p[t] for t in TARGETS},
            {lang: lines[p["id"]] for lang, lines in text.items() if lines.get(p["id"])},
            {lang: lines[p["id"]] for lang, lines in typed.items() if lines.get(p["id"])},
        )
        for p in rows
    )
    language = {t: dict(raw["language"][t]) for t in TARGETS}  # type: ignore[index]
    return Phrasebook(dict(raw["title"]), dict(raw["note"]), language, sections, phrases)  # type: ignore[call-overload]
