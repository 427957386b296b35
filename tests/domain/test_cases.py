"""The lifecycle's one transition operation: checked, and carrying its audit event."""

from __future__ import annotations

import itertools

import pytest

from haven.domain.cases import (
    TRANSITION_EVENT,
    CaseState,
    CloseReason,
    IllegalTransition,
    allowed_targets,
    check_transition,
    transition,
)


def test_the_event_says_from_to_reason_and_context() -> None:
    move = transition("scheduled", CaseState.verified, handoff=7)
    assert move.detail == {"from": "scheduled", "to": "verified", "handoff": 7}
    closed = transition(CaseState.submitted, "closed", "erased", channel="web")
    assert closed.event == "case.transition"
    assert closed.detail == {
        "from": "submitted",
        "to": "closed",
        "reason": "erased",
        "channel": "web",
    }
    with pytest.raises(ValueError, match="reason"):
        transition(CaseState.submitted, CaseState.closed)
    with pytest.raises(ValueError, match="only closing"):
        transition(CaseState.submitted, CaseState.in_contact, CloseReason.fake)
    with pytest.raises(ValueError):
        transition("submitted", "lost")  # not a state


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
        move = transition(current.value, target.value, reason)
        assert (move.current, move.target, move.reason) == (current, target, reason)
        assert move.event == TRANSITION_EVENT
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target, reason)
        with pytest.raises(IllegalTransition):
            transition(current, target, reason)
        assert target not in allowed_targets(current)


def test_closing_needs_a_reason_and_only_closing_takes_one() -> None:
    with pytest.raises(ValueError, match="reason"):
        check_transition(S.submitted, S.closed)
    with pytest.raises(ValueError, match="only closing"):
        check_transition(S.submitted, S.in_contact, CloseReason.fake)
