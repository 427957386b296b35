"""What operators (and the CLI) do with cases. Every read of case content is audited."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from haven.crypto import CaseKeyring
from haven.domain import risk
from haven.domain.reference import normalize
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Case, Message


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class MessageView:
    direction: str
    kind: str
    at: datetime
    content: dict[str, Any]


@dataclass(frozen=True)
class CaseView:
    id: int
    reference: str
    state: str
    close_reason: str | None
    lang: str
    channel: str
    campaign: str | None
    group_size: int | None
    wounded: bool | None
    flags: frozenset[risk.RiskFlag]
    created_at: datetime
    submitted_at: datetime | None
    answers: dict[str, Any] | None
    code_phrase: str | None
    messages: list[MessageView] = field(default_factory=list)


class Cases:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def read(self, reference: str, keyring: CaseKeyring, actor: str) -> CaseView:
        """Decrypt a case for ``actor``; the read is an audit event in the same transaction."""
        ref = normalize(reference)
        async with self.store.transaction() as session:
            case = await session.scalar(select(Case).where(Case.reference == ref))
            if case is None:
                raise CaseNotFound(ref)
            messages = (
                await session.scalars(
                    select(Message).where(Message.case_id == case.id).order_by(Message.id)
                )
            ).all()
            answers = keyring.open_json(case.answers) if case.answers else None
            phrase = keyring.open(case.code_phrase).decode() if case.code_phrase else None
            views = [
                MessageView(m.direction, m.kind, m.created_at, json.loads(keyring.open(m.body)))
                for m in messages
            ]
            await audit.append(session, actor, "case.read", case.id, {"messages": len(views)})
            return CaseView(
                id=case.id,
                reference=case.reference,
                state=case.state,
                close_reason=case.close_reason,
                lang=case.lang,
                channel=case.channel,
                campaign=case.campaign,
                group_size=case.group_size,
                wounded=case.wounded,
                flags=risk.decode(case.risk_flags),
                created_at=case.created_at,
                submitted_at=case.submitted_at,
                answers=answers,  # type: ignore[arg-type]
                code_phrase=phrase,
                messages=views,
            )
