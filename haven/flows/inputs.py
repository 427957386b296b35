"""What an applicant can send, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Choice:
    """A button pressed; ``value`` is the option's value."""

    value: str


@dataclass(frozen=True)
class Command:
    """``/start``, ``/help``, ``/lang``, ``/restart``, ``/forget``, ``/skip``, ``/verify``."""

    name: str


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Photo:
    """A photo already sealed and stored by the service; ``ref`` names that attachment."""

    ref: str
    size: int


@dataclass(frozen=True)
class Voice:
    """A voice message already sealed and stored by the service, like a photo; an empty
    ``ref`` when it came where a written answer is asked (then it was not kept)."""

    ref: str
    size: int
    duration: int = 0


@dataclass(frozen=True)
class Unsupported:
    """Anything the flow cannot read (sticker, voice, video, document…)."""

    what: str


Input = Text | Choice | Command | Location | Photo | Voice | Unsupported
