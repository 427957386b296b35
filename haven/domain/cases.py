"""The case lifecycle (DESIGN.md): states, close reasons and the allowed transitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class CaseState(StrEnum):
    draft = "draft"
    submitted = "submitted"
    in_contact = "in_contact"
    verified = "verified"
    scheduled = "scheduled"
    arrived = "arrived"
    closed = "closed"


class CloseReason(StrEnum):
    withdrawn = "withdrawn"
    unreachable = "unreachable"
    duplicate = "duplicate"
    fake = "fake"
    erased = "erased"


class Channel(StrEnum):
    telegram = "telegram"
    web = "web"
    phone = "phone"
    cli = "cli"
    #: Someone who reached our soldiers with no contact before (recorded at the front).
    walk_in = "walk_in"


#: The primary bot's channel, and the prefix of a mirror bot's (``tg:<bot id>``).
PRIMARY_BOT = Channel.telegram.value
MIRROR_PREFIX = "tg:"


def medium(channel: str) -> str:
    """What a channel is, whichever bot: ``telegram`` for the primary and every mirror
    (``tg:<bot id>``), any other channel as it is. Routing uses the channel itself."""
    if channel.startswith(MIRROR_PREFIX):
        return PRIMARY_BOT
    return channel


class IllegalTransition(ValueError):
    """A transition the lifecycle does not allow."""

    def __init__(self, current: CaseState, target: CaseState) -> None:
        super().__init__(f"a case cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


#: Forward steps of the lifecycle. ``scheduled -> verified`` is the no-show: the hand-off
#: did not happen and the case goes back to be planned again.
FORWARD: dict[CaseState, frozenset[CaseState]] = {
    CaseState.draft: frozenset({CaseState.submitted}),
    CaseState.submitted: frozenset({CaseState.in_contact}),
    CaseState.in_contact: frozenset({CaseState.verified}),
    CaseState.verified: frozenset({CaseState.scheduled}),
    CaseState.scheduled: frozenset({CaseState.arrived, CaseState.verified}),
    CaseState.arrived: frozenset(),
    CaseState.closed: frozenset(),
}

OPEN_STATES: frozenset[CaseState] = frozenset(
    {
        CaseState.draft,
        CaseState.submitted,
        CaseState.in_contact,
        CaseState.verified,
        CaseState.scheduled,
    }
)


def allowed_targets(current: CaseState) -> frozenset[CaseState]:
    """Every state a case in ``current`` may move to; any open state may also be closed."""
    targets = set(FORWARD[current])
    if current in OPEN_STATES:
        targets.add(CaseState.closed)
    return frozenset(targets)


def check_transition(
    current: CaseState, target: CaseState, reason: CloseReason | None = None
) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is allowed.

    Closing needs a reason; no other transition takes one.
    """
    if target not in allowed_targets(current):
        raise IllegalTransition(current, target)
    if target is CaseState.closed and reason is None:
        raise ValueError("closing a case needs a reason")
    if target is not CaseState.closed and reason is not None:
        raise ValueError("only closing takes a reason")


#: The ``origin`` of a walk-in's one transition: someone who reached our soldiers with no
#: contact before is recorded as a new case, from ``draft`` straight to ``arrived``. No other
#: transition may skip the lifecycle.
WALK_IN = "walk_in"

#: The audit action every change of a case's state is recorded under.
TRANSITION_EVENT = "case.transition"


@dataclass(frozen=True, slots=True)
class Transition:
    """A checked change of state, and the audit event that records it."""

    current: CaseState
    target: CaseState
    reason: CloseReason | None = None
    #: What else the audit event notes (a hand-off id, the channel, what triggered it).
    context: Mapping[str, object] = field(default_factory=dict)

    @property
    def event(self) -> str:
        return TRANSITION_EVENT

    @property
    def detail(self) -> dict[str, object]:
        """The audit event's detail: from, to, the close reason if any, and the context."""
        out: dict[str, object] = {"from": self.current.value, "to": self.target.value}
        out.update(self.context)
        if self.reason is not None:
            out["reason"] = self.reason.value
        return out


def transition(
    current: CaseState | str,
    target: CaseState | str,
    reason: CloseReason | str | None = None,
    **context: object,
) -> Transition:
    """Check ``current -> target`` (:func:`check_transition`) and return the transition with
    its audit event; raises :class:`IllegalTransition` or ``ValueError`` when not allowed.

    ``origin=WALK_IN`` in the context is the walk-in's ``draft -> arrived`` and nothing else."""
    move = Transition(
        CaseState(current),
        CaseState(target),
        CloseReason(reason) if reason is not None else None,
        context,
    )
    if context.get("origin") == WALK_IN:
        if (move.current, move.target, move.reason) != (CaseState.draft, CaseState.arrived, None):
            raise IllegalTransition(move.current, move.target)
        return move
    check_transition(move.current, move.target, move.reason)
    return move
