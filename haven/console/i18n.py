"""The console's own words, in the operator's language (Ukrainian, English).

English strings are the source; ``locale/<lang>.toml`` maps them to a language. These are
operator-facing texts: the applicant catalogs (:mod:`haven.content`) stay for applicants.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import cache
from importlib import resources

from haven.services.accounts import CONSOLE_LANGS

Translate = Callable[..., str]

#: English forms of the words shown with a number: (one, many).
_ENGLISH_PLURALS: dict[str, tuple[str, ...]] = {"cases": ("case", "cases")}


def _plural_index(lang: str, n: int) -> int:
    """Which plural form fits ``n`` (Ukrainian: one / few / many, as gettext's rule)."""
    if lang == "uk":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        return 1 if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else 2
    return 0 if n == 1 else 1


@cache
def _data(lang: str) -> dict[str, object]:
    if lang == "en" or lang not in CONSOLE_LANGS:
        return {}
    text = (resources.files(__package__) / "locale" / f"{lang}.toml").read_text("utf-8")
    return tomllib.loads(text)


def catalog(lang: str) -> dict[str, str]:
    messages = _data(lang).get("messages", {})
    return {str(k): str(v) for k, v in messages.items()}  # type: ignore[union-attr]


def plurals(lang: str) -> dict[str, tuple[str, ...]]:
    """The forms of the words shown with a number (``[plurals]`` of the language file)."""
    if lang == "en":
        return _ENGLISH_PLURALS
    table = _data(lang).get("plurals", {})
    return {str(k): tuple(map(str, v)) for k, v in table.items()}  # type: ignore[union-attr]


def translator(lang: str) -> Translate:
    """``_(message)``, or ``_(message, n)`` for a word shown with the number ``n``."""
    table = catalog(lang)
    forms = plurals(lang)

    def _(message: str, n: int | None = None) -> str:
        if n is not None and message in forms:
            options = forms[message]
            return options[min(_plural_index(lang, n), len(options) - 1)]
        return table.get(message, message)

    return _
