"""Every column that holds envelopes sealed to the case key, in one list: key rotation
re-seals exactly these. Every other binary column is listed with what protects it instead,
and a test checks that the two lists cover every binary column of the models, so that a new
sealed column cannot be forgotten."""

from __future__ import annotations

from sqlalchemy.orm import InstrumentedAttribute

from .models import (
    Attachment,
    AuditChain,
    Case,
    ChatMessage,
    ChatWipe,
    Contact,
    Handoff,
    InboxUpdate,
    Message,
    OutboxMessage,
    SharedValue,
    Translation,
    User,
    Walkin,
    WebAccess,
    WebThread,
)

#: Columns whose values are envelopes sealed to the case public key (or NULL). The outbox's
#: payload is one once sent with ``keep``; before that it is under the routing key.
SEALED_TO_CASE_KEY: tuple[
    InstrumentedAttribute[bytes] | InstrumentedAttribute[bytes | None], ...
] = (
    Case.answers,
    Case.code_phrase,
    Message.body,
    Attachment.body,
    Handoff.placement,
    Handoff.details,
    Walkin.details,
    OutboxMessage.payload,
    Translation.machine,
    Translation.human,
)

#: The other binary columns, and what protects each.
NOT_SEALED_TO_CASE_KEY: dict[str, str] = {
    f"{Contact.__tablename__}.address": "routing key (the intake replies to it)",
    f"{Contact.__tablename__}.flow_state": "routing key (drafts, until submitted)",
    f"{OutboxMessage.__tablename__}.address": "routing key (the outbox sends to it)",
    f"{User.__tablename__}.totp_secret": "routing key (operator's second factor)",
    f"{WebAccess.__tablename__}.key_salt": "not secret: the salt of the applicant's key",
    f"{WebAccess.__tablename__}.public_key": "not secret: the applicant's public key",
    f"{WebThread.__tablename__}.body": "the applicant's own key (derived from his passphrase)",
    f"{AuditChain.__tablename__}.key": "a key derived from the routing key (the chain's next key)",
    f"{ChatMessage.__tablename__}.message": "routing key (a message id the bot may delete)",
    f"{ChatWipe.__tablename__}.address": "routing key (the chat the bot empties)",
    f"{InboxUpdate.__tablename__}.body": "routing key (an update taken, until it is handled)",
    f"{SharedValue.__tablename__}.value": "routing key (the webhook secret), or a keyed hash",
}
