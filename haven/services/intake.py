"""Intake: an applicant's input from any channel -> run the flow -> seal and store -> replies.

The intake holds only the case *public* key and the routing key (:class:`IntakeKeys`): it
seals what the applicant says and can never read it back. Each input runs in one unit of
work (flow step, sealed state, stored input, outbox rows), shared with the inputs that
arrived while the previous one was under way (group commit, :mod:`haven.store.batch`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from haven.content import N_, in_every_language, words
from haven.crypto import IntakeKeys
from haven.domain import risk
from haven.domain.cases import CaseState, transition
from haven.domain.codephrase import new_code_phrase
from haven.domain.contacts import contact_lookup
from haven.domain.reference import new_reference
from haven.flows import Effect, Engine, Mode, Outcome, Reply, State, default_engine
from haven.flows.engine import multilingual
from haven.flows.inputs import Choice, Input, Location, Photo, Text, Voice
from haven.outbox import Outbox, Payload, enqueue
from haven.services import erasure, metrics
from haven.services.campaigns import CODE, normalize_code
from haven.store import audit, conversations, updates
from haven.store.batch import GroupCommit
from haven.store.conversations import CaseRow, Conv
from haven.store.db import Store, mark_wipe
from haven.store.models import (
    Attachment,
    Campaign,
    Case,
    Contact,
    ContactValues,
    LeafletBatch,
    Message,
    utcnow,
)

log = logging.getLogger("haven.intake")

M_CODE_NOTED = N_("Thank you. The code {code} is noted.")


@dataclass(frozen=True)
class PhotoData:
    """A photo as a channel received it; the intake seals it before anything else."""

    data: bytes


@dataclass(frozen=True)
class VoiceData(PhotoData):
    """A voice message as a channel received it: sealed like a photo, as an attachment;
    kept only in the conversation with an operator (questionnaire answers stay text)."""

    duration: int = 0


@dataclass(frozen=True)
class IntakeResult:
    contact_id: int
    case_id: int
    replies: tuple[Reply, ...]
    effect: Effect | None = None
    reference: str | None = None
    lang: str | None = None
    #: Where the conversation stands after the input (``None``: no conversation, or erased).
    state: State | None = None
    #: The update was already handled (``update_key`` seen before): nothing was done.
    duplicate: bool = False


def context_of(state: State) -> str:
    """A short token of the question being asked; buttons carry it back, so that a button of
    an earlier question (stale) or a made-up one (forged) is recognised and re-asked."""
    key = f"{state.flow}|{state.version}|{state.mode.value}|{state.step}|{state.lang}"
    return hashlib.blake2b(key.encode("utf-8"), digest_size=4).hexdigest()


#: What a channel says before the flow's replies: a message id, or a function of the language.
Notice = str | Callable[[str], str]


@dataclass(frozen=True, slots=True)
class CallTaker:
    """The operator who runs a phone call's questionnaire: the call's start and its submission
    are audited under their name, and the submitted case is theirs, in the input's transaction."""

    actor: str
    user_id: int


@dataclass(frozen=True, slots=True)
class _Extra:
    deliver: bool = False
    context: str | None = None
    notice: Notice | None = None
    notice_args: Mapping[str, object] | None = None
    operator: CallTaker | None = None


_NO_EXTRA = _Extra()


@dataclass(slots=True)
class _Job:
    """One input, as it waits for its turn in a batch."""

    channel: str
    address: str
    lookup: str
    inp: Input | PhotoData | None
    campaign: str | None = None
    lang: str | None = None
    extra: _Extra = _NO_EXTRA
    update_key: str | None = None
    #: The channel's id of the applicant's message, noted with the input (see Outbox.note).
    message_id: int | None = None
    #: Only read where the conversation stands (:meth:`Intake.state`): nothing is written.
    peek: bool = False
    #: Erase the conversation, if there is one, without the questionnaire (:meth:`erase`).
    erase: bool = False


@dataclass
class _Batch:
    """What one transaction of several inputs looked up once for all of them, and the rows
    it writes together at the end."""

    #: lookup -> conversation, for every lookup of the batch (``None``: none yet, or erased).
    convs: dict[str, Conv | None] = field(default_factory=dict)
    campaign_codes: set[str] | None = None
    #: Pending UPDATEs, by contact id and by case id (see :meth:`Intake._write`).
    contact_rows: dict[int, dict[str, object]] = field(default_factory=dict)
    case_rows: dict[int, dict[str, object]] = field(default_factory=dict)
    #: Outbox rows of the batch's replies, written together (see :class:`~haven.outbox.Outbox`).
    outgoing: list[dict[str, object]] = field(default_factory=list)
    #: The time the batch's rows are written at.
    now: datetime = field(default_factory=utcnow)


class Intake:
    """Runs applicants' inputs through the flow and the store.

    Every input is one unit of work: its conversation read, the flow's step run, its state
    sealed and written back, what it said stored, its replies queued in the outbox. Inputs
    that arrive together share a transaction (:class:`haven.store.batch.GroupCommit`): their
    conversations and update ids are looked up in one query each and their rows written in
    bulk (:mod:`haven.store.conversations`). One Intake per process, shared by its channels.
    """

    def __init__(
        self,
        store: Store,
        keys: IntakeKeys,
        engine: Engine | None = None,
        outbox: Outbox | None = None,
        max_batch: int = 64,
    ) -> None:
        self.store = store
        self.keys = keys
        self.engine = engine or default_engine()
        self.outbox = outbox
        self._commits: GroupCommit[_Job, IntakeResult] = GroupCommit(
            store, self._batch, max_batch=max_batch, name="intake"
        )

    def lookup(self, channel: str, address: str) -> str:
        return contact_lookup(self.keys, channel, address)

    async def handle(
        self,
        channel: str,
        address: str,
        inp: Input | PhotoData | None,
        *,
        campaign: str | None = None,
        lang: str | None = None,
        deliver: bool = False,
        update_key: str | None = None,
        context: str | None = None,
        notice: Notice | None = None,
        notice_args: Mapping[str, object] | None = None,
        message_id: int | None = None,
        operator: CallTaker | None = None,
    ) -> IntakeResult:
        """Run one input through the flow, in one transaction (retried once on a race).

        Channels that send asynchronously (Telegram) pass ``deliver=True``: the replies are
        also written to the outbox in the same transaction. ``update_key`` makes the call
        idempotent (a redelivered update changes nothing and queues nothing). ``context`` is
        what a pressed button carried back (see :func:`context_of`). ``notice`` (a message id,
        or a function of the language) is said first, in the applicant's language;
        ``inp=None`` only re-asks the question. ``message_id`` (the channel's id of the
        applicant's message) is noted through the outbox in the same transaction, unless the
        update was handled before. ``operator`` is set for a phone call (see :class:`CallTaker`).

        The input runs in the intake's own transaction (possibly shared with other inputs):
        never call this while holding a transaction of the same store, which on SQLite would
        wait for itself.
        """
        if deliver and self.outbox is None:
            raise ValueError("deliver=True needs an Intake made with an outbox")
        metrics.count("intake_inputs", channel)
        job = _Job(
            channel,
            address,
            self.lookup(channel, address),
            inp,
            campaign,
            lang,
            _Extra(deliver, context, notice, notice_args, operator),
            update_key,
            message_id,
        )
        # A caller that gives up (a closed connection) cancels only its wait: the job stays
        # queued and runs (its result is then dropped).
        return await self._commits.submit(job)

    async def state(self, channel: str, address: str) -> State | None:
        """Where a conversation stands (read only; ``None`` if there is none): what a web page
        shows on a plain GET. Read in the next batch, after the inputs queued before it."""
        job = _Job(channel, address, self.lookup(channel, address), None, peek=True)
        result = await self._commits.submit(job)
        return result.state

    async def erase(self, channel: str, address: str) -> bool:
        """The applicant's erase-me for his conversation on ``channel``, without asking (he
        confirmed ``/forget`` to another bot of ours): whether there was one. In turn with
        his inputs, like any of them."""
        job = _Job(channel, address, self.lookup(channel, address), None, erase=True)
        result = await self._commits.submit(job)
        return result.effect is Effect.erase

    async def notify(
        self, channel: str, address: str, messages: Sequence[str], **args: object
    ) -> None:
        """Queue one notice to a chat, of several texts in its language (in every language
        for a chat not known yet), through the outbox, in a transaction of its own."""
        lookup = self.lookup(channel, address)
        async with self.store.transaction() as session:
            contact = await session.scalar(select(Contact).where(Contact.lookup == lookup))

            def said(lang: str, message: str) -> str:
                return self.engine.translate(lang, message).format(**args)

            if contact is not None and contact.lang:
                parts = [said(contact.lang, message) for message in messages]
            else:
                parts = [in_every_language(message, said) for message in messages]
            text = "\n\n".join(parts)
            target: Contact | tuple[str, str] = contact or (channel, address)
            enqueue(session, self.keys, target, Payload(text), kind="notice")

    def _batch(self, session: Session, jobs: list[_Job]) -> list[IntakeResult]:
        """One transaction for the inputs of a batch, in arrival order.

        The common step (read a conversation, run the flow, write its sealed state back) goes
        through :mod:`haven.store.conversations` (Core statements, in bulk). ORM objects are
        only made for the rare rows (messages, photos, audit events, an erasure).
        """
        batch = _Batch(convs=conversations.find(session, {job.lookup for job in jobs}))
        live = self._claim(session, jobs)
        fresh: dict[str, _Job] = {}
        for job in live:
            if job is not None and not (job.peek or job.erase) and batch.convs[job.lookup] is None:
                fresh.setdefault(job.lookup, job)
        for new in self._insert(session, list(fresh.values())):
            batch.convs[new.lookup] = new
        if self.outbox is not None:
            seen: list[tuple[ContactValues, int]] = []
            for job in live:
                if job is not None and job.message_id is not None:
                    conv = batch.convs[job.lookup]
                    assert conv is not None  # every live input has one by now
                    seen.append((conv, job.message_id))
            self.outbox.note(session, seen, batch.now)
        results = []
        with session.no_autoflush:
            for job in live:
                if job is None:
                    results.append(IntakeResult(0, 0, (), duplicate=True))
                elif job.peek:
                    results.append(self._peek(job, batch))
                elif job.erase:
                    results.append(self._erase_only(session, job, batch))
                else:
                    results.append(self._handle(session, job, batch))
        self._write(session, batch)
        return results

    @staticmethod
    def _claim(session: Session, jobs: list[_Job]) -> list[_Job | None]:
        """The jobs with their update ids claimed; ``None`` for an update handled before (or
        earlier in this batch)."""
        claimed = updates.claim(session, {j.update_key for j in jobs if j.update_key is not None})
        live: list[_Job | None] = []
        for job in jobs:
            if job.update_key is not None:
                if job.update_key not in claimed:
                    live.append(None)
                    continue
                claimed.discard(job.update_key)
            live.append(job)
        return live

    def _write(self, session: Session, batch: _Batch) -> None:
        """The batch's pending rows: state UPDATEs and outbox rows."""
        conversations.write_changes(session, list(batch.contact_rows.values()), batch.case_rows)
        batch.contact_rows, batch.case_rows = {}, {}
        if batch.outgoing and self.outbox is not None:
            self.outbox.write(session, batch.outgoing)
        batch.outgoing = []

    def _insert(self, session: Session, jobs: Sequence[_Job]) -> list[Conv]:
        """New conversations, each with its draft case: two INSERTs for all of them."""
        if not jobs:
            return []
        cases = [self._draft(job) for job in jobs]
        self._insert_cases(session, cases)
        convs = [
            Conv(
                id=0,
                channel=job.channel,
                lookup=job.lookup,
                address=self.keys.seal_routing(job.address.encode("utf-8")),
                flow_state=None,
                lang=job.lang,
                unreachable=False,
                case_id=case.id,
                case=case,
            )
            for job, case in zip(jobs, cases, strict=True)
        ]
        conversations.insert_contacts(session, convs)
        return convs

    def _draft(self, job: _Job) -> CaseRow:
        """A new draft case for a conversation (its id is set once it is inserted)."""
        return CaseRow(
            id=0,
            reference=new_reference(),
            state=CaseState.draft.value,
            lang=job.lang or "",
            channel=job.channel,
            campaign=job.campaign,
            flow=self.engine.flow.id,
            flow_version=self.engine.flow.version,
            risk_flags="",
        )

    @staticmethod
    def _insert_cases(session: Session, cases: list[CaseRow]) -> None:
        """One INSERT for new draft cases, which get their ids.

        References are not checked one by one (40 random bits; the unique constraint fails
        the batch on a clash, and its inputs are then run again alone, once more if need be).
        """
        conversations.insert_cases(session, cases)

    def _conv(self, session: Session, job: _Job, batch: _Batch) -> tuple[Conv, CaseRow]:
        conv = batch.convs.get(job.lookup)
        if conv is None:  # erased earlier in this batch, and writing again
            (conv,) = self._insert(session, [job])
            batch.convs[job.lookup] = conv
        conv.unreachable = False  # writing to us again: the bot is unblocked
        if conv.case is None:  # its case is gone (purged): a new one
            conv.case = self._draft(job)
            self._insert_cases(session, [conv.case])
            conv.case_id = conv.case.id
            conversations.relink(session, conv)
        return conv, conv.case

    def _peek(self, job: _Job, batch: _Batch) -> IntakeResult:
        """The state as the batch has it so far (after the inputs before this one)."""
        conv = batch.convs.get(job.lookup)
        state = self._load_state(conv) if conv is not None else None
        if conv is None or state is None:
            return IntakeResult(0, 0, ())
        return IntakeResult(conv.id, conv.case_id or 0, (), lang=state.lang, state=state)

    def _load_state(self, conv: Conv) -> State | None:
        if conv.flow_state is None:
            return None
        return State.from_json(json.loads(self.keys.open_routing(conv.flow_state).decode()))

    def _handle(self, session: Session, job: _Job, batch: _Batch) -> IntakeResult:
        inp, lang, campaign, extra = job.inp, job.lang, job.campaign, job.extra
        conv, case = self._conv(session, job, batch)
        state = self._load_state(conv)
        # The outbox serves first answers to new conversations after the ones under way.
        kind = "reply"
        if state is None or state.mode is Mode.erased:
            state = self.engine.new_state(lang or (state.lang if state else None))
            kind = "first"
        if isinstance(inp, VoiceData):
            inp = self._voice(session, case, state, inp)
        elif isinstance(inp, PhotoData):
            inp = self._photo(session, case, state, inp)
        if isinstance(inp, Choice) and extra.context is not None:
            if extra.context != context_of(state):
                inp = Choice("")  # a stale or forged button: re-asked politely, nothing else
        typed = self._typed_campaign(session, batch, case, state, inp)
        if typed is not None:
            # A campaign code typed from a leaflet (when its QR link did not work): noted on
            # the case, and the question asked again; the answers are untouched.
            notice = (
                self.engine.translate(state.lang, M_CODE_NOTED)
                if state.lang
                else multilingual(self.engine.translate, M_CODE_NOTED)
            )
            out = Outcome(state, (Reply(notice.format(code=typed)), self.engine.ask(state)))
        elif inp is None:
            out = Outcome(state, (self.engine.ask(state),))
        else:
            out = self.engine.step(state, inp)
        new_state = out.state
        replies = out.replies
        if extra.notice:
            lang = new_state.lang or "en"
            if callable(extra.notice):
                said = extra.notice(lang)
            else:
                said = self.engine.translate(lang, extra.notice)
                said = said.format(**dict(extra.notice_args or {}))
            replies = (Reply(said), *replies)
        reference = None
        if out.effect is Effect.submit:
            replies, reference = self._submit(session, batch, case, new_state)
            new_state = new_state.replace(answers={})  # the draft is erased once sealed
        elif out.effect is Effect.erase:
            self._erase(session, batch, conv)
            if extra.deliver and self.outbox is not None:
                # The erasure's confirmation: never replaced by a later reply.
                batch.outgoing += self.outbox.rows(
                    conv, replies, case_id=None, context=None, detached=True, kind=kind
                )
            log.info("intake event=erased case=%s", case.id)
            return IntakeResult(conv.id, case.id, replies, out.effect, None, new_state.lang)
        elif out.effect is Effect.message and out.message is not None:
            self._message(session, batch, case, out.message)
        if extra.operator is not None:
            taker = extra.operator
            if reference is not None:
                batch.case_rows.setdefault(case.id, {})["assigned_to"] = taker.user_id
                audit.append_sync(session, taker.actor, "call.submitted", case.id, {})
            elif kind == "first":
                audit.append_sync(session, taker.actor, "call.started", case.id, {})
        conv.flow_state = self.keys.seal_routing(json.dumps(new_state.to_json()).encode())
        conv.lang = new_state.lang
        batch.contact_rows[conv.id] = {
            "_id": conv.id,
            "v_flow_state": conv.flow_state,
            "v_lang": conv.lang,
            "v_unreachable": False,
            "v_updated_at": batch.now,
        }
        if new_state.lang and case.lang != new_state.lang:
            case.lang = new_state.lang
            batch.case_rows.setdefault(case.id, {})["lang"] = case.lang
        if campaign and not case.campaign:
            case.campaign = campaign
            batch.case_rows.setdefault(case.id, {})["campaign"] = campaign
        if extra.deliver and self.outbox is not None:
            # A question or an acknowledgement is stale once the chat has written again; the
            # completion (reference, code phrase) and what the channel said (``/verify``, a
            # notice) are not.
            batch.outgoing += self.outbox.rows(
                conv,
                replies,
                case_id=case.id,
                context=context_of(new_state),
                kind=kind,
                replaceable=out.effect is not Effect.submit and not extra.notice,
            )
        log.debug(  # one line per answer: too many for INFO under load
            "intake event=step case=%s step=%s mode=%s effect=%s",
            case.id,
            new_state.step,
            new_state.mode.value,
            out.effect,
        )
        return IntakeResult(
            conv.id, case.id, replies, out.effect, reference, new_state.lang, new_state
        )

    def _typed_campaign(
        self, session: Session, batch: _Batch, case: CaseRow, state: State, inp: object
    ) -> str | None:
        """The code of a known campaign, if the applicant typed one before submitting."""
        if case.campaign or state.mode is Mode.submitted or not isinstance(inp, Text):
            return None
        code = normalize_code(inp.text)
        if len(code) < 4 or code.isdecimal() or not CODE.match(code):  # not "1", "yes", "ko"
            return None
        if batch.campaign_codes is None:
            batch.campaign_codes = set(session.scalars(select(Campaign.code)))
            batch.campaign_codes |= set(session.scalars(select(LeafletBatch.code)))
        if code not in batch.campaign_codes:
            return None
        case.campaign = code
        batch.case_rows.setdefault(case.id, {})["campaign"] = code
        return code

    def _attach(self, session: Session, case: CaseRow, data: bytes) -> str:
        """A photo or voice message sealed as an attachment of the case: its id."""
        attachment = Attachment(
            id=secrets.token_hex(16), case_id=case.id, size=len(data), body=self.keys.seal(data)
        )
        session.add(attachment)
        return attachment.id

    def _photo(self, session: Session, case: CaseRow, state: State, photo: PhotoData) -> Photo:
        wanted = state.mode is Mode.submitted or (
            state.mode is Mode.ask and self.engine.flow.step(state.step).kind == "photo"
        )
        ref = self._attach(session, case, photo.data) if wanted else ""
        return Photo(ref=ref, size=len(photo.data))

    def _voice(self, session: Session, case: CaseRow, state: State, voice: VoiceData) -> Voice:
        """Kept only in the conversation with an operator (questionnaire answers stay text)."""
        duration = max(0, min(int(voice.duration), 24 * 3600))
        ref = self._attach(session, case, voice.data) if state.mode is Mode.submitted else ""
        return Voice(ref=ref, size=len(voice.data), duration=duration)

    def _submit(
        self, session: Session, batch: _Batch, case: CaseRow, state: State
    ) -> tuple[tuple[Reply, ...], str]:
        move = transition(
            case.state,
            CaseState.submitted,
            channel=case.channel,
            flow=case.flow,
            version=case.flow_version,
        )
        mark_wipe(session)  # the draft's earlier versions go from SQLite's log as well
        lang = state.lang or "en"
        answers = self.engine.answers_for_case(state)
        phrase = new_code_phrase(words(lang))
        group = state.answers.get("group_size", {}).get("value")
        case.risk_flags = risk.encode(risk.decode(case.risk_flags) | risk.triage_flags(group))
        case.state = move.target.value
        case.lang = lang
        batch.case_rows.setdefault(case.id, {}).update(
            group_size=int(group) if group is not None else 1,
            wounded=state.answers.get("wounded", {}).get("value") == "yes",
            risk_flags=case.risk_flags,
            answers=self.keys.seal_json(answers),
            code_phrase=self.keys.seal(phrase.encode("utf-8")),
            state=case.state,
            lang=lang,
            submitted_at=utcnow(),
        )
        audit.append_sync(session, "intake", move.event, case.id, move.detail)
        return self.engine.completion(state, case.reference, phrase, case.channel), case.reference

    def _message(self, session: Session, batch: _Batch, case: CaseRow, message: Input) -> None:
        if isinstance(message, Text):
            kind, body = "text", self.keys.seal_json({"text": message.text})
        elif isinstance(message, Location):
            kind = "location"
            body = self.keys.seal_json(
                {"latitude": message.latitude, "longitude": message.longitude}
            )
        elif isinstance(message, Photo) and message.ref:
            kind, body = "photo", self.keys.seal_json({"attachment": message.ref})
        elif isinstance(message, Voice) and message.ref:
            kind = "voice"
            body = self.keys.seal_json({"attachment": message.ref, "duration": message.duration})
        else:
            return
        session.add(Message(case_id=case.id, direction="in", kind=kind, body=body))
        batch.case_rows.setdefault(case.id, {})["updated_at"] = utcnow()

    def _erase_only(self, session: Session, job: _Job, batch: _Batch) -> IntakeResult:
        conv = batch.convs.get(job.lookup)
        if conv is None:
            return IntakeResult(0, 0, ())
        case_id = conv.case_id or 0
        if conv.case_id is None:  # its case already purged: the conversation alone goes
            batch.contact_rows.pop(conv.id, None)
            if self.outbox is not None:
                self.outbox.forget(session, conv)
            session.execute(delete(Contact).where(Contact.id == conv.id))
            batch.convs[conv.lookup] = None
        else:
            self._erase(session, batch, conv)
        log.info("intake event=erased case=%s", case_id)
        return IntakeResult(conv.id, case_id, (), effect=Effect.erase)

    def _erase(self, session: Session, batch: _Batch, conv: Conv) -> None:
        """The applicant's erase-me: the case wiped and closed, the conversation deleted."""
        batch.contact_rows.pop(conv.id, None)
        self._write(session, batch)  # so that the erasure takes this batch's rows too
        session.flush()
        case = session.get(Case, conv.case_id, populate_existing=True)
        assert case is not None
        erasure.erase(session, case, "intake", case.channel, contacts=False)
        if self.outbox is not None:
            self.outbox.forget(session, conv)
        session.execute(delete(Contact).where(Contact.id == conv.id))
        session.flush()
        batch.convs[conv.lookup] = None
