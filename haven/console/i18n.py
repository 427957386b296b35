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

Translate = Callable[[str], str]


@cache
def catalog(lang: str) -> dict[str, str]:
    if lang == "en" or lang not in CONSOLE_LANGS:
        return {}
    text = (resources.files(__package__) / "locale" / f"{lang}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return {str(k): str(v) for k, v in data.get("messages", {}).items()}


def translator(lang: str) -> Translate:
    table = catalog(lang)

    def _(message: str) -> str:
        return table.get(message, message)

    return _
