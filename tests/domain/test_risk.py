"""Risk flags of a case."""

from __future__ import annotations

from haven.domain import risk


def test_risk_flags_round_trip() -> None:
    flags = {risk.RiskFlag.large_group, risk.RiskFlag.during_flood}
    assert risk.decode(risk.encode(flags)) == flags
    assert risk.decode("large_group,not_a_flag") == {risk.RiskFlag.large_group}
    assert risk.triage_flags(12) == {risk.RiskFlag.large_group}
    assert risk.triage_flags(2) == set()
