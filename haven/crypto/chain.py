"""The audit chain's keys: each event's key is derived one way from the one before, and the
database keeps the next key sealed under a key derived from the routing key."""

from __future__ import annotations

import hashlib
import hmac

import nacl.exceptions
import nacl.secret

from haven.crypto.envelope import KIND_CHAIN, BadEnvelope, envelope, key_id_of, parse

AUDIT_KEY_BYTES = 32


def audit_link(key: bytes, prev: str, body: bytes) -> str:
    """One link of the audit chain: a MAC of the previous link and the event, under the
    event's own key."""
    return hmac.new(key, prev.encode("ascii") + b"\n" + body, hashlib.sha256).hexdigest()


def audit_next_key(key: bytes) -> bytes:
    """The key of the next event. One-way: whoever holds a later key (the database holds the
    current one) cannot compute an earlier one, so cannot rewrite the events before it."""
    return hashlib.blake2b(b"haven audit next", key=key, digest_size=AUDIT_KEY_BYTES).digest()


class ChainKeys:
    """How the database keeps the audit chain's next key: sealed (secretbox) under a key
    derived from the routing key, which the intake and console hosts hold and a database host
    does not. PostgreSQL keeps every earlier version of the chain's row (dead tuples, the
    write-ahead log, its archive, backups): sealed, they give the database host no earlier key.

    :meth:`rekey` is the one step of the chain that also needs this key, where a chain whose
    key was once kept in plaintext was sealed (``audit_chain.rekeyed_after``): after it, a key
    that lay in the database in plaintext leads nowhere. The routing key is never rotated
    (keyed lookups and the check code printed on leaflets are derived from it), so nothing
    ever has to be re-sealed.
    """

    def __init__(self, routing_key: bytes) -> None:
        self._seal_key = hashlib.blake2b(b"haven audit seal v1", key=routing_key).digest()[:32]
        self._rekey_key = hashlib.blake2b(b"haven audit rekey v1", key=routing_key).digest()[:32]
        self.key_id = key_id_of(self._seal_key)

    def seal(self, key: bytes) -> bytes:
        box = nacl.secret.SecretBox(self._seal_key)
        return envelope(KIND_CHAIN, self.key_id, box.encrypt(key))

    def open(self, blob: bytes) -> bytes:
        key_id, payload = parse(blob, KIND_CHAIN)
        if key_id != self.key_id:
            raise BadEnvelope("sealed under another routing key")
        try:
            return nacl.secret.SecretBox(self._seal_key).decrypt(payload)
        except nacl.exceptions.CryptoError:
            raise BadEnvelope("the audit chain's key does not open: tampered?") from None

    def rekey(self, key: bytes) -> bytes:
        """The key rekeyed: one-way, and only with the routing key."""
        return hashlib.blake2b(key, key=self._rekey_key, digest_size=AUDIT_KEY_BYTES).digest()


#: The chain keys of every routing key this process loaded, by key id: the audit log is
#: appended to deep inside units of work, which find here the key the chain's row names.
_chain_keys: dict[bytes, ChainKeys] = {}


def chain_keys_for(routing_key: bytes) -> ChainKeys:
    chain = ChainKeys(routing_key)
    return _chain_keys.setdefault(chain.key_id, chain)


class ChainKeysMissing(BadEnvelope):
    """This process has not loaded the routing key the audit chain's key is sealed under."""


def chain_keys_of(blob: bytes) -> ChainKeys:
    """The chain keys that open ``blob`` (the ``audit_chain`` row's key), among those of the
    routing keys this process loaded (:class:`IntakeKeys`). :class:`BadEnvelope` if it is not
    a sealed chain key; :class:`ChainKeysMissing` if its routing key was never loaded."""
    key_id, _payload = parse(blob, KIND_CHAIN)
    chain = _chain_keys.get(key_id)
    if chain is None:
        raise ChainKeysMissing(
            "the audit chain's key is sealed under a routing key this process has not loaded"
        )
    return chain
