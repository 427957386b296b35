"""``haven content lint``: the catalogs are complete, and the Korean reads as 조선말.

Two kinds of finding:

* catalog problems (missing, empty, fuzzy, placeholder mismatch) from :func:`catalog.check`;
* Korean text that a North Korean reader would notice: a South Korean word of the glossary
  (``glossary.toml``: at least 40 pairs, each with the public source that attests it), or a
  word spelt by the South's initial-sound rule (노동 for 로동, 역사 for 력사, 여자 for 녀자).

A glossary word is flagged where it *starts* a word (after a space, punctuation or the start
of the text), so that particles may follow (탱크가, 북한의) while an unrelated word that merely
contains the letters in its middle is left alone.

Every Korean text the product ships is checked: the ``ko`` catalog (which holds the flow file
texts too), the code-phrase word list and the phrasebook.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from . import catalog, words

_HANGUL = "\uac00-\ud7a3"


@dataclass(frozen=True)
class Entry:
    south: str
    north: str
    kind: str  # glossary | initial-sound
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Glossary:
    entries: tuple[Entry, ...]
    sources: dict[str, str]

    @property
    def pairs(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == "glossary")

    def pattern(self) -> re.Pattern[str]:
        return _pattern(tuple(sorted({e.south for e in self.entries}, key=len, reverse=True)))

    def entry(self, south: str) -> Entry:
        for e in self.entries:
            if e.south == south:
                return e
        raise KeyError(south)


@cache
def _pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(f) for f in forms)
    return re.compile(f"(?<![{_HANGUL}])({alternatives})")


class GlossaryError(ValueError):
    """The glossary file is malformed (a pair without a known source, …)."""


@cache
def load_glossary() -> Glossary:
    raw = tomllib.loads((resources.files(__package__) / "glossary.toml").read_text("utf-8"))
    sources: dict[str, str] = dict(raw.get("sources", {}))
    entries: list[Entry] = []

    def known(names: object, where: str) -> tuple[str, ...]:
        if not isinstance(names, list) or not names:
            raise GlossaryError(f"{where}: no source")
        for name in names:
            if name not in sources:
                raise GlossaryError(f"{where}: unknown source {name!r}")
        return tuple(names)

    for pair in raw.get("pair", []):
        where = f"pair {pair.get('south')!r}"
        entries.append(
            Entry(str(pair["south"]), str(pair["north"]), "glossary", known(pair["source"], where))
        )
    for group in raw.get("initial_sound", []):
        srcs = known(group["source"], "initial_sound")
        for south, north in group["words"]:
            entries.append(Entry(str(south), str(north), "initial-sound", srcs))
    return Glossary(tuple(entries), sources)


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str  # missing | empty | fuzzy | placeholders | glossary | initial-sound | …
    found: str = ""
    suggest: str = ""
    text: str = ""

    def __str__(self) -> str:
        if self.kind in ("glossary", "initial-sound"):
            return (
                f"{self.where}: {self.kind}: {self.found!r} -> write {self.suggest!r} "
                f"in {self.text[:60]!r}"
            )
        return f"{self.where}: {self.kind}: {self.text[:70]!r}"


def check_korean(text: str, where: str = "text", glossary: Glossary | None = None) -> list[Finding]:
    """Glossary and initial-sound findings in one Korean text."""
    g = glossary or load_glossary()
    out = []
    for match in g.pattern().finditer(text):
        e = g.entry(match.group(1))
        out.append(Finding(where, e.kind, e.south, e.north, text))
    return out


def korean_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every Korean text haven ships."""
    ko = catalog.read("ko")
    for message in ko:
        if message.id and message.string:
            yield f"ko catalog {str(message.id)[:40]!r}", str(message.string)
    for word in words("ko"):
        yield "ko code-phrase words", word
    from .phrasebook import load as load_phrasebook  # the phrasebook sits beside this module

    for phrase in load_phrasebook().phrases:
        yield f"phrasebook {phrase.id}", phrase.ko


def lint(extra: Iterable[tuple[str, str]] = ()) -> list[Finding]:
    """Every finding over the shipped catalogs and Korean texts (plus ``extra`` Korean texts)."""
    findings = [Finding(p.lang, p.kind, text=p.msgid) for p in catalog.check()]
    glossary = load_glossary()
    for where, text in [*korean_texts(), *extra]:
        findings += check_korean(text, where, glossary)
    return findings
