"""Reading aids with their data: :func:`haven.domain.translit.reading` given the readings the
content writers typed (code-phrase word lists and phrasebooks) for the languages that need them.
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import Literal

from haven.domain.translit import TYPED, NoReading, reading

from . import word_readings

Target = Literal["ru", "uk"]


@cache
def _typed_words(lang: str) -> MappingProxyType[str, str]:
    return MappingProxyType(word_readings(lang) if lang in TYPED else {})


def code_phrase_reading(lang: str, phrase: str, target: Target = "uk") -> str:
    """The code phrase as the receiving unit reads it aloud, word by word. A word with no
    typed reading (a list changed since the phrase was made) is shown as written."""
    typed = _typed_words(lang)
    out = []
    for word in phrase.split():
        try:
            out.append(reading(lang, word, target=target, typed=typed))
        except NoReading:
            out.append(word)
    return " ".join(out)
