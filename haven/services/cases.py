"""What operators (and the CLI) do with cases. Every read of case content is audited.

The console's use cases take a :class:`~haven.services.accounts.Viewer`: what a
viewer may see is part of each query (:func:`case_scope`), not only of the templates.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from haven.content import N_, gettext_for
from haven.crypto import CaseKeyring, IntakeKeys
from haven.domain import risk
from haven.domain.cases import (
    CaseState,
    Channel,
    CloseReason,
    IllegalTransition,
    Transition,
    allowed_targets,
    transition,
)
from haven.domain.reference import normalize
from haven.domain.text import clean
from haven.flows.engine import M_READ_ALONE
from haven.services.accounts import Role, Viewer
from haven.services.caseview import (
    ATTACHMENTS_MAX,
    CaseView,
    MessageView,
    is_attachment_id,
    message_view,
    open_case,
    triage,
)
from haven.store import audit
from haven.store.db import Store
from haven.store.models import (
    Attachment,
    AuditEvent,
    Case,
    Contact,
    Message,
    User,
    WebAccess,
    utcnow,
)


class CaseNotFound(LookupError):
    pass


class Cases:
    def __init__(self, store: Store, keys: IntakeKeys | None = None) -> None:
        self.store = store
        #: The intake keys (public case key, routing key): needed to write (notes, replies).
        self.keys = keys

    async def read(self, reference: str, keyring: CaseKeyring, actor: str) -> CaseView:
        """Decrypt a case for ``actor``; the read is an audit event in the same transaction."""
        ref = normalize(reference)
        async with self.store.transaction() as session:
            case = await session.scalar(select(Case).where(Case.reference == ref))
            if case is None:
                raise CaseNotFound(ref)
            return await open_case(session, case, keyring, actor)


# --- the console's use cases ----------------------------------------------------

#: Canned replies: (id, English message id). The operator picks one by its text in the
#: console's language; the applicant receives it in theirs (the applicant catalogs).
CANNED: tuple[tuple[str, str], ...] = (
    (
        "received",
        N_(
            "Hello. An operator has read your application. We will write to you here. "
            "Please wait for our message."
        ),
    ),
    (
        "checking",
        N_(
            "We are checking your application. This can take some time. We will write to you again."
        ),
    ),
    (
        "at_front",
        N_(
            "When you are at the front, write to us: where you are (the sector or the nearest "
            "village) and how many people will come with you."
        ),
    ),
    (
        "safety",
        N_(
            "Do not take risks. Do not tell anyone about this conversation, and answer only "
            "when it is safe for you."
        ),
    ),
    (
        "code_phrase",
        N_(
            "Remember your case reference and your code phrase. You will say the code phrase "
            "when you reach our soldiers."
        ),
    ),
    ("still_there", N_("Are you still there? Please answer when it is safe for you.")),
)
CANNED_IDS = dict(CANNED)

#: Longest reply or note an operator can write.
TEXT_MAX = 4000

#: What an operator may move a case to by hand (hand-offs move it to scheduled/arrived).
OPERATOR_TARGETS = frozenset({CaseState.in_contact, CaseState.verified, CaseState.closed})
#: Close reasons an operator may give (``erased`` is the applicant's own act).
OPERATOR_CLOSE_REASONS: tuple[CloseReason, ...] = (
    CloseReason.withdrawn,
    CloseReason.unreachable,
    CloseReason.duplicate,
    CloseReason.fake,
)


class Forbidden(PermissionError):
    """The viewer's role may not do this."""


class NoRoute(Exception):
    """The case cannot be written to (a phone case, an erased contact, a blocked bot)."""


class BadText(ValueError):
    pass


class Sender(Protocol):
    """Queues a text to an applicant's channel in the caller's transaction (the outbox);
    returns False when nothing could be queued (e.g. the applicant blocked the bot)."""

    async def __call__(
        self, session: AsyncSession, contact: Contact, text: str, case_id: int
    ) -> bool: ...


def case_scope(viewer: Viewer) -> ColumnElement[bool]:
    """The cases whose content a viewer may see, as a WHERE clause (DESIGN.md, People):
    operators the ones assigned to them or to no one; no other role any."""
    if viewer.role is Role.operator:
        return or_(Case.assigned_to.is_(None), Case.assigned_to == viewer.user_id)
    return false()


def move_case(
    session: Session,
    /,
    case: Case,
    target: CaseState,
    reason: CloseReason | None,
    actor: str,
    **context: object,
) -> Transition:
    """Move ``case`` to ``target`` and audit the transition, in the caller's transaction: the
    one place a case changes state (``await session.run_sync(move_case, ...)`` when async)."""
    move = transition(case.state, target, reason, **context)
    now = utcnow()
    case.state = move.target.value
    if move.target is CaseState.closed:
        case.close_reason = move.reason.value if move.reason else None
        case.closed_at = now
    case.updated_at = now
    audit.append_sync(session, actor, move.event, case.id, move.detail)
    return move


def clean_text(text: str, max_len: int = TEXT_MAX) -> str:
    """An operator's text as kept (:func:`haven.domain.text.clean`); :class:`BadText` when
    nothing is left or it is longer than ``max_len``."""
    text = clean(text)
    if not text:
        raise BadText("the text is empty")
    if len(text) > max_len:
        raise BadText(f"the text is longer than {max_len} characters")
    return text


@dataclass(frozen=True)
class CaseMeta:
    """What any operator sees of a case while the key is locked: triage metadata only."""

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
    updated_at: datetime
    assigned_to: int | None
    assigned_name: str | None
    messages: int
    latest_message: int
    #: When the applicant's chat was emptied, newest first (from the audit log: counts only).
    wipes: tuple[ChatWiped, ...] = ()


@dataclass(frozen=True)
class ChatWiped:
    """The bot emptied the applicant's chat: how many messages went, how many it could not
    delete (then the applicant should delete the chat himself)."""

    at: datetime
    deleted: int
    kept: int


async def chat_wipes(session: AsyncSession, case_id: int, limit: int = 5) -> tuple[ChatWiped, ...]:
    events = await session.execute(
        select(AuditEvent.at, AuditEvent.detail)
        .where(AuditEvent.case_id == case_id, AuditEvent.action == "chat.wiped")
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    out = []
    for at, detail in events:
        counts = json.loads(detail or "{}")
        out.append(ChatWiped(at, int(counts.get("deleted", 0)), int(counts.get("kept", 0))))
    return tuple(out)


async def deliver_text(
    session: AsyncSession,
    keys: IntakeKeys,
    case: Case,
    text: str,
    author: int | None,
    sender: Sender | None,
) -> Message:
    """Write ``text`` to the applicant of ``case`` on their channel, in the caller's transaction:
    a web case gets it sealed to their own key and the case key; a bot case through the
    outbox, with the operators' copy sealed to the case key."""
    if case.channel == Channel.web.value:
        from haven.services.applicant import add_message

        access = await session.get(WebAccess, case.id)
        return await add_message(session, keys, case, access, "out", text, author)
    contact = await session.scalar(
        select(Contact).where(Contact.case_id == case.id).order_by(Contact.id.desc()).limit(1)
    )
    if contact is None or contact.unreachable or sender is None:
        raise NoRoute("the applicant cannot be reached on their channel")
    # What a lock screen's preview shows is the opening: let it say nothing of the case.
    opening = gettext_for(case.lang or "en")(M_READ_ALONE)
    if not await sender(session, contact, f"{opening}\n\n{text}", case.id):
        raise NoRoute("the applicant cannot be reached on their channel")
    message = Message(
        case_id=case.id,
        direction="out",
        kind="text",
        body=keys.seal_json({"text": text}),
        author=author,
    )
    session.add(message)
    case.updated_at = utcnow()
    return message


class Console(Cases):
    """The cases service as the console uses it: every call scoped by a viewer."""

    async def _case(
        self, session: AsyncSession, reference: str, viewer: Viewer, *, lock: bool = False
    ) -> Case:
        if viewer.role is not Role.operator:
            raise Forbidden("only operators work on cases")
        try:
            ref = normalize(reference)
        except ValueError:
            raise CaseNotFound(reference[:16]) from None
        query = select(Case).where(Case.reference == ref, case_scope(viewer))
        if lock:
            query = query.with_for_update()
        case = await session.scalar(query)
        if case is None:
            raise CaseNotFound(ref)
        return case

    async def meta(self, reference: str, viewer: Viewer) -> CaseMeta:
        """Triage metadata (no content, not audited): the page while the key is locked."""
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer)
            count, latest = (
                await session.execute(
                    select(func.count(Message.id), func.coalesce(func.max(Message.id), 0)).where(
                        Message.case_id == case.id
                    )
                )
            ).one()
            name = (
                await session.scalar(select(User.name).where(User.id == case.assigned_to))
                if case.assigned_to is not None
                else None
            )
            return CaseMeta(
                **triage(case),
                updated_at=case.updated_at,
                assigned_to=case.assigned_to,
                assigned_name=name,
                messages=int(count),
                latest_message=int(latest),
                wipes=await chat_wipes(session, case.id),
            )

    async def view(self, reference: str, keyring: CaseKeyring, viewer: Viewer) -> CaseView:
        """The case decrypted for an operator; audited."""
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer)
            return await open_case(session, case, keyring, viewer.actor)

    async def latest(self, reference: str, viewer: Viewer) -> int:
        """The newest message's id (metadata, for live updates; not audited)."""
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer)
            latest = await session.scalar(
                select(func.max(Message.id)).where(Message.case_id == case.id)
            )
            return int(latest or 0)

    async def messages_since(
        self, reference: str, keyring: CaseKeyring, viewer: Viewer, after: int
    ) -> list[MessageView]:
        """New messages of a case (live updates); audited like any read of content."""
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer)
            rows = (
                await session.scalars(
                    select(Message)
                    .where(Message.case_id == case.id, Message.id > after)
                    .order_by(Message.id)
                    .limit(200)
                )
            ).all()
            if rows:
                await audit.append(
                    session, viewer.actor, "case.read", case.id, {"messages": len(rows)}
                )
            return [message_view(m, keyring) for m in rows]

    async def transition(
        self,
        reference: str,
        viewer: Viewer,
        target: CaseState | str,
        reason: CloseReason | str | None = None,
    ) -> str:
        """Move a case (operators: in contact, verified, closed with a reason)."""
        target = CaseState(target)
        reason = CloseReason(reason) if reason else None
        if target not in OPERATOR_TARGETS:
            raise Forbidden(f"operators cannot move a case to {target.value}")
        if reason is not None and reason not in OPERATOR_CLOSE_REASONS:
            raise ValueError("not a reason an operator can give")
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer, lock=True)
            await session.run_sync(move_case, case, target, reason, viewer.actor)
            if case.assigned_to is None:
                case.assigned_to = viewer.user_id
            return case.state

    async def note(
        self, reference: str, viewer: Viewer, text: str, *, keyring: CaseKeyring
    ) -> None:
        """An internal note: sealed to the case key, never sent."""
        text = clean_text(text)
        keys = keyring.sealing_keys
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer, lock=True)
            session.add(
                Message(
                    case_id=case.id,
                    direction="note",
                    kind="text",
                    body=keys.seal_json({"text": text}),
                    author=viewer.user_id,
                )
            )
            case.updated_at = utcnow()
            await audit.append(session, viewer.actor, "case.note", case.id, {})

    async def reply(
        self,
        reference: str,
        viewer: Viewer,
        sender: Sender | None,
        *,
        text: str | None = None,
        canned: str | None = None,
        keyring: CaseKeyring,
    ) -> str:
        """A reply to the applicant, in their language for a canned one; returns the text sent.

        The first reply to a submitted case puts it in contact, and the case becomes the
        replying operator's."""
        keys = keyring.sealing_keys
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer, lock=True)
            if case.state in (CaseState.closed.value, CaseState.draft.value):
                raise NoRoute("the case is not open for replies")
            if canned:
                if canned not in CANNED_IDS:
                    raise BadText("unknown canned reply")
                body = gettext_for(case.lang or "en")(CANNED_IDS[canned])
            else:
                body = clean_text(text or "")
            await deliver_text(session, keys, case, body, viewer.user_id, sender)
            if case.assigned_to is None:
                case.assigned_to = viewer.user_id
            if case.state == CaseState.submitted.value:
                await session.run_sync(
                    move_case, case, CaseState.in_contact, None, viewer.actor, auto="reply"
                )
            await audit.append(
                session,
                viewer.actor,
                "case.replied",
                case.id,
                {"canned": canned or None, "channel": case.channel},
            )
            return body

    async def stage_two(
        self,
        reference: str,
        viewer: Viewer,
        location: str,
        group_size: int | None,
        *,
        keyring: CaseKeyring,
    ) -> None:
        """The second stage: the applicant, now at the front, gave location and group size.

        The location is sealed to the case key; the group size updates the triage metadata."""
        location = clean_text(location, 500)
        if group_size is not None and not 1 <= group_size <= 100:
            raise BadText("a group of 1 to 100 people")
        keys = keyring.sealing_keys
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer, lock=True)
            if CaseState(case.state) not in (CaseState.in_contact, CaseState.verified):
                raise IllegalTransition(CaseState(case.state), CaseState(case.state))
            session.add(
                Message(
                    case_id=case.id,
                    direction="note",
                    kind="stage2",
                    body=keys.seal_json({"location": location, "group_size": group_size}),
                    author=viewer.user_id,
                )
            )
            if group_size is not None:
                case.group_size = group_size
                flags = set(risk.decode(case.risk_flags)) - {risk.RiskFlag.large_group}
                case.risk_flags = risk.encode(flags | risk.triage_flags(group_size))
            case.updated_at = utcnow()
            await audit.append(
                session, viewer.actor, "case.stage2", case.id, {"group_size": group_size}
            )

    async def attachments(
        self, reference: str, ids: Sequence[str], keyring: CaseKeyring, viewer: Viewer
    ) -> dict[str, bytes]:
        """Attachments of a case (photos, voice), decrypted; audited like any read of its
        content. Ids that are not this case's are left out."""
        wanted = [i for i in ids if is_attachment_id(i)][:ATTACHMENTS_MAX]
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer)
            if not wanted:
                return {}
            rows = (
                await session.scalars(
                    select(Attachment).where(
                        Attachment.case_id == case.id, Attachment.id.in_(wanted)
                    )
                )
            ).all()
            if rows:
                await audit.append(
                    session,
                    viewer.actor,
                    "case.attachment.read",
                    case.id,
                    {"attachments": sorted(r.id for r in rows)},
                )
            return {r.id: keyring.open(r.body) for r in rows}

    async def voice_note(
        self, reference: str, viewer: Viewer, data: bytes, seconds: int, *, keyring: CaseKeyring
    ) -> str:
        """A voice note the operator recorded of what a caller said: sealed to the case key
        as an attachment, with a note that names it; returns the attachment's id."""
        keys = keyring.sealing_keys
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer, lock=True)
            attachment = Attachment(
                id=secrets.token_hex(16), case_id=case.id, size=len(data), body=keys.seal(data)
            )
            session.add(attachment)
            session.add(
                Message(
                    case_id=case.id,
                    direction="note",
                    kind="voice",
                    body=keys.seal_json({"attachment": attachment.id, "duration": seconds}),
                    author=viewer.user_id,
                )
            )
            case.updated_at = utcnow()
            await audit.append(
                session, viewer.actor, "case.voice_note", case.id, {"bytes": len(data)}
            )
            return attachment.id

    async def flag(self, reference: str, viewer: Viewer, suspicious: bool) -> None:
        """Mark or unmark a case as suspicious (a risk flag, triage metadata)."""
        async with self.store.transaction() as session:
            case = await self._case(session, reference, viewer, lock=True)
            flags = set(risk.decode(case.risk_flags))
            if suspicious:
                flags.add(risk.RiskFlag.operator_suspicion)
            else:
                flags.discard(risk.RiskFlag.operator_suspicion)
            case.risk_flags = risk.encode(flags)
            await audit.append(
                session, viewer.actor, "case.flagged", case.id, {"suspicious": suspicious}
            )


def operator_targets(state: str) -> list[CaseState]:
    """The transitions an operator is offered for a case in ``state``."""
    return sorted(
        (t for t in allowed_targets(CaseState(state)) if t in OPERATOR_TARGETS),
        key=list(CaseState).index,
    )


def canned_for(lang: str) -> list[tuple[str, str]]:
    """The canned replies as (id, text in ``lang``), for the operator's picker."""
    _ = gettext_for(lang)
    return [(cid, _(msg)) for cid, msg in CANNED]
