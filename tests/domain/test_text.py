"""One rule for what is kept of typed text, for applicants and operators alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.domain.text import CONTROL, clean
from haven.flows import Mode, State, default_engine
from haven.flows.inputs import Text
from haven.services.cases import BadText, clean_text

INVISIBLE = "\x00\x07\x1b\x7f\u200b\u200d\u200e\u200f\u202a\u202e\u2066\u2069"


def applicant_message(text: str) -> str:
    """What the flow passes on of a message an applicant writes after submitting."""
    engine = default_engine()
    state = State(engine.flow.id, engine.flow.version, lang="ru", mode=Mode.submitted)
    out = engine.step(state, Text(text))
    assert isinstance(out.message, Text)
    return out.message.text


def test_the_same_characters_go_for_applicants_and_operators() -> None:
    typed = f"  Ку{INVISIBLE}рск\tлес\r\nвечером  "
    assert clean(typed) == "Курск\tлес\r\nвечером"
    assert applicant_message(typed) == clean_text(typed) == clean(typed)
    assert clean("e\u0301") == clean("e\u200b\u0301") == "\u00e9"  # NFC
    with pytest.raises(BadText):
        clean_text(INVISIBLE)


@given(st.text(max_size=60))
def test_nothing_invisible_is_left(text: str) -> None:
    kept = clean(text)
    assert not CONTROL.search(kept) and kept == kept.strip() and clean(kept) == kept
