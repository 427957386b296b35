"""The web applicant's own key: derived from his passphrase, never stored; what the operators
write back to him is sealed to it, and between two pages it travels wrapped under the routing
key in the page itself."""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from typing import TYPE_CHECKING

import nacl.exceptions
import nacl.pwhash
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox

from haven.crypto.envelope import KIND_APPLICANT, BadEnvelope, b64, envelope, key_id_of, parse

if TYPE_CHECKING:
    from haven.crypto import IntakeKeys

#: argon2id cost of deriving an applicant's key: the libsodium "interactive" level (64 MiB),
#: affordable for a public web page under load; the passphrase has >= 60 bits of entropy.
APPLICANT_KDF = (
    nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
    nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
)


def applicant_salt() -> bytes:
    return nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)


class ApplicantKey:
    """An applicant's X25519 keypair, derived from their passphrase (never stored)."""

    def __init__(self, private_key: bytes) -> None:
        self._private = PrivateKey(private_key)
        self.public_key = bytes(self._private.public_key)

    def open(self, blob: bytes) -> bytes:
        key_id, payload = parse(blob, KIND_APPLICANT)
        if key_id != key_id_of(self.public_key):
            raise BadEnvelope("sealed to another applicant key")
        try:
            return SealedBox(self._private).decrypt(payload)
        except nacl.exceptions.CryptoError:
            raise BadEnvelope("applicant envelope does not open: tampered?") from None

    def open_json(self, blob: bytes) -> object:
        return json.loads(self.open(blob).decode("utf-8"))


def derive_applicant_key(passphrase: str, salt: bytes) -> ApplicantKey:
    """The applicant's keypair from their passphrase (argon2id, as GlobaLeaks does a receipt)."""
    opslimit, memlimit = APPLICANT_KDF
    seed = nacl.pwhash.argon2id.kdf(
        32, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit
    )
    return ApplicantKey(seed)


def seal_to_applicant(public_key: bytes, data: bytes) -> bytes:
    """Seal to an applicant's public key: only their passphrase opens it."""
    box = SealedBox(PublicKey(public_key))
    return envelope(KIND_APPLICANT, key_id_of(public_key), box.encrypt(data))


def seal_json_to_applicant(public_key: bytes, value: object) -> bytes:
    return seal_to_applicant(public_key, json.dumps(value, ensure_ascii=False).encode("utf-8"))


def wrap_applicant_key(keys: IntakeKeys, key: ApplicantKey, context: str, expires: int) -> str:
    """The applicant's key wrapped under the routing key, bound to ``context`` and an expiry
    (unix seconds), to travel in a hidden form field of a page the applicant holds: the
    server keeps nothing between two requests, and a lost page costs only retyping."""
    data = {"k": b64(bytes(key._private)), "c": context, "e": int(expires)}
    blob = keys.seal_routing(json.dumps(data).encode("ascii"))
    return b64encode(blob).decode("ascii").replace("/", "_").replace("+", "-")


def unwrap_applicant_key(keys: IntakeKeys, token: str, context: str, now: int) -> ApplicantKey:
    """Undo :func:`wrap_applicant_key`; :class:`BadEnvelope` if tampered, foreign or expired."""
    try:
        blob = b64decode(token.replace("_", "/").replace("-", "+").encode("ascii"), validate=True)
        data = json.loads(keys.open_routing(blob))
        if data["c"] != context or int(data["e"]) < now:
            raise BadEnvelope("expired, or for another session")
        return ApplicantKey(b64decode(data["k"]))
    except (ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise BadEnvelope("not a wrapped applicant key") from exc
