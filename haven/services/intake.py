"""Intake: an applicant's input from any channel -> run the flow -> seal and store -> replies.

The intake holds only the case *public* key and the routing key (:class:`IntakeKeys`): it
seals what the applicant says and can never read it back. Each input runs in one
transaction, shared with the inputs that arrived while the previous one was under way
(group commit, see :class:`Intake`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haven.content import N_, gettext_for, words
from haven.crypto import IntakeKeys
from haven.domain import risk
from haven.domain.cases import CaseState, check_transition
from haven.domain.codephrase import new_code_phrase
from haven.domain.reference import new_reference
from haven.flows import Effect, Engine, Mode, Outcome, Reply, State, load
from haven.flows.engine import multilingual
from haven.flows.inputs import Choice, Input, Location, Photo, Text
from haven.services import erasure
from haven.services.campaigns import CODE, normalize_code
from haven.store import audit, updates
from haven.store.db import Store
from haven.store.models import (
    Attachment,
    Campaign,
    Case,
    Contact,
    Message,
    utcnow,
)

log = logging.getLogger("haven.intake")

M_CODE_NOTED = N_("Thank you. The code {code} is noted.")


def translate(lang: str, message: str) -> str:
    return gettext_for(lang)(message)


def default_engine() -> Engine:
    return Engine(load("surrender", 1), translate)


@dataclass(frozen=True)
class PhotoData:
    """A photo as a channel received it; the intake seals it before anything else."""

    data: bytes


@dataclass(frozen=True)
class IntakeResult:
    contact_id: int
    case_id: int
    replies: tuple[Reply, ...]
    effect: Effect | None = None
    reference: str | None = None
    lang: str | None = None
    #: The update was already handled (``update_key`` seen before): nothing was done.
    duplicate: bool = False


class ReplySink(Protocol):
    """Where ``handle(..., deliver=True)`` writes the replies: the outbox (haven.outbox.Outbox),
    in the same transaction as the state change. The rows of a whole batch are written with
    one statement."""

    def rows(
        self,
        contact: Contact,
        replies: Sequence[Reply],
        *,
        case_id: int | None,
        context: str | None,
        detached: bool = False,
    ) -> list[dict[str, object]]: ...

    def write(self, session: Session, rows: list[dict[str, object]]) -> None: ...

    def forget(self, session: Session, contact: Contact) -> None: ...


def context_of(state: State) -> str:
    """A short token of the question being asked; buttons carry it back, so that a button of
    an earlier question (stale) or a made-up one (forged) is recognised and re-asked."""
    key = f"{state.flow}|{state.version}|{state.mode.value}|{state.step}|{state.lang}"
    return hashlib.blake2b(key.encode("utf-8"), digest_size=4).hexdigest()


@dataclass(frozen=True)
class _Extra:
    deliver: bool = False
    context: str | None = None
    notice: str | None = None
    notice_args: Mapping[str, object] | None = None


@dataclass
class _Job:
    """One input waiting for its turn in a batch."""

    channel: str
    address: str
    inp: Input | PhotoData | None
    campaign: str | None
    lang: str | None
    extra: _Extra
    update_key: str | None
    future: asyncio.Future[IntakeResult]
    lookup: str = ""
    retried: bool = False


@dataclass
class _Batch:
    """What one transaction of several inputs looked up once for all of them."""

    #: lookup -> contact, for every lookup of the batch (``None``: no such contact, or erased).
    contacts: dict[str, Contact | None] = field(default_factory=dict)
    #: The cases of those contacts (the session's identity map only holds them weakly).
    cases: list[Case] = field(default_factory=list)
    campaign_codes: set[str] | None = None
    #: Outbox rows of the batch's replies, written together (see :class:`ReplySink`).
    outgoing: list[dict[str, object]] = field(default_factory=list)


class Intake:
    """Runs applicants' inputs through the flow and the store.

    Group commit: inputs that arrive while a transaction is under way wait and are then run
    together, in arrival order, in ONE transaction (at most ``max_batch``), with their
    contacts, cases and update ids looked up in one query each and the rows written in bulk
    by the ORM's unit of work. Results are handed back only after the commit, so every
    caller sees exactly the guarantees of a transaction of its own. If a batch fails, each
    of its inputs is run again alone, so one bad input cannot fail the others.
    """

    def __init__(
        self,
        store: Store,
        keys: IntakeKeys,
        engine: Engine | None = None,
        outbox: ReplySink | None = None,
        max_batch: int = 64,
    ) -> None:
        self.store = store
        self.keys = keys
        self.engine = engine or default_engine()
        self.outbox = outbox
        self.max_batch = max_batch
        self._pending: list[_Job] = []
        self._drainer: asyncio.Task[None] | None = None

    def lookup(self, channel: str, address: str) -> str:
        return self.keys.lookup(f"contact:{channel}", address)

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
        notice: str | None = None,
        notice_args: Mapping[str, object] | None = None,
    ) -> IntakeResult:
        """Run one input through the flow, in one transaction (retried once on a race).

        Channels that send asynchronously (Telegram) pass ``deliver=True``: the replies are
        also written to the outbox in the same transaction. ``update_key`` makes the call
        idempotent (a redelivered update changes nothing and queues nothing). ``context`` is
        what a pressed button carried back (see :func:`context_of`). ``notice`` (a message id)
        is said first, in the applicant's language; ``inp=None`` only re-asks the question.

        The input runs in the intake's own transaction (possibly shared with other inputs):
        never call this while holding a transaction of the same store, which on SQLite would
        wait for itself.
        """
        if deliver and self.outbox is None:
            raise ValueError("deliver=True needs an Intake made with an outbox")
        loop = asyncio.get_running_loop()
        job = _Job(
            channel,
            address,
            inp,
            campaign,
            lang,
            _Extra(deliver, context, notice, notice_args),
            update_key,
            loop.create_future(),
        )
        job.lookup = self.lookup(channel, address)
        self._pending.append(job)
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        # Shielded: a caller that gives up (a closed connection) does not undo the job.
        return await asyncio.shield(job.future)

    async def _drain(self) -> None:
        while self._pending:
            jobs = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            await self._run(jobs)

    async def _run(self, jobs: list[_Job]) -> None:
        try:
            results = await self.store.run_sync(lambda session: self._batch(session, jobs))
        except Exception as exc:
            if len(jobs) > 1:
                for job in jobs:  # isolate the input that failed
                    await self._run([job])
                return
            job = jobs[0]
            if isinstance(exc, IntegrityError) and not job.retried:
                job.retried = True  # a race on a new contact: run it once more
                await self._run([job])
            elif not job.future.done():
                job.future.set_exception(exc)
            return
        for job, result in zip(jobs, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)

    def _batch(self, session: Session, jobs: list[_Job]) -> list[IntakeResult]:
        batch = _Batch()
        lookups = {job.lookup for job in jobs}
        batch.contacts = dict.fromkeys(lookups)
        found = session.execute(
            select(Contact, Case)
            .outerjoin(Case, Case.id == Contact.case_id)
            .where(Contact.lookup.in_(lookups))
            .with_for_update(of=Contact)
        )
        for contact, case in found:
            batch.contacts[contact.lookup] = contact
            if case is not None:  # held here, so session.get() below finds it with no query
                batch.cases.append(case)
        claimed = updates.claim(session, {j.update_key for j in jobs if j.update_key is not None})
        self._create_contacts(session, batch, jobs)
        results = []
        with session.no_autoflush:
            for job in jobs:
                if job.update_key is not None:
                    if job.update_key not in claimed:  # handled before, or earlier in this batch
                        results.append(IntakeResult(0, 0, (), duplicate=True))
                        continue
                    claimed.discard(job.update_key)
                results.append(self._handle(session, job, batch))
        self._write_outgoing(session, batch)
        return results

    def _write_outgoing(self, session: Session, batch: _Batch) -> None:
        if batch.outgoing and self.outbox is not None:
            self.outbox.write(session, batch.outgoing)
        batch.outgoing = []

    def _create_contacts(self, session: Session, batch: _Batch, jobs: list[_Job]) -> None:
        """Every new conversation of the batch, with its draft case, in one flush.

        References are not checked one by one here (40 random bits; the unique constraint
        fails the batch on a clash, and the input is then run alone, which checks).
        """
        fresh: dict[str, Contact] = {}
        for job in jobs:
            if batch.contacts[job.lookup] is None and job.lookup not in fresh:
                contact = self._make_contact(job)
                contact.case = self._make_case(job.channel, job.campaign, job.lang)
                fresh[job.lookup] = contact
        if not fresh:
            return
        session.add_all(fresh.values())
        session.flush()
        for lookup, contact in fresh.items():
            batch.contacts[lookup] = contact
            assert contact.case is not None
            batch.cases.append(contact.case)

    def _make_contact(self, job: _Job) -> Contact:
        return Contact(
            channel=job.channel,
            lookup=job.lookup,
            unreachable=False,
            lang=job.lang,
            address=self.keys.seal_routing(job.address.encode("utf-8")),
        )

    def _make_case(self, channel: str, campaign: str | None, lang: str | None) -> Case:
        return Case(
            reference=new_reference(),
            state=CaseState.draft.value,
            lang=lang or "",
            channel=channel,
            campaign=campaign,
            flow=self.engine.flow.id,
            flow_version=self.engine.flow.version,
            risk_flags="",
        )

    def _contact(self, session: Session, job: _Job, batch: _Batch) -> tuple[Contact, Case]:
        contact = batch.contacts.get(job.lookup)
        if contact is not None and contact.unreachable:
            contact.unreachable = False  # writing to us again: the bot is unblocked
        if contact is None:  # erased earlier in this batch, and writing again
            contact = self._make_contact(job)
            session.add(contact)
            batch.contacts[job.lookup] = contact
        case = None
        if contact.case_id is not None:
            case = session.get(Case, contact.case_id)
        if case is None:
            case = self._new_case(session, job.channel, job.campaign, job.lang)
            contact.case = case
            session.flush()
        return contact, case

    def _new_case(
        self, session: Session, channel: str, campaign: str | None, lang: str | None
    ) -> Case:
        case = self._make_case(channel, campaign, lang)
        while session.scalar(select(Case.id).where(Case.reference == case.reference)):
            case.reference = new_reference()  # pragma: no cover - 40 random bits
        session.add(case)
        return case

    def _load_state(self, contact: Contact) -> State | None:
        if contact.flow_state is None:
            return None
        return State.from_json(json.loads(self.keys.open_routing(contact.flow_state)))

    def _handle(self, session: Session, job: _Job, batch: _Batch) -> IntakeResult:
        inp, lang, campaign, extra = job.inp, job.lang, job.campaign, job.extra
        contact, case = self._contact(session, job, batch)
        state = self._load_state(contact)
        if state is None or state.mode is Mode.erased:
            state = self.engine.new_state(lang or (state.lang if state else None))
        if isinstance(inp, PhotoData):
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
            said = self.engine.translate(new_state.lang or "en", extra.notice)
            replies = (Reply(said.format(**dict(extra.notice_args or {}))), *replies)
        reference = None
        if out.effect is Effect.submit:
            replies, reference = self._submit(session, case, new_state)
            new_state = replace(new_state, answers={})  # the draft is erased once sealed
        elif out.effect is Effect.erase:
            self._write_outgoing(session, batch)  # so that the erasure takes them too
            self._erase(session, case)
            if self.outbox is not None:
                self.outbox.forget(session, contact)
            session.delete(contact)
            session.flush()  # before any later input of this batch re-creates it
            batch.contacts[contact.lookup] = None
            if extra.deliver and self.outbox is not None:
                batch.outgoing += self.outbox.rows(
                    contact, replies, case_id=None, context=None, detached=True
                )
            log.info("intake event=erased case=%s", case.id)
            return IntakeResult(contact.id, case.id, replies, out.effect, None, new_state.lang)
        elif out.effect is Effect.message and out.message is not None:
            self._message(session, case, out.message)
        contact.flow_state = self.keys.seal_routing(json.dumps(new_state.to_json()).encode())
        contact.lang = new_state.lang
        if new_state.lang and case.lang != new_state.lang:
            case.lang = new_state.lang
        if campaign and not case.campaign:
            case.campaign = campaign
        if extra.deliver and self.outbox is not None:
            batch.outgoing += self.outbox.rows(
                contact, replies, case_id=case.id, context=context_of(new_state)
            )
        log.info(
            "intake event=step case=%s step=%s mode=%s effect=%s",
            case.id,
            new_state.step,
            new_state.mode.value,
            out.effect,
        )
        return IntakeResult(contact.id, case.id, replies, out.effect, reference, new_state.lang)

    def _typed_campaign(
        self, session: Session, batch: _Batch, case: Case, state: State, inp: object
    ) -> str | None:
        """The code of a known campaign, if the applicant typed one before submitting."""
        if case.campaign or state.mode is Mode.submitted or not isinstance(inp, Text):
            return None
        code = normalize_code(inp.text)
        if len(code) < 4 or code.isdecimal() or not CODE.match(code):  # not "1", "yes", "ko"
            return None
        if batch.campaign_codes is None:
            batch.campaign_codes = set(session.scalars(select(Campaign.code)))
        if code not in batch.campaign_codes:
            return None
        case.campaign = code
        return code

    def _photo(self, session: Session, case: Case, state: State, photo: PhotoData) -> Photo:
        wanted = state.mode is Mode.submitted or (
            state.mode is Mode.ask and self.engine.flow.step(state.step).kind == "photo"
        )
        if not wanted:
            return Photo(ref="", size=len(photo.data))
        attachment = Attachment(
            id=secrets.token_hex(16),
            case_id=case.id,
            size=len(photo.data),
            body=self.keys.seal(photo.data),
        )
        session.add(attachment)
        return Photo(ref=attachment.id, size=len(photo.data))

    def _submit(self, session: Session, case: Case, state: State) -> tuple[tuple[Reply, ...], str]:
        check_transition(CaseState(case.state), CaseState.submitted)
        lang = state.lang or "en"
        answers = self.engine.answers_for_case(state)
        phrase = new_code_phrase(words(lang))
        group = state.answers.get("group_size", {}).get("value")
        case.group_size = int(group) if group is not None else 1
        case.wounded = state.answers.get("wounded", {}).get("value") == "yes"
        case.risk_flags = risk.encode(risk.decode(case.risk_flags) | risk.triage_flags(group))
        case.answers = self.keys.seal_json(answers)
        case.code_phrase = self.keys.seal(phrase.encode("utf-8"))
        case.state = CaseState.submitted.value
        case.lang = lang
        case.submitted_at = utcnow()
        audit.append_sync(
            session,
            "intake",
            "case.submitted",
            case.id,
            {"channel": case.channel, "flow": case.flow, "version": case.flow_version},
        )
        return self.engine.completion(state, case.reference, phrase), case.reference

    def _message(self, session: Session, case: Case, message: Input) -> None:
        if isinstance(message, Text):
            kind, body = "text", self.keys.seal_json({"text": message.text})
        elif isinstance(message, Location):
            kind = "location"
            body = self.keys.seal_json(
                {"latitude": message.latitude, "longitude": message.longitude}
            )
        elif isinstance(message, Photo) and message.ref:
            kind, body = "photo", self.keys.seal_json({"attachment": message.ref})
        else:
            return
        session.add(Message(case_id=case.id, direction="in", kind=kind, body=body))
        case.updated_at = utcnow()

    def _erase(self, session: Session, case: Case) -> None:
        # The contact is deleted by the caller (an ORM object of this session).
        erasure.erase(session, case, "intake", case.channel, contacts=False)
