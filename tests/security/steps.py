"""Shared steps of the security tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from haven.services.accounts import Viewer
from haven.services.cases import Sender
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
    sender: Sender | None = None,
    handoffs: Handoffs | None = None,
) -> Issued:
    """A hand-off issued by ``coordinator`` (through ``handoffs``, by default a fresh one),
    sent through ``sender`` if given, else left for the coordinator to phone."""
    start = start or utcnow() + timedelta(hours=3)
    handoffs = handoffs or Handoffs(env.store, env.keys)
    return await handoffs.issue(
        coordinator,
        reference,
        sector=sector,
        meeting_point=meeting_point,
        window_start=start,
        window_end=end or start + timedelta(hours=1),
        signal=signal,
        sender=sender,
        keyring=env.keyring(),
    )
