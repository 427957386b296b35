"""Shared steps of the security tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from haven.services.accounts import Viewer
from haven.services.handoff import Handoffs, Issued
from haven.store.models import utcnow
from tests.conftest import Env


async def issue_handoff(
    env: Env,
    coordinator: Viewer,
    reference: str,
    *,
    sector: str = "North",
    meeting_point: str = "Grid 7",
    signal: str = "two torches",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Issued:
    start = start or utcnow() + timedelta(hours=3)
    return await Handoffs(env.store, env.keys).issue(
        coordinator,
        reference,
        sector=sector,
        meeting_point=meeting_point,
        window_start=start,
        window_end=end or start + timedelta(hours=1),
        signal=signal,
        sender=None,
        keyring=env.keyring(),
    )
