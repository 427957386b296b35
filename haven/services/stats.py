"""Aggregate counts for the analysts' statistics page: numbers only, never a case."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from haven.store.db import Store
from haven.store.models import Case


@dataclass(frozen=True)
class CaseCounts:
    #: Cases per (state, language).
    by_state_lang: dict[tuple[str, str], int]
    #: The languages that have cases, sorted.
    langs: list[str]
    #: Cases per channel, sorted by channel.
    by_channel: list[tuple[str, int]]


async def case_counts(*, store: Store) -> CaseCounts:
    """Cases by state and language, and by channel, counted in one transaction."""
    async with store.transaction() as session:
        by_state = (
            await session.execute(
                select(Case.state, Case.lang, func.count(Case.id)).group_by(Case.state, Case.lang)
            )
        ).all()
        by_channel = (
            await session.execute(select(Case.channel, func.count(Case.id)).group_by(Case.channel))
        ).all()
    return CaseCounts(
        by_state_lang={(str(s), str(lang)): int(n) for s, lang, n in by_state},
        langs=sorted({str(lang) for _, lang, _ in by_state}),
        by_channel=sorted((str(c), int(n)) for c, n in by_channel),
    )
