"""Envelopes and errors, the base of :mod:`haven.crypto`: every ciphertext is ``b"HV"``, a
format version byte, a kind byte, the 8-byte id of the key it was made with, then the payload."""

from __future__ import annotations

from base64 import b64encode

import nacl.encoding
import nacl.hash

MAGIC = b"HV"
VERSION = 1
#: Sealed to a case key, a routing secretbox, the audit chain's key, an applicant's own key.
KIND_SEALED = b"S"
KIND_ROUTING = b"R"
KIND_CHAIN = b"C"
KIND_APPLICANT = b"A"
HEADER_LEN = 2 + 1 + 1 + 8


class CryptoError(Exception):
    """Base of this module's errors."""


class KeysMissing(CryptoError):
    """No keys under the data dir: run ``haven init``."""


class InsecureKeys(CryptoError):
    """A key file can be read by others than its owner."""


class WrongPassphrase(CryptoError):
    """The passphrase does not unlock the case key."""


class BadEnvelope(CryptoError):
    """Not an envelope, a tampered one, or one for a key this keyring does not hold."""


class PrivateKeysRefused(CryptoError):
    """This process (the internet-facing intake) may not unlock the case key."""


def key_id_of(public_key: bytes) -> bytes:
    return nacl.hash.blake2b(public_key, digest_size=8, encoder=nacl.encoding.RawEncoder)


def b64(data: bytes) -> str:
    return b64encode(data).decode("ascii")


def envelope(kind: bytes, key_id: bytes, payload: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + kind + key_id + payload


def parse(blob: bytes, kind: bytes) -> tuple[bytes, bytes]:
    if len(blob) < HEADER_LEN or blob[:2] != MAGIC or blob[2] != VERSION or blob[3:4] != kind:
        raise BadEnvelope("not a haven envelope of this kind and version")
    return blob[4:12], blob[12:]


def envelope_key_id(blob: bytes) -> bytes:
    """The key id an envelope was made with (``haven keys rotate`` uses it)."""
    return parse(blob, KIND_SEALED)[0]
