"""The console's own words, in the operator's language (Ukrainian, English).

A gettext catalog per language, ``locale/<lang>/LC_MESSAGES/console.po``, English message ids
as the source, like the applicants' catalogs (:mod:`haven.content`), which stay for
applicants. The catalog is read with Babel when first needed; there is nothing to compile.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from importlib import resources
from io import BytesIO

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from haven.services.accounts import CONSOLE_LANGS

DOMAIN = "console"
Translate = Callable[..., str]

#: The words shown with a number, by the key templates use: English (one, many).
PLURAL_WORDS: dict[str, tuple[str, str]] = {"cases": ("case", "cases")}


@cache
def _catalog(lang: str) -> Catalog:
    if lang == "en" or lang not in CONSOLE_LANGS:
        return Catalog(locale="en", domain=DOMAIN)
    path = resources.files(__package__) / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


@cache
def _translations(lang: str) -> gettext.NullTranslations:
    catalog = _catalog(lang)
    if lang == "en" or not len(catalog):
        return gettext.NullTranslations()
    mo = BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def catalog(lang: str) -> dict[str, str]:
    """Message id → translation, for the messages without a plural."""
    return {
        str(m.id): str(m.string)
        for m in _catalog(lang)
        if m.id and isinstance(m.id, str) and m.string
    }


def plurals(lang: str) -> dict[str, tuple[str, ...]]:
    """The forms of each word shown with a number, by its template key."""
    out: dict[str, tuple[str, ...]] = {}
    for key, (one, many) in PLURAL_WORDS.items():
        if lang == "en":
            out[key] = (one, many)
            continue
        message = _catalog(lang).get((one, many)) or _catalog(lang).get(one)
        if message is not None and isinstance(message.string, (tuple, list)):
            out[key] = tuple(str(s) for s in message.string)
    return out


def translator(lang: str) -> Translate:
    """``_(message)``, or ``_(key, n)`` for a word shown with the number ``n``."""
    translations = _translations(lang)

    def _(message: str, n: int | None = None) -> str:
        if n is not None and message in PLURAL_WORDS:
            one, many = PLURAL_WORDS[message]
            return translations.ngettext(one, many, n)
        return translations.gettext(message)

    return _
