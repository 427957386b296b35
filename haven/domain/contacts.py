"""How a contact (a chat, a web session, a call) is known without its address being stored."""

from __future__ import annotations

from typing import Protocol


class Keyed(Protocol):
    """What makes keyed hashes (:class:`haven.crypto.IntakeKeys`)."""

    def lookup(self, namespace: str, value: str) -> str: ...


def contact_lookup(keys: Keyed, channel: str, address: str) -> str:
    """The keyed hash a contact is found by (``Contact.lookup``): its channel and address."""
    return keys.lookup(f"contact:{channel}", address)
