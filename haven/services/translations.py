"""Translations: an operator asks for a message or an answer of a case to be translated; a
translator of its language sees that text alone and writes the translation; the operator
sees it beside the original.

A task is known to a translator by a random id of its own: no reference, no case id, no
other message, no metadata beyond the two languages. The first translator to open a task
holds it; nobody else opens it, and nobody opens it once it is translated. A configured
machine translator (:mod:`haven.services.machine`) gives a first version at once, marked as
machine-made until a human one replaces it. Both are sealed to the case key, every view and
every write is an audit event.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from haven.crypto import CaseKeyring
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Case, Message, Translation, utcnow

from .cases import BadText, CaseNotFound, Console, Forbidden, clean_text
from .identity import Role, Viewer
from .machine import MachineError, MachineTranslator

log = logging.getLogger("haven.translations")

#: Open tasks a translator's list shows at most.
TASKS_MAX = 100


class TaskNotFound(CaseNotFound):
    """No such task, or not this translator's to see."""


@dataclass(frozen=True)
class TranslationView:
    """A translation as the operator sees it: the human one when there is one, else the
    machine's (``machine`` is then True)."""

    id: str
    text: str | None
    machine: bool
    done: bool


@dataclass(frozen=True)
class TaskRow:
    id: str
    source: str
    target: str
    created_at: datetime
    mine: bool


@dataclass(frozen=True)
class TaskView:
    """What a translator sees of a task: the text and the two languages, nothing else."""

    id: str
    source: str
    target: str
    text: str


def _source_text(
    case: Case, message: Message | None, step: str | None, keyring: CaseKeyring
) -> str:
    """The text to translate: an applicant's text message, or a text answer."""
    if message is not None:
        if message.direction != "in" or message.kind != "text":
            raise BadText("only an applicant's text message can be translated")
        content: Any = json.loads(keyring.open(message.body))
        return str(content.get("text", ""))
    answers: Any = keyring.open_json(case.answers) if case.answers else {}
    answer = (answers.get("answers") or {}).get(step or "")
    if not isinstance(answer, dict) or answer.get("kind") != "text":
        raise BadText("only a written answer can be translated")
    return str(answer.get("value", ""))


class Translations:
    def __init__(
        self, store: Store, cases: Console, machine: MachineTranslator | None = None
    ) -> None:
        self.store = store
        self.cases = cases
        self.machine = machine

    # -- the operator ---------------------------------------------------------------------

    async def request(
        self,
        reference: str,
        viewer: Viewer,
        target: str,
        *,
        keyring: CaseKeyring,
        message_id: int | None = None,
        step: str | None = None,
    ) -> str:
        """Ask for a translation into ``target`` of a message or an answer; returns the
        task's id (an existing one for the same text and target). The machine translation,
        when there is a translator, is asked for after the request is committed."""
        if (message_id is None) == (step is None):
            raise BadText("a message or an answer")
        if step is not None and (len(step) > 32 or not step.replace("_", "").isalnum()):
            raise BadText("unknown answer")
        async with self.store.transaction() as session:
            case = await self.cases._case(session, reference, viewer, lock=True)
            message = None
            if message_id is not None:
                message = await session.scalar(
                    select(Message).where(Message.id == message_id, Message.case_id == case.id)
                )
                if message is None:
                    raise BadText("unknown message")
            text = _source_text(case, message, step, keyring)
            if case.lang == target:
                raise BadText("the text is in your language already")
            existing = await session.scalar(
                select(Translation).where(
                    Translation.case_id == case.id,
                    Translation.target == target,
                    Translation.message_id == message_id
                    if message_id is not None
                    else Translation.step == step,
                )
            )
            if existing is not None:
                return existing.id
            task = Translation(
                id=secrets.token_hex(16),
                case_id=case.id,
                message_id=message_id,
                step=step,
                source=case.lang,
                target=target,
                requested_by=viewer.user_id,
                created_at=utcnow(),
            )
            session.add(task)
            await audit.append(
                session, viewer.actor, "translation.requested", case.id, {"task": task.id}
            )
            source, case_id = case.lang, case.id
        if self.machine is not None:
            await self._machine(task.id, case_id, text, source, target, viewer, keyring)
        return task.id

    async def _machine(
        self,
        task_id: str,
        case_id: int,
        text: str,
        source: str,
        target: str,
        viewer: Viewer,
        keyring: CaseKeyring,
    ) -> None:
        assert self.machine is not None
        try:
            translated = await self.machine.translate(text, source, target)
        except MachineError as exc:
            log.warning("translations event=machine_failed task=%s why=%s", task_id, exc)
            return
        translated = translated.strip()[: 4 * max(len(text), 100)]
        if not translated:
            return
        async with self.store.transaction() as session:
            task = await session.get(Translation, task_id, with_for_update=True)
            if task is None or task.human is not None:
                return
            task.machine = keyring.sealing_keys.seal(translated.encode("utf-8"))
            await audit.append(
                session, viewer.actor, "translation.machine", case_id, {"task": task_id}
            )

    async def of_case(
        self, reference: str, viewer: Viewer, keyring: CaseKeyring
    ) -> dict[str, TranslationView]:
        """The translations of a case, keyed ``m<message id>`` or ``a<step>``; audited when
        there are any."""
        async with self.store.transaction() as session:
            case = await self.cases._case(session, reference, viewer)
            rows = (
                await session.scalars(
                    select(Translation)
                    .where(Translation.case_id == case.id)
                    .order_by(Translation.created_at)
                )
            ).all()
            out: dict[str, TranslationView] = {}
            for row in rows:
                key = f"m{row.message_id}" if row.message_id is not None else f"a{row.step}"
                blob = row.human if row.human is not None else row.machine
                out[key] = TranslationView(
                    row.id,
                    keyring.open(blob).decode("utf-8") if blob is not None else None,
                    row.human is None and row.machine is not None,
                    row.human is not None,
                )
            if out:
                await audit.append(
                    session, viewer.actor, "translation.read", case.id, {"translations": len(out)}
                )
            return out

    # -- the translator -------------------------------------------------------------------

    @staticmethod
    def _translator(viewer: Viewer) -> None:
        if viewer.role is not Role.translator:
            raise Forbidden("only translators translate")

    @staticmethod
    def _theirs(viewer: Viewer) -> Any:
        """The tasks a translator may open: open, of his languages, held by nobody or him."""
        return and_(
            Translation.source.in_(sorted(viewer.languages)),
            Translation.human.is_(None),
            or_(Translation.claimed_by.is_(None), Translation.claimed_by == viewer.user_id),
        )

    async def tasks(self, viewer: Viewer) -> list[TaskRow]:
        """A translator's open tasks, oldest first (ids and languages only)."""
        self._translator(viewer)
        async with self.store.transaction() as session:
            rows = (
                await session.scalars(
                    select(Translation)
                    .where(self._theirs(viewer))
                    .order_by(Translation.created_at)
                    .limit(TASKS_MAX)
                )
            ).all()
            return [
                TaskRow(r.id, r.source, r.target, r.created_at, r.claimed_by == viewer.user_id)
                for r in rows
            ]

    async def _task(self, session: AsyncSession, task_id: str, viewer: Viewer) -> Translation:
        self._translator(viewer)
        if len(task_id) != 32 or not task_id.isalnum():
            raise TaskNotFound("task")
        task = await session.scalar(
            select(Translation)
            .where(Translation.id == task_id, self._theirs(viewer))
            .with_for_update()
        )
        if task is None:
            raise TaskNotFound("task")
        return task

    async def open(self, task_id: str, viewer: Viewer, keyring: CaseKeyring) -> TaskView:
        """The text of a task, for a translator of its language; he holds it from now on."""
        async with self.store.transaction() as session:
            task = await self._task(session, task_id, viewer)
            case = await session.get(Case, task.case_id)
            message = (
                await session.get(Message, task.message_id) if task.message_id is not None else None
            )
            if case is None or (task.message_id is not None and message is None):
                raise TaskNotFound("task")
            text = _source_text(case, message, task.step, keyring)
            task.claimed_by = viewer.user_id
            await audit.append(
                session, viewer.actor, "translation.opened", task.case_id, {"task": task.id}
            )
            return TaskView(task.id, task.source, task.target, text)

    async def answer(
        self, task_id: str, viewer: Viewer, text: str, *, keyring: CaseKeyring
    ) -> None:
        """A translator's translation, sealed to the case key beside the original."""
        text = clean_text(text)
        async with self.store.transaction() as session:
            task = await self._task(session, task_id, viewer)
            task.claimed_by = viewer.user_id
            task.human = keyring.sealing_keys.seal(text.encode("utf-8"))
            task.translated_by = viewer.user_id
            task.translated_at = utcnow()
            await audit.append(
                session, viewer.actor, "translation.written", task.case_id, {"task": task.id}
            )
