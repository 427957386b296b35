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
    transition,
)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(CaseState, CaseState)))
def test_transition_allows_exactly_the_lifecycle(current: CaseState, target: CaseState) -> None:
    reason = CloseReason.duplicate if target is CaseState.closed else None
    if target in allowed_targets(current):
        move = transition(current.value, target.value, reason)
        assert (move.current, move.target, move.reason) == (current, target, reason)
        assert move.event == TRANSITION_EVENT
    else:
        with pytest.raises(IllegalTransition):
            transition(current, target, reason)


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
