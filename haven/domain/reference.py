"""Case references an applicant can read aloud over a bad phone line.

Eight Crockford base32 characters (40 random bits) and Crockford's mod-37 check symbol,
shown as ``XXXX-XXXX-C``. References are only issued when the check symbol is itself one of
the 32 ordinary characters, so nobody ever has to say ``*``, ``~``, ``$`` or ``=`` aloud; the
check still detects every single-character typo and every swap of two neighbours.
Reading is forgiving the Crockford way: case-insensitive, ``O`` is ``0``, ``I`` and ``L``
are ``1``, hyphens and spaces are ignored.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ALPHABET = ALPHABET + "*~$=U"
BODY_LEN = 8
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


class BadReference(ValueError):
    """Not a valid case reference (wrong length, characters or check symbol)."""


def _value(body: str) -> int:
    value = 0
    for char in body:
        value = value * 32 + ALPHABET.index(char)
    return value


def check_symbol(body: str) -> str:
    return CHECK_ALPHABET[_value(body) % 37]


def new_reference() -> str:
    """A fresh random reference, formatted ``XXXX-XXXX-C``."""
    while True:
        body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LEN))
        check = check_symbol(body)
        if check in ALPHABET:
            return format_reference(body + check)


def format_reference(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:8]}-{compact[8:]}"


def normalize(text: str) -> str:
    """Read a reference as a person typed or said it; raise :class:`BadReference` if wrong."""
    compact = "".join(text.split()).replace("-", "").upper().translate(_ALIASES)
    if len(compact) != BODY_LEN + 1:
        raise BadReference("a case reference has 9 characters")
    body, check = compact[:BODY_LEN], compact[BODY_LEN:]
    if any(c not in ALPHABET for c in body) or check not in CHECK_ALPHABET:
        raise BadReference("a case reference has only the letters and digits of its alphabet")
    if check_symbol(body) != check:
        raise BadReference("the check character does not match: a character is mistyped")
    return format_reference(compact)


def is_valid(text: str) -> bool:
    try:
        normalize(text)
    except BadReference:
        return False
    return True
