"""Tables. Sealed columns hold crypto envelopes; nothing identifying is stored in plaintext.

Triage metadata (state, times, language, channel, campaign, group size, wounded, risk flags)
is plaintext by design: coarse, and needed to order the queue in SQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Naive UTC, the same on SQLite and PostgreSQL (``timestamp without time zone``)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Also the insert sentinel: SQLite returns new ids of a multi-row INSERT in no set
    #: order, so without one the ORM writes new cases one INSERT at a time.
    reference: Mapped[str] = mapped_column(String(16), unique=True, insert_sentinel=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    close_reason: Mapped[str | None] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    campaign: Mapped[str | None] = mapped_column(String(64), index=True)
    flow: Mapped[str] = mapped_column(String(32))
    flow_version: Mapped[int] = mapped_column(Integer)
    group_size: Mapped[int | None] = mapped_column(Integer)
    wounded: Mapped[bool | None] = mapped_column(Boolean)
    risk_flags: Mapped[str] = mapped_column(String(256), default="")
    #: Submitted answers, sealed to the case key.
    answers: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The code phrase for the crossing, sealed to the case key.
    code_phrase: Mapped[bytes | None] = mapped_column(LargeBinary)
    assigned_to: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_cases_state_submitted", "state", "submitted_at"),
        # The queue: open cases by state, who holds them and how long they wait; covering,
        # so that a queue page's count and urgency order read this index only.
        Index(
            "ix_cases_queue",
            "state",
            "assigned_to",
            "submitted_at",
            "wounded",
            "group_size",
            "created_at",
            "id",
        ),
        Index("ix_cases_state_lang", "state", "lang", "submitted_at"),
        Index("ix_cases_state_channel", "state", "channel", "submitted_at"),
    )


class Contact(Base):
    """A conversation on a channel: how to reply, and the questionnaire state."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: Keyed hash of (channel, address): how a conversation is found without plaintext ids.
    lookup: Mapped[str] = mapped_column(String(64), unique=True, insert_sentinel=True)
    #: The channel address (e.g. Telegram chat id), under the routing key.
    address: Mapped[bytes] = mapped_column(LargeBinary)
    #: The flow state with draft answers, under the routing key (erased on submit).
    flow_state: Mapped[bytes | None] = mapped_column(LargeBinary)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    lang: Mapped[str | None] = mapped_column(String(8))
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ContactValues(Protocol):
    """What a reply needs of a conversation: a :class:`Contact`, or the same columns read as
    plain values (the intake's hot path reads and writes contacts with Core statements)."""

    id: int
    channel: str
    lookup: str
    address: bytes
    case_id: int | None
    unreachable: bool


class Message(Base):
    """A message of a case's conversation, sealed to the case key."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out | note
    kind: Mapped[str] = mapped_column(String(16))  # text | location | photo
    body: Mapped[bytes] = mapped_column(LargeBinary)
    author: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    #: A case's conversation in order, and its newest message (live updates).
    __table_args__ = (Index("ix_messages_case_id_id", "case_id", "id"),)


class Attachment(Base):
    """A photo or file an applicant sent, sealed to the case key."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Translation(Base):
    """A request to translate one message or answer of a case. The id is random and the
    only thing a translator is given: the case, its reference and every other message stay
    out of his sight. The source language is the case's (triage metadata)."""

    __tablename__ = "translations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: What to translate: a message (``message_id``) or a submitted answer (``step``).
    message_id: Mapped[int | None] = mapped_column(BigId)
    step: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(8))
    requested_by: Mapped[int] = mapped_column(Integer)
    #: The translator who opened it first; nobody else opens it after him.
    claimed_by: Mapped[int | None] = mapped_column(Integer)
    #: The machine translation and the human one, sealed to the case key.
    machine: Mapped[bytes | None] = mapped_column(LargeBinary)
    human: Mapped[bytes | None] = mapped_column(LargeBinary)
    translated_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    translated_at: Mapped[datetime | None] = mapped_column(DateTime)

    #: A translator's open tasks: by language, oldest first.
    __table_args__ = (Index("ix_translations_open", "source", "translated_at", "created_at"),)


class AuditEvent(Base):
    """The audit log: a keyed chain (``hash`` is the event's link, see haven.store.audit).
    Details hold ids and events, never personal data or places."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(BigId, index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    #: The audit log page: by actor, by time.
    __table_args__ = (Index("ix_audit_actor_id", "actor", "id"), Index("ix_audit_at", "at"))


class AuditChain(Base):
    """The audit chain's state, one row: the key for the next event (earlier keys cannot be
    derived from it), sealed under the routing key, and the last event's link.
    ``rekeyed_after``: the event after which the key was rekeyed with the routing key (0:
    before the first), where a chain whose key was once kept in plaintext was sealed."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)
    head: Mapped[str] = mapped_column(String(64))
    last_id: Mapped[int | None] = mapped_column(BigId)
    rekeyed_after: Mapped[int | None] = mapped_column(BigId)


class WebAccess(Base):
    """How a web applicant comes back: their passphrase, as an argon2id hash only,
    and the public key derived from it, to which operator replies are sealed."""

    __tablename__ = "web_access"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    passphrase_hash: Mapped[str] = mapped_column(String(256))
    #: Salt of the argon2id derivation of the applicant's keypair from the passphrase.
    key_salt: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebThread(Base):
    """A web applicant's conversation as they read it back: each message sealed to their own
    key (the operators' copy is the :class:`Message` sealed to the case key)."""

    __tablename__ = "web_thread"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))  # in | out
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Campaign(Base):
    """A campaign (leaflet drop, video, channel post, …): what brought an applicant in.

    Cases point at it by ``cases.campaign`` = ``code``. Operator data, never about a person.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # leaflet | video | post | other
    langs: Mapped[str] = mapped_column(String(64), default="")  # "ko,ru"
    sector: Mapped[str] = mapped_column(String(100), default="")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ChannelPost(Base):
    """A post to a Telegram channel, one message per language, each with its deep link."""

    __tablename__ = "channel_posts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign: Mapped[str | None] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    #: JSON object {lang: text}
    texts: Mapped[str] = mapped_column(Text, default="{}")
    media_path: Mapped[str] = mapped_column(String(500), default="")
    media_kind: Mapped[str] = mapped_column(String(8), default="")  # "" | photo | video
    status: Mapped[str] = mapped_column(String(16), index=True)  # scheduled | queued | cancelled
    scheduled_at: Mapped[datetime] = mapped_column(DateTime)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- outbox and Telegram idempotency ----------------------------------------------


class OutboxMessage(Base):
    """A message to send, written in the transaction that caused it; sent by the outbox worker.

    ``address`` is sealed under the routing key; ``chat`` is the keyed hash that orders and
    paces messages per destination. ``payload`` is held under the routing key until the channel
    accepted it, then cleared, or sealed to the case key when ``keep`` is set.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat: Mapped[str] = mapped_column(String(64))
    address: Mapped[bytes] = mapped_column(LargeBinary)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(BigId, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="reply")
    #: The class the outbox serves it in (:data:`haven.outbox.queue.RANKS`): lower first.
    rank: Mapped[int] = mapped_column(SmallInteger, default=1)
    #: An automated reply that the same chat's next reply replaces while it is still waiting;
    #: never set on what the applicant must get (operator messages, the completion, an
    #: erasure's confirmation).
    replaceable: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    keep: Mapped[bool] = mapped_column(Boolean, default=False)
    #: pending | sending | sent | failed | dropped
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    worker: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(64))
    remote_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_at", "id"),
        Index("ix_outbox_chat_id", "chat", "id"),
    )


class OutboxPacer(Base):
    """One row per channel: the next free sending slot (epoch seconds), shared by all workers."""

    __tablename__ = "outbox_pacer"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)


class ChatMessage(Base):
    """A message in a private chat, the bot's or the applicant's, that the bot may still delete
    (Telegram allows it for 48 hours): its id under the routing key, the chat by its keyed
    hash, and when it was written. Nothing else about it."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat: Mapped[str] = mapped_column(String(64))
    #: The channel's message id, under the routing key.
    message: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    __table_args__ = (Index("ix_chat_messages_chat_id", "chat", "id"),)


class ChatWipe(Base):
    """When a private chat is to be emptied: after a while of silence (``idle``), or at once
    after an erasure (``forget``). The address is under the routing key."""

    __tablename__ = "chat_wipes"

    chat: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(8), default="idle")  # idle | forget
    due_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class InboxUpdate(Base):
    """A channel update taken (confirmed to the channel) but not handled yet: the update under
    the routing key, its chat by keyed hash. Erased once handled."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: The update's key, as in :class:`ProcessedUpdate` (``telegram:<bot id>:<update_id>``).
    key: Mapped[str] = mapped_column(String(64), unique=True)
    chat: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ProcessedUpdate(Base):
    """A channel update already handled (e.g. ``telegram:<bot id>:<update_id>``): no chat ids."""

    __tablename__ = "processed_updates"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class RateCounter(Base):
    """A fixed-window counter of an inbound limit shared by every intake process: its key is a
    keyed hash of the limit and the sender (never a chat id), ``expires`` epoch seconds by
    the database's clock."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    expires: Mapped[float] = mapped_column(Float, index=True)


class SharedValue(Base):
    """A value every intake process must agree on (the webhook's secret), sealed under the
    routing key; ``holder``/``until`` make it a lease when one process at a time acts."""

    __tablename__ = "shared_values"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    holder: Mapped[str | None] = mapped_column(String(32))
    until: Mapped[float] = mapped_column(Float, default=0.0)


# --- the operators' console -------------------------------------------------------


class User(Base):
    """A console account. The password is an argon2id hash; the TOTP secret is held under the
    routing key; the one-time setup link is stored as a SHA-256 of its token only. Sessions
    are not stored: they live in the console process."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # operator | coordinator | analyst | admin
    lang: Mapped[str] = mapped_column(String(8), default="en")  # console language
    #: Coordinators: the front sectors whose hand-offs they see ("*" = every sector).
    sectors: Mapped[str] = mapped_column(String(256), default="")
    password_hash: Mapped[str | None] = mapped_column(String(256))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The last TOTP time step accepted (a code is never accepted twice).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    setup_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    setup_expires: Mapped[datetime | None] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    #: Login attempts are refused until then (the slow-down after failures).
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: A keyed hash of who the account is and how it logs in, under a key only an unlocked
    #: console holds (:mod:`haven.services.accounts`); ``None``: not sealed.
    seal: Mapped[str | None] = mapped_column(String(64))
    #: Counts the seals made for this account: an older seal no longer holds.
    seal_version: Mapped[int] = mapped_column(Integer, default=0)
    #: Translators: the languages they translate from, comma-separated (under the seal).
    languages: Mapped[str] = mapped_column(String(128), default="")


class Handoff(Base):
    """A hand-off card for the receiving unit. Everything the unit needs is sealed to the case
    key: sector, time window, group size and wounded in ``placement``; meeting point and
    recognition signal in ``details``. Coordinators find the cards of their sectors by
    ``sector_key``, a keyed hash of the sector under the routing key."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    sector_key: Mapped[str] = mapped_column(String(64), index=True)
    placement: Mapped[bytes] = mapped_column(LargeBinary)
    details: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), index=True)  # issued | arrived | no_show
    outcome_reason: Mapped[str | None] = mapped_column(String(32))
    issued_by: Mapped[int | None] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome_by: Mapped[int | None] = mapped_column(Integer)
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime)


class MetricCounter(Base):
    """Aggregate counters the processes add to (:mod:`haven.services.metrics`), by name and
    label, both from fixed lists in the code: never an identifier, a place or a text."""

    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LeafletBatch(Base):
    """A print batch of a campaign's leaflets, numbered from 1 per campaign. ``code`` is the
    leaflet code its QR link and its print carry (``<campaign>-<number>``); a case that came
    with it records that code as its campaign. Operator data, never about a person."""

    __tablename__ = "leaflet_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_leaflet_batches_campaign_number", "campaign", "number", unique=True),
    )


class Walkin(Base):
    """A walk-in: someone who reached our soldiers with no contact before, recorded at the
    front. Sector, time and what was noted are sealed to the case key in ``details``; the
    front units and coordinators of a sector find it by ``sector_key``, a keyed hash of the
    sector only the unlocked console computes."""

    __tablename__ = "walkins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    sector_key: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_by: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
