"""The only module that touches key material (DESIGN.md, Security model).

* The organisation's **case keypair** (X25519). Everything an applicant says is sealed to the
  public key (libsodium sealed boxes); the private key lives in ``case.key``, wrapped with a
  passphrase (argon2id -> secretbox), and is only ever unlocked by the console or the CLI.
* The **routing key**: a symmetric key the intake uses for what it must read back (the channel
  address to reply to, draft answers while the questionnaire runs) and, through a derived
  subkey, for keyed lookups (BLAKE2b MAC) so no channel id is ever stored in plaintext.

Every ciphertext is an *envelope*: ``b"HV"``, a format version byte, a kind byte (``S`` sealed
to a case key, ``R`` routing secretbox, ``A`` an applicant's own key, ``C`` the audit chain's
key, see :class:`ChainKeys`), the 8-byte key id, then the payload. The key id lets
``haven keys rotate`` find the key an old envelope needs, and re-seal it under the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import time
from base64 import b64decode
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.secret
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox

from haven.crypto.applicant import (
    APPLICANT_KDF,
    ApplicantKey,
    applicant_salt,
    derive_applicant_key,
    seal_json_to_applicant,
    seal_to_applicant,
    unwrap_applicant_key,
    wrap_applicant_key,
)
from haven.crypto.chain import (
    AUDIT_KEY_BYTES,
    ChainKeys,
    ChainKeysMissing,
    audit_link,
    audit_next_key,
    chain_keys_for,
    chain_keys_of,
)
from haven.crypto.envelope import (
    HEADER_LEN,
    KIND_APPLICANT,
    KIND_CHAIN,
    KIND_ROUTING,
    KIND_SEALED,
    MAGIC,
    VERSION,
    BadEnvelope,
    CryptoError,
    InsecureKeys,
    KeysMissing,
    PrivateKeysRefused,
    WrongPassphrase,
    envelope_key_id,
    key_id_of,
)
from haven.crypto.envelope import b64 as _b64
from haven.crypto.envelope import envelope as _envelope
from haven.crypto.envelope import parse as _parse

__all__ = [
    "APPLICANT_KDF",
    "AUDIT_KEY_BYTES",
    "AUDIT_SEED",
    "CASE_KEY",
    "CASE_PUB",
    "HEADER_LEN",
    "KDF_LEVELS",
    "KIND_APPLICANT",
    "KIND_CHAIN",
    "KIND_ROUTING",
    "KIND_SEALED",
    "MAGIC",
    "RETIRED",
    "ROTATION",
    "ROUTING_KEY",
    "VERSION",
    "ApplicantKey",
    "BadEnvelope",
    "CaseKeyring",
    "ChainKeys",
    "ChainKeysMissing",
    "CryptoError",
    "InsecureKeys",
    "IntakeKeys",
    "KeysMissing",
    "PrivateKeysRefused",
    "WrongPassphrase",
    "add_audit_key",
    "applicant_salt",
    "audit_link",
    "audit_next_key",
    "chain_keys_for",
    "chain_keys_of",
    "check_permissions",
    "derive_applicant_key",
    "drop_audit_seed",
    "ensure_private_dir",
    "envelope_key_id",
    "fingerprint",
    "finish_rotation",
    "forget_retired",
    "has_retired",
    "init_keys",
    "is_sealed",
    "key_id_of",
    "keys_exist",
    "load_intake_keys",
    "random_token",
    "refuse_private_keys",
    "rotate",
    "rotation_under_way",
    "seal_json_to_applicant",
    "seal_to_applicant",
    "take_audit_seed",
    "unlock",
    "unwrap_applicant_key",
    "wrap_applicant_key",
]

CASE_PUB = "case.pub"
CASE_KEY = "case.key"
ROUTING_KEY = "routing.key"
RETIRED = "retired"
#: The audit chain's first key, for the database to take once (see :func:`take_audit_seed`).
AUDIT_SEED = "audit.seed"

KDF_LEVELS: dict[str, tuple[int, int]] = {
    "interactive": (
        nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    ),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "sensitive": (
        nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE,
        nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE,
    ),
}


_private_refused = False


def refuse_private_keys() -> None:
    """From now on this process cannot unlock, rotate or unwrap the case private key: the
    intake calls it at start, so that no code path of it can load ``case.key``."""
    global _private_refused
    _private_refused = True


def _check_private_allowed() -> None:
    if _private_refused:
        raise PrivateKeysRefused("this process is the public intake: it never unlocks the case key")


def _write_private(path: Path, data: dict[str, object]) -> None:
    """Write a key file with mode 0600 from the first byte (no window where others can read)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> dict[str, object]:
    if not path.exists():
        raise KeysMissing(f"no key file {path.name} in {path.parent}: run `haven init` first")
    data = json.loads(path.read_text("utf-8"))
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise CryptoError(f"{path.name} is not a haven key file of version {VERSION}")
    return data


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced (:func:`_write_private` renames a new one in)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def check_permissions(keys_dir: Path) -> None:
    """Refuse a keys dir, or the data dir that holds it, that others than its owner can read
    or enter."""
    if not keys_dir.exists():
        return
    for path in [keys_dir.parent, keys_dir, *keys_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise InsecureKeys(
                f"{path} is readable by others (mode {mode:04o}); "
                f"run `chmod -R go-rwx {keys_dir.parent}` and check who else had access"
            )


def keys_exist(keys_dir: Path) -> bool:
    return (keys_dir / CASE_KEY).exists()


# --- sealing ---------------------------------------------------------------------------


class IntakeKeys:
    """What the internet-facing intake holds: the case *public* key and the routing key.

    Loaded from a keys dir, it follows ``case.pub``: a rotated public key is picked up within
    :attr:`REFRESH_SECONDS`, without a restart, so no process goes on sealing to a key that
    ``haven keys rotate`` is about to retire.
    """

    REFRESH_SECONDS = 1.0

    def __init__(self, public_key: bytes, routing_key: bytes, keys_dir: Path | None = None) -> None:
        self.routing_key = routing_key
        self.chain = chain_keys_for(routing_key)
        self._current = (public_key, key_id_of(public_key))
        self._pub_path = keys_dir / CASE_PUB if keys_dir is not None else None
        self._stamp = _stamp(self._pub_path) if self._pub_path is not None else None
        self._checked = time.monotonic()

    def _pair(self) -> tuple[bytes, bytes]:
        path = self._pub_path
        if path is not None and time.monotonic() - self._checked >= self.REFRESH_SECONDS:
            self._checked = time.monotonic()
            stamp = _stamp(path)
            if stamp is not None and stamp != self._stamp:
                public = b64decode(str(_read(path)["public_key"]))
                self._current = (public, key_id_of(public))
                self._stamp = stamp
        return self._current

    @property
    def public_key(self) -> bytes:
        return self._pair()[0]

    @property
    def key_id(self) -> bytes:
        return self._pair()[1]

    @cached_property
    def routing_id(self) -> bytes:
        return key_id_of(self.routing_key)

    def seal(self, data: bytes) -> bytes:
        """Seal to the case key: only the console (with the passphrase) can open it."""
        public, key_id = self._pair()
        return _envelope(KIND_SEALED, key_id, SealedBox(PublicKey(public)).encrypt(data))

    def seal_json(self, value: object) -> bytes:
        return self.seal(json.dumps(value, ensure_ascii=False).encode("utf-8"))

    def seal_routing(self, data: bytes) -> bytes:
        box = nacl.secret.SecretBox(self.routing_key)
        return _envelope(KIND_ROUTING, self.routing_id, box.encrypt(data))

    def open_routing(self, blob: bytes) -> bytes:
        key_id, payload = _parse(blob, KIND_ROUTING)
        if key_id != self.routing_id:
            raise BadEnvelope("sealed under another routing key")
        try:
            return nacl.secret.SecretBox(self.routing_key).decrypt(payload)
        except nacl.exceptions.CryptoError:
            raise BadEnvelope("routing envelope does not open: tampered?") from None

    @cached_property
    def _lookup_key(self) -> bytes:
        return nacl.hash.blake2b(
            b"haven lookup v1",
            key=self.routing_key,
            digest_size=32,
            encoder=nacl.encoding.RawEncoder,
        )

    def lookup(self, namespace: str, value: str) -> str:
        """A keyed hash for finding a row by a secret value (never stored in plaintext)."""
        message = namespace.encode("utf-8") + b"\x00" + value.encode("utf-8")
        # Keyed BLAKE2b, the same function as libsodium's generichash: through hashlib, which
        # keeps the GIL for short inputs (a cffi call releases it, and on a busy process taking
        # it back costs up to a switch interval, 5 ms, on every request).
        return hashlib.blake2b(message, key=self._lookup_key, digest_size=32).hexdigest()


class CaseKeyring:
    """Unlocked case private keys (the current one and retired ones), by key id, and the
    audit chain's first key (see :func:`audit_link`)."""

    def __init__(
        self,
        intake: IntakeKeys,
        private_keys: Sequence[bytes],
        audit_key: bytes | None = None,
    ) -> None:
        self.intake = intake
        self.audit_key = audit_key
        publics = [bytes(PrivateKey(k).public_key) for k in private_keys]
        self._boxes = {
            key_id_of(public): SealedBox(PrivateKey(k))
            for public, k in zip(publics, private_keys, strict=True)
        }
        self._publics = {key_id_of(public): public for public in publics}
        #: The key ``case.pub`` named when this keyring was unlocked: what the console seals to.
        self.current_id = intake.key_id

    @property
    def key_ids(self) -> frozenset[bytes]:
        return frozenset(self._boxes)

    @cached_property
    def sealing_keys(self) -> IntakeKeys:
        """Intake keys pinned to this keyring's own current public key: what a console
        seals with. A ``case.pub`` written after the unlock (by whoever can write the keys
        directory) is not followed, and one that names no key of this keyring seals nothing."""
        public = self._publics.get(self.current_id)
        if public is None:
            raise CryptoError("case.pub names no key of this keyring: the console stays locked")
        return IntakeKeys(public, self.intake.routing_key)

    def open(self, blob: bytes) -> bytes:
        key_id, payload = _parse(blob, KIND_SEALED)
        box = self._boxes.get(key_id)
        if box is None:
            raise BadEnvelope(f"no key {key_id.hex()} in this keyring")
        try:
            return box.decrypt(payload)
        except nacl.exceptions.CryptoError:
            raise BadEnvelope("sealed envelope does not open: tampered?") from None

    def open_json(self, blob: bytes) -> object:
        return json.loads(self.open(blob).decode("utf-8"))

    def console_lookup(self, namespace: str, value: str) -> str:
        """A keyed hash that only an unlocked console can compute (the intake, which holds
        the routing key, cannot): under a key derived from the audit chain's first key, which
        lives inside ``case.key`` and survives rotations."""
        if self.audit_key is None:
            raise CryptoError("case.key holds no audit key: run `haven db upgrade`")
        key = hashlib.blake2b(b"haven console lookup v1", key=self.audit_key).digest()[:32]
        message = namespace.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hashlib.blake2b(message, key=key, digest_size=32).hexdigest()

    def reseal(self, blob: bytes) -> bytes:
        """Open with whichever key made it, seal to the current public key. Envelopes of
        other kinds (routing, an applicant's own) pass unchanged."""
        if not is_sealed(blob) or envelope_key_id(blob) == self.intake.key_id:
            return blob
        return self.intake.seal(self.open(blob))


def is_sealed(blob: bytes) -> bool:
    """Whether ``blob`` is an envelope sealed to a case key (rather than routing or other)."""
    return len(blob) >= HEADER_LEN and blob[:2] == MAGIC and blob[3:4] == KIND_SEALED


# --- key files ---------------------------------------------------------------------------


def _kek(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode("utf-8"),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def _wrap(
    private_key: bytes, passphrase: str, level: str, audit_key: bytes | None
) -> dict[str, object]:
    """A ``case.key`` file's content: the private key (and the audit chain's first key) under
    a key derived from the passphrase."""
    opslimit, memlimit = KDF_LEVELS[level]
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_kek(passphrase, salt, opslimit, memlimit))
    public = bytes(PrivateKey(private_key).public_key)
    data: dict[str, object] = {
        "version": VERSION,
        "key_id": key_id_of(public).hex(),
        "public_key": _b64(public),
        "kdf": "argon2id",
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": _b64(salt),
        "box": _b64(box.encrypt(private_key)),
    }
    if audit_key is not None:
        data["audit"] = _b64(box.encrypt(audit_key))
    return data


def _unwrap(data: dict[str, object], passphrase: str) -> tuple[bytes, bytes | None]:
    """The private key of a ``case.key`` file's content, and its audit key if it has one."""
    _check_private_allowed()
    kek = _kek(
        passphrase,
        b64decode(str(data["salt"])),
        int(str(data["opslimit"])),
        int(str(data["memlimit"])),
    )
    box = nacl.secret.SecretBox(kek)
    try:
        private = box.decrypt(b64decode(str(data["box"])))
        audit = box.decrypt(b64decode(str(data["audit"]))) if "audit" in data else None
    except nacl.exceptions.CryptoError:
        raise WrongPassphrase("the passphrase does not unlock the case key") from None
    return private, audit


def _public_file(public: bytes) -> dict[str, object]:
    return {"version": VERSION, "key_id": key_id_of(public).hex(), "public_key": _b64(public)}


def _level_of(data: dict[str, object]) -> str:
    pair = (int(str(data["opslimit"])), int(str(data["memlimit"])))
    return next((name for name, value in KDF_LEVELS.items() if value == pair), "moderate")


def init_keys(keys_dir: Path, passphrase: str, level: str = "moderate") -> IntakeKeys:
    """Create the case keypair, the routing key and the audit chain's first key. Refuses to
    overwrite existing keys."""
    if keys_exist(keys_dir):
        raise CryptoError(f"keys already exist in {keys_dir}; use `haven keys rotate`")
    if len(passphrase) < 12:
        raise CryptoError("the passphrase must have at least 12 characters")
    ensure_private_dir(keys_dir.parent)
    ensure_private_dir(keys_dir)
    private = PrivateKey.generate()
    routing = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
    audit_key = nacl.utils.random(AUDIT_KEY_BYTES)
    _write_private(
        keys_dir / ROUTING_KEY,
        {"version": VERSION, "key_id": key_id_of(routing).hex(), "key": _b64(routing)},
    )
    public = bytes(private.public_key)
    _write_private(keys_dir / CASE_PUB, _public_file(public))
    _write_private(keys_dir / CASE_KEY, _wrap(bytes(private), passphrase, level, audit_key))
    _write_private(keys_dir / AUDIT_SEED, {"version": VERSION, "key": _b64(audit_key)})
    return IntakeKeys(public, routing, keys_dir)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) mode 0700, whatever the umask; an existing one is
    narrowed to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def load_intake_keys(keys_dir: Path) -> IntakeKeys:
    """The public case key and the routing key; refuses world-readable key files."""
    check_permissions(keys_dir)
    pub = _read(keys_dir / CASE_PUB)
    routing = _read(keys_dir / ROUTING_KEY)
    return IntakeKeys(b64decode(str(pub["public_key"])), b64decode(str(routing["key"])), keys_dir)


def unlock(keys_dir: Path, passphrase: str) -> CaseKeyring:
    """Unlock the case private key (and any retired ones) with the passphrase.

    A ``case.pub`` that lags behind ``case.key`` (a rotation stopped between the two files)
    is brought in line first.
    """
    _check_private_allowed()
    check_permissions(keys_dir)
    data = _read(keys_dir / CASE_KEY)
    current, audit_key = _unwrap(data, passphrase)
    public = bytes(PrivateKey(current).public_key)
    if str(data.get("public_key")) != _b64(public):
        raise CryptoError("case.key is damaged: its public key does not match")
    if b64decode(str(_read(keys_dir / CASE_PUB)["public_key"])) != public:
        _write_private(keys_dir / CASE_PUB, _public_file(public))
    keys = [current]
    retired = keys_dir / RETIRED
    if retired.exists():
        for path in sorted(retired.glob("*.key")):
            old, old_audit = _unwrap(_read(path), passphrase)
            keys.append(old)
            audit_key = audit_key or old_audit
    return CaseKeyring(load_intake_keys(keys_dir), keys, audit_key)


ROTATION = "rotation.json"


def rotate(keys_dir: Path, passphrase: str, level: str = "moderate") -> CaseKeyring:
    """Make a new case keypair; the old private key is kept under ``retired/``.

    Each file is replaced atomically, in an order that can be resumed: a marker
    (``rotation.json``) says a rotation is under way, the old key is copied to ``retired/``,
    then ``case.key`` is replaced, then ``case.pub``. Run again before
    :func:`finish_rotation`, it finishes what is missing and makes no second new key.
    Returns a keyring holding every key, whose :meth:`CaseKeyring.reseal` re-seals old
    envelopes to the new one. Retired keys stay until :func:`forget_retired`.
    """
    old = unlock(keys_dir, passphrase)
    old_data = _read(keys_dir / CASE_KEY)
    marker = keys_dir / ROTATION
    if marker.exists():
        under_way = json.loads(marker.read_text("utf-8"))
        if under_way.get("to") == old_data["key_id"]:
            return old  # the new key is in place: only the re-sealing was left
    else:
        _write_private(marker, {"version": VERSION, "from": old_data["key_id"]})
    retired = keys_dir / RETIRED
    ensure_private_dir(retired)
    retired_copy = retired / f"case-{old_data['key_id']}.key"
    if not retired_copy.exists():
        _write_private(retired_copy, old_data)
    private = PrivateKey.generate()
    new_data = _wrap(bytes(private), passphrase, level, old.audit_key)
    _write_private(
        marker, {"version": VERSION, "from": old_data["key_id"], "to": new_data["key_id"]}
    )
    _write_private(keys_dir / CASE_KEY, new_data)
    _write_private(keys_dir / CASE_PUB, _public_file(bytes(private.public_key)))
    del old
    return unlock(keys_dir, passphrase)


def rotation_under_way(keys_dir: Path) -> bool:
    return (keys_dir / ROTATION).exists()


def finish_rotation(keys_dir: Path) -> None:
    """The rotation's re-sealing is done: the next :func:`rotate` makes a new key."""
    (keys_dir / ROTATION).unlink(missing_ok=True)


def add_audit_key(keys_dir: Path, passphrase: str) -> bytes:
    """Give a ``case.key`` made before the audit chain was keyed its audit key (returned)."""
    data = _read(keys_dir / CASE_KEY)
    private, audit_key = _unwrap(data, passphrase)
    if audit_key is not None:
        return audit_key
    audit_key = nacl.utils.random(AUDIT_KEY_BYTES)
    _write_private(keys_dir / CASE_KEY, _wrap(private, passphrase, _level_of(data), audit_key))
    return audit_key


def has_retired(keys_dir: Path) -> bool:
    retired = keys_dir / RETIRED
    return retired.exists() and any(retired.glob("*.key"))


def forget_retired(keys_dir: Path) -> int:
    """Delete retired private keys (after every envelope was re-sealed). Returns how many."""
    retired = keys_dir / RETIRED
    count = 0
    if retired.exists():
        for path in retired.glob("*.key"):
            path.unlink()
            count += 1
    return count


# --- the audit chain's keys ----------------------------------------------------------------


def take_audit_seed(keys_dir: Path) -> bytes | None:
    """The audit chain's first key as ``haven init`` left it for the database, or None."""
    path = keys_dir / AUDIT_SEED
    if not path.exists():
        return None
    return b64decode(str(_read(path)["key"]))


def drop_audit_seed(keys_dir: Path) -> None:
    """Remove the seed once the database holds the chain's state."""
    (keys_dir / AUDIT_SEED).unlink(missing_ok=True)


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def fingerprint(data: bytes, length: int = 8) -> str:
    """A short, readable fingerprint (hex groups) of public data, for checking by eye."""
    digest = nacl.hash.blake2b(data, digest_size=length, encoder=nacl.encoding.RawEncoder)
    hexed = digest.hex().upper()
    return "-".join(hexed[i : i + 4] for i in range(0, len(hexed), 4))
