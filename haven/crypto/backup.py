"""Backup archives encrypted as a whole, and the key files that travel inside them.

An archive is a header, then a libsodium *secretstream* (XChaCha20-Poly1305, an AEAD over a
sequence of chunks): every chunk is authenticated together with the header, the chunks cannot
be reordered, dropped or cut short (the last one carries the ``FINAL`` tag), so a tampered or
truncated file fails to open instead of restoring something else. The key comes from a
passphrase through argon2id, as ``case.key``'s does; a short check value in the header tells a
wrong passphrase from a damaged file. The file holds nothing in plaintext and can go to
untrusted storage.

Header: ``MAGIC``, a version byte, argon2id's opslimit and memlimit (8 bytes each), the salt
(16), the check value (16), the secretstream header (24). Then chunks: a 4-byte length and the
ciphertext of at most :data:`CHUNK` bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

import nacl.bindings as sodium
import nacl.pwhash
import nacl.utils

from haven.crypto import KDF_LEVELS, CryptoError

MAGIC = b"HAVEN-BACKUP\n"
VERSION = 1
#: Plaintext bytes per chunk.
CHUNK = 64 * 1024
_PARAMS = struct.Struct(">QQ")
_LEN = struct.Struct(">I")
_SALT = nacl.pwhash.argon2id.SALTBYTES
_CHECK = 16
_SS_HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
HEADER_LEN = len(MAGIC) + 1 + _PARAMS.size + _SALT + _CHECK + _SS_HEADER
#: The most a header may ask of argon2id: the "sensitive" level (a forged header must not
#: make a restore allocate more than that).
_MAX_OPS, _MAX_MEM = KDF_LEVELS["sensitive"]
_MIN_OPS, _MIN_MEM = nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN
MIN_PASSPHRASE = 12


class Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


class BackupError(CryptoError):
    """A backup archive cannot be written or opened."""


class WrongBackupPassphrase(BackupError):
    """The passphrase does not open this archive."""


class DamagedBackup(BackupError):
    """Not a haven backup, or one that was changed or cut short."""


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> tuple[bytes, bytes]:
    """The stream key and the check value of ``passphrase``."""
    out = nacl.pwhash.argon2id.kdf(
        64, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit
    )
    check = hashlib.blake2b(b"haven backup check v1", key=out[32:], digest_size=_CHECK).digest()
    return out[:32], check


class EncryptingWriter:
    """A file-like sink: what is written goes out encrypted; :meth:`close` ends the stream
    (without it the archive is truncated and will not open)."""

    def __init__(self, out: BinaryIO, passphrase: str, level: str = "moderate") -> None:
        if len(passphrase) < MIN_PASSPHRASE:
            raise BackupError(
                f"the backup passphrase must have at least {MIN_PASSPHRASE} characters"
            )
        opslimit, memlimit = KDF_LEVELS[level]
        salt = nacl.utils.random(_SALT)
        key, check = _derive(passphrase, salt, opslimit, memlimit)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        stream_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        self._header = (
            MAGIC + bytes([VERSION]) + _PARAMS.pack(opslimit, memlimit) + salt + check
        ) + stream_header
        self._out = out
        self._out.write(self._header)
        self._buffer = bytearray()
        self._closed = False
        #: Plaintext bytes taken so far.
        self.written = 0

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("the archive is closed")
        self._buffer += data
        self.written += len(data)
        while len(self._buffer) > CHUNK:
            self._push(bytes(self._buffer[:CHUNK]), _TAG_MESSAGE)
            del self._buffer[:CHUNK]
        return len(data)

    def _push(self, plain: bytes, tag: int) -> None:
        sealed = sodium.crypto_secretstream_xchacha20poly1305_push(
            self._state, plain, self._header, tag
        )
        self._out.write(_LEN.pack(len(sealed)) + sealed)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._push(bytes(self._buffer), _TAG_FINAL)
        self._buffer.clear()
        self._closed = True
        self._out.flush()


class DecryptingReader:
    """A file-like source over an archive: ``read`` gives the plaintext, each chunk only once
    it was authenticated; the end of the stream must be its ``FINAL`` chunk."""

    def __init__(self, inp: Readable, passphrase: str) -> None:
        header = _read_exactly(inp, HEADER_LEN)
        if header[: len(MAGIC)] != MAGIC:
            raise DamagedBackup("not a haven backup archive")
        at = len(MAGIC)
        if header[at] != VERSION:
            raise DamagedBackup(f"a backup archive of another version ({header[at]})")
        opslimit, memlimit = _PARAMS.unpack_from(header, at + 1)
        if not (_MIN_OPS <= opslimit <= _MAX_OPS and _MIN_MEM <= memlimit <= _MAX_MEM):
            raise DamagedBackup("the archive's header is damaged")
        at += 1 + _PARAMS.size
        salt, check = header[at : at + _SALT], header[at + _SALT : at + _SALT + _CHECK]
        stream_header = header[at + _SALT + _CHECK :]
        key, expected = _derive(passphrase, salt, opslimit, memlimit)
        if not hmac.compare_digest(check, expected):
            raise WrongBackupPassphrase("the passphrase does not open this backup")
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        try:
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(self._state, stream_header, key)
        except Exception:
            raise DamagedBackup("the archive's header is damaged") from None
        self._header = header
        self._inp = inp
        self._buffer = bytearray()
        self._done = False

    def _pull(self) -> None:
        length = _LEN.unpack(_read_exactly(self._inp, _LEN.size))[0]
        if not _ABYTES <= length <= CHUNK + _ABYTES:
            raise DamagedBackup("the archive is damaged (a chunk of impossible length)")
        sealed = _read_exactly(self._inp, length)
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                self._state, sealed, self._header
            )
        except Exception:
            raise DamagedBackup("the archive was changed: a chunk does not authenticate") from None
        self._buffer += plain
        if tag == _TAG_FINAL:
            if self._inp.read(1):
                raise DamagedBackup("the archive has bytes after its end")
            self._done = True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._pull()
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def _read_exactly(inp: Readable, n: int) -> bytes:
    data = inp.read(n)
    if len(data) != n:
        raise DamagedBackup("the archive is cut short")
    return data


# --- the key files inside an archive ---------------------------------------------------


def key_files(keys_dir: Path) -> list[tuple[str, bytes]]:
    """Every file of the keys dir (retired keys and a rotation's marker included), as paths
    relative to it and their bytes. A temp file of an interrupted write is left out."""
    if not keys_dir.is_dir():
        raise CryptoError(f"no keys in {keys_dir}: nothing to back up")
    found = []
    for path in sorted(keys_dir.rglob("*")):
        if path.is_file() and not path.name.endswith(".tmp"):
            found.append((path.relative_to(keys_dir).as_posix(), path.read_bytes()))
    return found


def write_key_files(keys_dir: Path, files: list[tuple[str, bytes]]) -> None:
    """Put key files back into an empty keys dir, each 0600 in 0700 directories from the
    first byte; a path that would leave the keys dir is refused."""
    from haven.crypto import ensure_private_dir, keys_exist

    if keys_exist(keys_dir):
        raise BackupError(f"{keys_dir} already holds keys")
    ensure_private_dir(keys_dir)
    root = keys_dir.resolve()
    for name, data in files:
        target = (keys_dir / name).resolve()
        if root not in target.parents:
            raise DamagedBackup(f"the archive names a key file outside the keys dir: {name!r}")
        ensure_private_dir(target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
