"""The durable outbox: every outgoing message is a row written in the transaction that caused
it, and sent by :class:`Worker` within the channel's rate limits (see :mod:`.worker` for the
delivery guarantees and the crash window).

Use :func:`enqueue` (or :class:`Outbox`) from any use case: operator replies, channel posts,
the intake's replies (the intake gets an :class:`Outbox` as its reply sink). Channels provide
a :class:`Sender`; this package never imports a channel.
"""

from .chatlog import ChatLog, Written, is_private
from .payload import TEXT_MAX, Payload, payloads_for
from .queue import (
    DROPPED,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    Outbox,
    backlog,
    chat_key,
    drop_chat,
    enqueue,
)
from .sending import PermanentFailure, RetryLater, Sender, TemporaryFailure, Unreachable
from .wipe import Deleter, Wiper
from .worker import Stats, Worker

__all__ = [
    "DROPPED",
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "TEXT_MAX",
    "ChatLog",
    "Deleter",
    "Outbox",
    "Payload",
    "PermanentFailure",
    "RetryLater",
    "Sender",
    "Stats",
    "TemporaryFailure",
    "Unreachable",
    "Wiper",
    "Worker",
    "Written",
    "backlog",
    "chat_key",
    "drop_chat",
    "enqueue",
    "is_private",
    "payloads_for",
]
