"""What is kept of a text a person typed (an applicant's answer, an operator's reply)."""

from __future__ import annotations

import re
import unicodedata

#: Control characters (but tab and line breaks), zero-width characters and direction marks,
#: and bidirectional embeddings and isolates: invisible, they could make a text read
#: differently on an operator's screen from what was sent.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` without :data:`CONTROL` characters, in NFC (what they separated may then
    compose), stripped of outer white space."""
    return unicodedata.normalize("NFC", CONTROL.sub("", text)).strip()
