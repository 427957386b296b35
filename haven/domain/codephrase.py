"""Code phrases: two words from a per-language list, spoken at the front to prove who one is."""

from __future__ import annotations

import secrets
from collections.abc import Sequence


def new_code_phrase(words: Sequence[str]) -> str:
    """Two different random words, separated by a space."""
    if len(set(words)) < 2:
        raise ValueError("a code-phrase word list needs at least two different words")
    first = secrets.choice(words)
    second = secrets.choice(words)
    while second == first:
        second = secrets.choice(words)
    return f"{first} {second}"


def cyrillic(phrase: str, lang: str, target: str = "uk") -> str:
    """The phrase as the receiving unit reads it aloud: Korean is transliterated (Kontsevich);
    Cyrillic languages are already readable; others are shown as written."""
    if lang == "ko":
        from .translit import to_cyrillic

        return to_cyrillic(phrase, target=target)  # type: ignore[arg-type]
    return phrase
