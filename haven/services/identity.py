"""Who asks: the console's roles, the viewer every service query about cases is scoped by,
and a console session as the web app sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from haven import crypto


class Role(StrEnum):
    operator = "operator"
    coordinator = "coordinator"
    analyst = "analyst"
    admin = "admin"
    translator = "translator"
    #: A front-line unit: records walk-ins of its own sectors, nothing else.
    front = "front"


#: The roles whose accounts are scoped by front sectors.
SECTOR_ROLES: frozenset[Role] = frozenset({Role.coordinator, Role.front})


@dataclass(frozen=True)
class Viewer:
    """Who asks: every service query that touches cases is built from this."""

    user_id: int
    role: Role
    #: The sectors of a :data:`SECTOR_ROLES` account; ``None`` means every sector.
    sectors: frozenset[str] | None = None
    #: Translators' languages (the languages they translate from).
    languages: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True)
class Principal:
    """A console session as the web app sees it."""

    session_id: str
    user_id: int
    name: str
    role: Role
    lang: str
    stage: str  # password | full
    csrf: str
    totp_enrolled: bool
    sectors: frozenset[str] | None
    #: The case keyring as it was when this session was checked (``None``: locked). Handlers
    #: use this one, never a keyring unlocked while the request ran, whose row went unchecked.
    keyring: crypto.CaseKeyring | None = field(default=None, repr=False, compare=False)
    languages: frozenset[str] = frozenset()

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.user_id, self.role, self.sectors, self.languages)


def parse_sectors(text: str) -> frozenset[str] | None:
    parts = {p.strip() for p in text.replace(";", ",").split(",") if p.strip()}
    return None if "*" in parts else frozenset(parts)


def parse_languages(text: str) -> frozenset[str]:
    """A translator's languages from ``"ko, ru"``: lower-case codes of 2 to 8 letters."""
    parts = {p.strip().lower() for p in text.replace(";", ",").split(",")}
    return frozenset(p for p in parts if 2 <= len(p) <= 8 and p.isascii() and p.isalpha())
