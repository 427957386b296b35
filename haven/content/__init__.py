"""The words: gettext catalogs per language, word lists, and the fixed texts every channel repeats.

Catalogs live in ``locale/<lang>/LC_MESSAGES/haven.po``; the ``.mo`` files are compiled at
install (``setup.py``) and, for a source checkout, by ``haven content compile``.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

LANGS: tuple[str, ...] = ("ko", "ru", "uk", "en", "es", "fr", "ar", "hi", "ne", "uz", "tg", "zh")
DOMAIN = "haven"

#: Each language named in itself, for the language choice.
LANGUAGE_NAMES: dict[str, str] = {
    "ko": "조선말",
    "ru": "Русский",
    "uk": "Українська",
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "ar": "العربية",
    "hi": "हिन्दी",
    "ne": "नेपाली",
    "uz": "Oʻzbekcha",
    "tg": "Тоҷикӣ",
    "zh": "中文",
}

#: Languages written right to left: their pages are ``dir="rtl"``.
RTL: frozenset[str] = frozenset({"ar"})

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


#: Language tags that name another script or variety than the one we write: asked, not guessed.
_OTHER_VARIETY = frozenset({"zh-hant", "zh-tw", "zh-hk", "zh-mo", "uz-cyrl"})


def language_for(tag: str | None) -> str | None:
    """The language of ours a tag names (Telegram's ``language_code``, an ``Accept-Language``
    entry): ``zh-hans`` -> ``zh``, ``ko-KP`` -> ``ko``, ``pt`` -> ``None``. A tag for a
    script we do not write (``zh-Hant``, ``uz-Cyrl``) is ``None`` too: the applicant chooses."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-").lower()[:35]
    primary = tag.split("-", 1)[0]
    if primary not in LANGS:
        return None
    if any(tag == other or tag.startswith(other + "-") for other in _OTHER_VARIETY):
        return None
    return primary


def direction(lang: str | None) -> str:
    """``rtl`` or ``ltr``: the direction a language is written in."""
    return "rtl" if lang in RTL else "ltr"


def locale_dir() -> Path:
    return Path(str(resources.files(__package__) / "locale"))


class MissingCatalog(RuntimeError):
    """A language's compiled catalog is missing: run ``haven content compile``."""


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    if lang not in LANGS:
        raise KeyError(lang)
    try:
        return gettext.translation(DOMAIN, localedir=locale_dir(), languages=[lang])
    except FileNotFoundError:
        raise MissingCatalog(
            f"no compiled catalog for {lang!r}: run `haven content compile`"
        ) from None


def gettext_for(lang: str) -> Gettext:
    """The ``_`` of a language (English source strings pass through)."""
    return translations(lang).gettext


def in_every_language(message: str, translate: Callable[[str, str], str] | None = None) -> str:
    """``message`` in every language of :data:`LANGS`, for someone whose language is not known
    yet: each distinct text once, in that order, a blank line between them. ``translate``
    (language, message) defaults to the catalogs."""
    texts: list[str] = []
    for lang in LANGS:
        text = translate(lang, message) if translate else gettext_for(lang)(message)
        if text not in texts:
            texts.append(text)
    return "\n\n".join(texts)


class MissingWordList(MissingCatalog):
    """A language has no word list of a kind: never replaced by another language's list, so
    that a code phrase or passphrase is always in the applicant's own language."""


def _word_list(folder: str, lang: str) -> list[str]:
    """The words of ``folder/<lang>.txt``: one a line, ``#`` comments and blank lines skipped;
    a line ``word<TAB>reading`` (the Cyrillic reading aid some lists carry) gives its word."""
    if lang not in LANGS:
        raise KeyError(lang)
    path = resources.files(__package__) / folder / f"{lang}.txt"
    if not path.is_file():
        raise MissingWordList(f"no {folder} word list for {lang!r}")
    out = [line.split("\t", 1)[0].strip() for line in path.read_text("utf-8").splitlines()]
    return [w for w in out if w and not w.startswith("#")]


def ngettext_for(lang: str) -> Ngettext:
    """The ``ngettext`` of a language: the form of a message that fits the number."""
    return translations(lang).ngettext


def words(lang: str) -> list[str]:
    """The code-phrase word list of a language: one word a line, ``#`` comments skipped."""
    return _word_list("words", lang)


def word_readings(lang: str) -> dict[str, str]:
    """The readings typed in a language's code-phrase list (``word<TAB>reading``), by word."""
    text = (resources.files(__package__) / "words" / f"{lang}.txt").read_text("utf-8")
    pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    return {w.strip(): r.strip() for w, r in pairs if w.strip() and not w.startswith("#")}


def passphrase_words(lang: str) -> list[str]:
    """The web passphrase word list of a language: a list of its own, which shares no word
    with the code-phrase list (a passphrase must never be taken for a code phrase)."""
    return _word_list("passphrase", lang)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with plural forms (translated later with ``ngettext``)."""
    return (singular, plural)
