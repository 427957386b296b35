"""Risk flags: coarse, non-identifying marks that order and warn the queue."""

from __future__ import annotations

from enum import StrEnum


class RiskFlag(StrEnum):
    #: The same channel address submitted again while a case is open.
    repeat_contact = "repeat_contact"
    #: Came in while the intake was over its global rate limit (flood under way).
    during_flood = "during_flood"
    #: This sender was rate limited.
    rate_limited = "rate_limited"
    #: The answers are the same as another recent case's (sealed-content fingerprint).
    duplicate_answers = "duplicate_answers"
    #: Group larger than a unit would plausibly let walk away together.
    large_group = "large_group"
    #: Unknown campaign code in the deep link.
    unknown_campaign = "unknown_campaign"
    #: Marked by an operator.
    operator_suspicion = "operator_suspicion"


LARGE_GROUP = 10


def encode(flags: set[RiskFlag] | frozenset[RiskFlag]) -> str:
    return ",".join(sorted(flag.value for flag in flags))


def decode(text: str | None) -> frozenset[RiskFlag]:
    if not text:
        return frozenset()
    return frozenset(RiskFlag(part) for part in text.split(",") if part in RiskFlag.__members__)


def triage_flags(group_size: int | None) -> set[RiskFlag]:
    """Flags that follow from triage metadata alone."""
    flags: set[RiskFlag] = set()
    if group_size is not None and group_size >= LARGE_GROUP:
        flags.add(RiskFlag.large_group)
    return flags
