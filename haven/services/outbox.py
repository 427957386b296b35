"""What the operators ask of the outbox: how many messages are in each state."""

from __future__ import annotations

from sqlalchemy import func, select

from haven.outbox import DROPPED, FAILED, PENDING, SENDING, SENT
from haven.store.db import Store
from haven.store.models import OutboxMessage

#: Every state of an outbox message, in the order of its life.
STATES = (PENDING, SENDING, SENT, FAILED, DROPPED)


async def count_by_state(*, store: Store) -> dict[str, int]:
    """How many outbox messages are in each state, every state named (0 when none)."""
    async with store.transaction() as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        )
        counts = {state: int(n) for state, n in rows.all()}
    return {state: counts.get(state, 0) for state in STATES}
