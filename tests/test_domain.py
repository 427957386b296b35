from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.domain import codephrase, reference, risk
from haven.domain.cases import (
    CaseState,
    CloseReason,
    IllegalTransition,
    allowed_targets,
    check_transition,
)

S = CaseState
ALLOWED = {
    (S.draft, S.submitted),
    (S.submitted, S.in_contact),
    (S.in_contact, S.verified),
    (S.verified, S.scheduled),
    (S.scheduled, S.arrived),
    (S.scheduled, S.verified),
    *((s, S.closed) for s in (S.draft, S.submitted, S.in_contact, S.verified, S.scheduled)),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(CaseState, CaseState)))
def test_every_transition_pair(current: CaseState, target: CaseState) -> None:
    reason = CloseReason.withdrawn if target is S.closed else None
    if (current, target) in ALLOWED:
        check_transition(current, target, reason)
        assert target in allowed_targets(current)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target, reason)
        assert target not in allowed_targets(current)


def test_closing_needs_a_reason_and_only_closing_takes_one() -> None:
    with pytest.raises(ValueError, match="reason"):
        check_transition(S.submitted, S.closed)
    with pytest.raises(ValueError, match="only closing"):
        check_transition(S.submitted, S.in_contact, CloseReason.fake)


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


def test_code_phrase_is_two_different_words() -> None:
    words = ["사과", "바다", "구름"]
    for _ in range(100):
        first, second = codephrase.new_code_phrase(words).split(" ")
        assert first != second and {first, second} <= set(words)
    with pytest.raises(ValueError):
        codephrase.new_code_phrase(["하나"])


def test_code_phrase_cyrillic_for_the_receiving_unit() -> None:
    assert codephrase.cyrillic("소나무 제비", "ko", target="ru") == "сонаму чеби"
    assert codephrase.cyrillic("сосна ласточка", "ru") == "сосна ласточка"


def test_risk_flags_round_trip() -> None:
    flags = {risk.RiskFlag.large_group, risk.RiskFlag.during_flood}
    assert risk.decode(risk.encode(flags)) == flags
    assert risk.decode("large_group,not_a_flag") == {risk.RiskFlag.large_group}
    assert risk.triage_flags(12) == {risk.RiskFlag.large_group}
    assert risk.triage_flags(2) == set()
