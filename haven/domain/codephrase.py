"""Words from per-language lists: the code phrase, two words spoken at the front to prove who
one is, and the web passphrase, several words that open the applicant's replies page."""

from __future__ import annotations

import math
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


def new_passphrase(words: Sequence[str], count: int) -> str:
    """``count`` different random words, separated by spaces (no word twice: a reader who sees
    one word twice wonders whether he misread it)."""
    distinct = sorted(set(words))
    if len(distinct) < count:
        raise ValueError(f"a passphrase of {count} words needs {count} different words")
    return " ".join(secrets.SystemRandom().sample(distinct, count))


def passphrase_bits(list_size: int, count: int) -> float:
    """Entropy of :func:`new_passphrase`: log2 of the number of ordered choices without
    repeats, ``list_size! / (list_size - count)!``."""
    return math.log2(math.perm(list_size, count))
