"""Case references: readable, typo-detecting, round-tripping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.domain import reference


def test_reference_format_and_round_trip() -> None:
    for _ in range(500):
        ref = reference.new_reference()
        assert len(ref) == 11 and ref[4] == "-" and ref[9] == "-"
        assert ref[10] in reference.ALPHABET  # never a symbol hard to say aloud
        assert reference.normalize(ref) == ref
        assert reference.normalize(ref.lower().replace("-", " ")) == ref


def test_reference_reads_like_crockford() -> None:
    ref = "0I1L-0000-" + reference.check_symbol("01110000")
    assert reference.normalize(ref.replace("0", "o")) == reference.format_reference(
        "01110000" + reference.check_symbol("01110000")
    )


@given(st.integers(min_value=0, max_value=2**40 - 1), st.data())
def test_reference_detects_single_typos_and_swaps(value: int, data: st.DataObject) -> None:
    body = "".join(reference.ALPHABET[(value >> (5 * i)) & 31] for i in range(7, -1, -1))
    compact = body + reference.check_symbol(body)
    pos = data.draw(st.integers(0, 8))
    alphabet = reference.ALPHABET if pos < 8 else reference.CHECK_ALPHABET
    wrong = data.draw(st.sampled_from([c for c in alphabet if c != compact[pos]]))
    typo = compact[:pos] + wrong + compact[pos + 1 :]
    assert not reference.is_valid(typo)
    swap = data.draw(st.integers(0, 7))
    swapped = compact[:swap] + compact[swap + 1] + compact[swap] + compact[swap + 2 :]
    if swapped != compact:
        assert not reference.is_valid(swapped)


@pytest.mark.parametrize("bad", ["", "ABCD", "ABCD-EFGH-JK", "ABCD-EFGH-!", "ÄBCD-EFGH-J"])
def test_bad_references(bad: str) -> None:
    with pytest.raises(reference.BadReference):
        reference.normalize(bad)
