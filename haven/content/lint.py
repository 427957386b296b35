"""``haven content lint``: the catalogs are complete, and the Korean reads as 조선말.

Findings:

* catalog problems (missing, empty, fuzzy, placeholder mismatch) from :func:`catalog.check`;
* a South Korean word of the glossary (``glossary.toml``, each pair with the public source that
  attests it): ``glossary`` (an error) or ``advice`` (a word the North also uses);
* a Sino-Korean word spelt by the South's initial-sound rule: the glossary lists the words in
  North Korean spelling (로동, 력사, 녀자) and :func:`south_by_initial_sound` makes the South's
  spelling (노동, 역사, 여자) by the rule (``initial-sound``);
* a spelling pattern the North writes differently (되었 -> 되였; 할 수 -> 할수) (``spelling``).

A word is flagged where it *starts* a word (after a space, punctuation or the start of the
text), so that particles may follow (탱크가, 북한의) while an unrelated word that merely
contains the letters in its middle is left alone.

Every Korean text the product ships is checked: the ``ko`` catalog (which holds the flow file
texts too), the code-phrase and passphrase word lists and the phrasebook. A translator's own
``.po`` or text files can be checked too (:func:`lint_files`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from . import catalog, passphrase_words, words

_HANGUL = "\uac00-\ud7a3"
_S_BASE, _V_COUNT, _T_COUNT = 0xAC00, 21, 28
_FINALS: tuple[str, ...] = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")
_INITIAL_R, _INITIAL_N, _INITIAL_NONE, _INITIAL_N_INDEX = 5, 2, 11, 2
#: Medial vowels before which an initial ㄹ or ㄴ is dropped by the South's rule: ㅑ ㅕ ㅖ ㅛ ㅠ ㅣ.
_Y_VOWELS = frozenset((2, 6, 7, 12, 17, 20))

#: Finding kinds that make ``haven content lint`` fail (``advice`` is shown, never fatal).
ERRORS = frozenset(
    (
        "missing",
        "empty",
        "fuzzy",
        "placeholders",
        "plural-forms",
        "script",
        "untranslated",
        "english",
        "review-header",
        "word-list",
        "glossary",
        "initial-sound",
        "spelling",
    )
)


def south_by_initial_sound(word: str) -> str | None:
    """The word as the South's initial-sound rule (두음법칙) spells it, or None if the rule
    does not touch it: initial ㄹ becomes ㅇ before ㅑ ㅕ ㅖ ㅛ ㅠ ㅣ and ㄴ before other vowels;
    initial ㄴ becomes ㅇ before ㅑ ㅕ ㅖ ㅛ ㅠ ㅣ (력사 -> 역사, 로동 -> 노동, 녀자 -> 여자)."""
    if not word or not "\uac00" <= word[0] <= "\ud7a3":
        return None
    index = ord(word[0]) - _S_BASE
    initial, rest = divmod(index, _V_COUNT * _T_COUNT)
    medial = rest // _T_COUNT
    if initial == _INITIAL_R:
        new = _INITIAL_NONE if medial in _Y_VOWELS else _INITIAL_N_INDEX
    elif initial == _INITIAL_N and medial in _Y_VOWELS:
        new = _INITIAL_NONE
    else:
        return None
    return chr(ord(word[0]) + (new - initial) * _V_COUNT * _T_COUNT) + word[1:]


def final_of(syllable: str) -> str:
    """The final consonant (받침) of a Hangul syllable, "" if none or not a syllable."""
    if not "\uac00" <= syllable <= "\ud7a3":
        return ""
    return _FINALS[(ord(syllable) - _S_BASE) % _T_COUNT]


@dataclass(frozen=True)
class Entry:
    south: str
    north: str
    kind: str  # glossary | advice | initial-sound
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Pattern:
    """A spelling rule: ``regex`` finds the South's form; ``north`` (a replacement template)
    gives the North's; ``final`` requires the first group to end in one of these finals."""

    name: str
    regex: re.Pattern[str]
    north: str
    final: frozenset[str]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Glossary:
    entries: tuple[Entry, ...]
    patterns: tuple[Pattern, ...]
    sources: dict[str, str]

    @property
    def pairs(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind in ("glossary", "advice"))

    def pattern(self) -> re.Pattern[str]:
        return _pattern(tuple(sorted({e.south for e in self.entries}, key=len, reverse=True)))

    def entry(self, south: str) -> Entry:
        return next(e for e in self.entries if e.south == south)


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
        level = pair.get("level", "error")
        if level not in ("error", "advice"):
            raise GlossaryError(f"{where}: level is error or advice")
        kind = "advice" if level == "advice" else "glossary"
        entries.append(
            Entry(str(pair["south"]), str(pair["north"]), kind, known(pair["source"], where))
        )
    for group in raw.get("initial_sound", []):
        srcs = known(group["source"], "initial_sound")
        for north in group["north"]:
            south = south_by_initial_sound(north)
            if south is None:
                raise GlossaryError(f"initial_sound {north!r}: the rule does not change it")
            entries.append(Entry(south, str(north), "initial-sound", srcs))
    patterns = []
    for p in raw.get("pattern", []):
        where = f"pattern {p.get('name')!r}"
        patterns.append(
            Pattern(
                str(p["name"]),
                re.compile(str(p["regex"])),
                str(p["north"]),
                frozenset(p.get("final", ())),
                known(p["source"], where),
            )
        )
    return Glossary(tuple(entries), tuple(patterns), sources)


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str  # missing | empty | fuzzy | placeholders | glossary | advice | initial-sound | …
    found: str = ""
    suggest: str = ""
    text: str = ""
    source: str = ""

    @property
    def error(self) -> bool:
        return self.kind in ERRORS

    def __str__(self) -> str:
        if self.found:
            said = f" [{self.source}]" if self.source else ""
            return (
                f"{self.where}: {self.kind}: {self.found!r} -> write {self.suggest!r}"
                f"{said} in {self.text[:60]!r}"
            )
        return f"{self.where}: {self.kind}: {self.text[:70]!r}"


def check_korean(text: str, where: str = "text", glossary: Glossary | None = None) -> list[Finding]:
    """Glossary, initial-sound and spelling findings in one Korean text."""
    g = glossary or load_glossary()
    out = []
    for match in g.pattern().finditer(text):
        e = g.entry(match.group(1))
        out.append(Finding(where, e.kind, e.south, e.north, text, ", ".join(e.sources)))
    for rule in g.patterns:
        for match in rule.regex.finditer(text):
            if rule.final and final_of(match.group(1)[-1:]) not in rule.final:
                continue
            out.append(
                Finding(
                    where,
                    "spelling",
                    match.group(0),
                    match.expand(rule.north),
                    text,
                    f"{rule.name}: {', '.join(rule.sources)}",
                )
            )
    return out


def korean_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every Korean text haven ships."""
    ko = catalog.read("ko")
    for message in ko:
        if message.id and message.string:
            for string in _strings(message.string):
                yield f"ko catalog {catalog.key(message.id)[:40]!r}", string
    for word in words("ko"):
        yield "ko code-phrase words", word
    for word in passphrase_words("ko"):
        yield "ko passphrase words", word
    from .phrasebook import load as load_phrasebook  # the phrasebook sits beside this module

    for phrase in load_phrasebook().phrases:
        yield f"phrasebook {phrase.id}", phrase.ko


def _strings(string: object) -> list[str]:
    if isinstance(string, (tuple, list)):
        return [str(s) for s in string if s]
    return [str(string)] if string else []


def file_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) of a translator's own file: each translation of a ``.po`` file (named by
    its message), or each line of any other text file (named by its line number)."""
    if path.suffix == ".po":
        from babel.messages.pofile import read_po

        with path.open("rb") as fh:
            po = read_po(fh)
        for message in po:
            if message.id:
                for string in _strings(message.string):
                    yield f"{path}: msgid {catalog.key(message.id)[:50]!r}", string
        return
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if line.strip():
            yield f"{path}:{number}", line


def lint(extra: Iterable[tuple[str, str]] = ()) -> list[Finding]:
    """Every finding over the shipped catalogs and Korean texts (plus ``extra`` Korean texts)."""
    findings = [
        Finding(p.lang, p.kind, text=f"{p.msgid} ({p.detail})" if p.detail else p.msgid)
        for p in catalog.check()
    ]
    glossary = load_glossary()
    for where, text in [*korean_texts(), *extra]:
        findings += check_korean(text, where, glossary)
    return findings


def lint_files(paths: Iterable[Path]) -> list[Finding]:
    """Every finding in the Korean of the given ``.po`` or text files."""
    glossary = load_glossary()
    findings: list[Finding] = []
    for path in paths:
        for where, text in file_texts(path):
            findings += check_korean(text, where, glossary)
    return findings
