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

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


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


def _word_list(folder: str, lang: str) -> list[str]:
    text = (resources.files(__package__) / folder / f"{lang}.txt").read_text("utf-8")
    out = [line.strip() for line in text.splitlines()]
    return [w for w in out if w and not w.startswith("#")]


def ngettext_for(lang: str) -> Ngettext:
    """The ``ngettext`` of a language: the form of a message that fits the number."""
    return translations(lang).ngettext


def words(lang: str) -> list[str]:
    """The code-phrase word list of a language: one word a line, ``#`` comments skipped."""
    return _word_list("words", lang)


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
