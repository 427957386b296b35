"""How a case reads once decrypted: its triage metadata, answers and conversation, the
answers in the operator's language, and the attachments a view names. Every decryption of a
case's content here is audited by the caller's use case."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from haven.crypto import CaseKeyring
from haven.domain import risk
from haven.flows import State
from haven.store import audit
from haven.store.models import Case, Message


@dataclass(frozen=True)
class MessageView:
    direction: str
    kind: str
    at: datetime
    content: dict[str, Any]
    id: int = 0
    author: int | None = None


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
    assigned_to: int | None = None
    updated_at: datetime | None = None


def triage(case: Case) -> dict[str, Any]:
    """The triage metadata of a case, as every view of it shows them."""
    return {
        "id": case.id,
        "reference": case.reference,
        "state": case.state,
        "close_reason": case.close_reason,
        "lang": case.lang,
        "channel": case.channel,
        "campaign": case.campaign,
        "group_size": case.group_size,
        "wounded": case.wounded,
        "flags": risk.decode(case.risk_flags),
        "created_at": case.created_at,
        "submitted_at": case.submitted_at,
    }


async def open_case(
    session: AsyncSession, case: Case, keyring: CaseKeyring, actor: str
) -> CaseView:
    """A case decrypted for ``actor``; the read is an audit event in the caller's transaction."""
    messages = (
        await session.scalars(
            select(Message).where(Message.case_id == case.id).order_by(Message.id)
        )
    ).all()
    answers = keyring.open_json(case.answers) if case.answers else None
    phrase = keyring.open(case.code_phrase).decode() if case.code_phrase else None
    views = [message_view(m, keyring) for m in messages]
    await audit.append(session, actor, "case.read", case.id, {"messages": len(views)})
    return CaseView(
        **triage(case),
        answers=answers,  # type: ignore[arg-type]
        code_phrase=phrase,
        messages=views,
        assigned_to=case.assigned_to,
        updated_at=case.updated_at,
    )


def message_view(m: Message, keyring: CaseKeyring) -> MessageView:
    """A message of a case, decrypted."""
    return MessageView(
        m.direction, m.kind, m.created_at, json.loads(keyring.open(m.body)), m.id, m.author
    )


#: Attachments one page decrypts at most.
ATTACHMENTS_MAX = 50


def is_attachment_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def attachment_refs(view: CaseView) -> list[str]:
    """The attachments a case view names: photos and voice messages of the conversation,
    the photo answer of the questionnaire."""
    refs = [
        str(m.content.get("attachment", "")) for m in view.messages if m.kind in ("photo", "voice")
    ]
    for answer in ((view.answers or {}).get("answers") or {}).values():
        if isinstance(answer, dict) and answer.get("kind") == "photo" and answer.get("value"):
            refs.append(str(answer["value"]))
    return [r for r in refs if is_attachment_id(r)]


def answer_lines(answers: dict[str, Any] | None, lang: str) -> list[tuple[str, str]]:
    """The submitted answers as (question title, answer) in ``lang`` (choices translated;
    free text as the applicant wrote it)."""
    return [(row.title, row.value) for row in answer_rows(answers, lang)]


@dataclass(frozen=True)
class AnswerRow:
    """A submitted answer as the console shows it: what a translation request names
    (``step``), its kind, and the attachment of a photo answer (``ref``)."""

    step: str
    kind: str
    title: str
    value: str
    ref: str = ""


def answer_rows(answers: dict[str, Any] | None, lang: str) -> list[AnswerRow]:
    """The submitted answers in ``lang``, as :func:`answer_lines` shows them."""
    if not answers:
        return []
    from haven.flows import default_engine

    engine = default_engine()
    state = State(flow=engine.flow.id, version=engine.flow.version, lang=lang)
    lines: list[AnswerRow] = []
    for step_id, answer in (answers.get("answers") or {}).items():
        try:
            step = engine.flow.step(step_id)
        except KeyError:
            continue
        if step.kind == "language":
            continue
        value = engine.display(state, step, answer)
        if answer.get("kind") == "location" and isinstance(answer.get("value"), list):
            lat, lon = answer["value"]
            value = f"{value}: {lat:.5f}, {lon:.5f}"
        kind = str(answer.get("kind", ""))
        ref = str(answer.get("value", "")) if kind == "photo" else ""
        lines.append(AnswerRow(step_id, kind, engine.translate(lang, step.title), value, ref))
    return lines
