"""One reading, two spellings: every rule of :mod:`haven.domain.translit` writes Russian
Cyrillic, re-spelled letter by letter for Ukrainian readers (the Ukrainian form of the
Kontsevich system: ы и, и і, э е, е є and ё йо/ьо by position, ъ the apostrophe), and a typed
Ukrainian reading is re-spelled for Russian readers the other way."""

from __future__ import annotations

from typing import Final, Literal

Target = Literal["ru", "uk"]

_RU_VOWEL_LETTERS: Final = frozenset("аеёиоуыэюя")
_UK_SIMPLE: Final[dict[str, str]] = {"ы": "и", "и": "і", "э": "е", "ъ": "’"}


def ru_to_uk(word: str) -> str:
    """Re-spell a Russian-Kontsevich word for Ukrainian readers (see the module docstring)."""
    out: list[str] = []
    previous = ""
    skip_next = False
    for index, char in enumerate(word):
        low = char.lower()
        if skip_next:
            skip_next = False
            previous = low
            continue
        iotating = previous == "" or previous in _RU_VOWEL_LETTERS or previous in "ъь"
        iotating = iotating or not previous.isalpha()
        if low == "й" and word[index + 1 : index + 2].lower() == "е" and iotating:
            replacement = "є"
            skip_next = True
        elif low == "е":
            replacement = "є" if iotating else "е"
        elif low == "ё":
            replacement = "йо" if iotating else "ьо"
        else:
            replacement = _UK_SIMPLE.get(low, low)
        if char != low:
            replacement = replacement[:1].upper() + replacement[1:]
        out.append(replacement)
        previous = low
    return "".join(out)


def uk_to_ru(text: str) -> str:
    """A Ukrainian reading re-spelled for Russian readers: і и, и ы, ї йи, є е, ґ г, ’ ъ, ьо ё,
    е э at the start of a word or after a vowel."""
    out: list[str] = []
    for n, char in enumerate(text):
        low = char.lower()
        previous = text[n - 1].lower() if n else ""
        if low == "е" and (not previous.isalpha() or previous in "аеиіоуяюєї"):
            rep = "э"
        elif low == "о" and previous == "ь" and out:
            out[-1] = out[-1][:-1]
            rep = "ё"
        else:
            rep = {"і": "и", "и": "ы", "ї": "йи", "є": "е", "ґ": "г", "’": "ъ", "'": "ъ"}.get(
                low, low
            )
        out.append(rep[:1].upper() + rep[1:] if char != low else rep)
    return "".join(out)
