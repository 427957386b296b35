"""Tables. Sealed columns hold crypto envelopes; nothing identifying is stored in plaintext.

Triage metadata (state, times, language, channel, campaign, group size, wounded, risk flags)
is plaintext by design: coarse, and needed to order the queue in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
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
    reference: Mapped[str] = mapped_column(String(16), unique=True)
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

    __table_args__ = (Index("ix_cases_state_submitted", "state", "submitted_at"),)


class Contact(Base):
    """A conversation on a channel: how to reply, and the questionnaire state."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: Keyed hash of (channel, address): how a conversation is found without plaintext ids.
    lookup: Mapped[str] = mapped_column(String(64), unique=True)
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


class Attachment(Base):
    """A photo or file an applicant sent, sealed to the case key."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    """The audit log: a hash chain. Details hold ids and events, never personal data."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(BigId, index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
