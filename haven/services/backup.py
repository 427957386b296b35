"""Backup and restore: a consistent snapshot of the database taken while haven runs, with the
key files, in one archive encrypted as a whole (:mod:`haven.crypto.backup`).

The snapshot: SQLite's online backup API, in one step (one read transaction: writers go on
meanwhile in WAL mode, and a copy made in steps would start over at every write); on
PostgreSQL ``pg_dump``, which reads one snapshot too. The database is copied before the key
files, so that a key rotation under way between the two leaves the archive with every key its
envelopes need (the old key stays under ``keys/retired`` until nothing is sealed to it).

Inside the encryption the archive is a sequence of records, each a name and its bytes in
length-prefixed blocks, so that a database dump of unknown length streams through: the
manifest first, then the database, then the key files and the console's seal record. Nothing
of it is ever written to disk unencrypted, except the SQLite snapshot on its way, which lies
beside the database in the data dir (0600) and is deleted at once.

A restore reads the whole archive, and so authenticates all of it, before anything is in
place: the SQLite file is renamed in at the end, and on PostgreSQL the dump runs inside one
transaction that is committed only once the archive's last chunk has authenticated.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import struct
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from haven import crypto
from haven.crypto.backup import (
    DamagedBackup,
    DecryptingReader,
    EncryptingWriter,
    key_files,
    write_key_files,
)
from haven.services import auditlog
from haven.store import migrate
from haven.store.db import Store, private_sqlite_file

#: ``progress(done, total)``: bytes copied so far and the expected total (None: unknown).
Progress = Callable[[int, int | None], None]

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/haven.db"
PG_MEMBER = "database/dump.sql"
KEYS_PREFIX = "keys/"
CONSOLE_PREFIX = "console/"
#: The data dir's folder of the console's own records (``Settings.seals_path``).
CONSOLE_DIR = "console"
_BLOCK = 256 * 1024
_NAME = struct.Struct(">H")
_LEN = struct.Struct(">I")
#: The most a record's name, and the manifest, may be (a restore reads untrusted bytes).
_MAX_NAME = 1024
_MAX_SMALL = 16 * 1024 * 1024


class BackupRefused(Exception):
    """A backup or restore that cannot be done as asked; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class Made:
    path: Path
    bytes: int
    dialect: str


@dataclass(frozen=True)
class Restored:
    dialect: str
    taken_at: str
    key_files: int
    #: Whether the restored database is at this version's revision (else: `haven db upgrade`).
    migrated: bool


def _noop(_done: int, _total: int | None) -> None:
    return None


# --- the archive's records ------------------------------------------------------------------


class _Records:
    """Writes named records into the encrypted stream."""

    def __init__(self, sink: EncryptingWriter) -> None:
        self._sink = sink

    def add(self, name: str, chunks: Iterator[bytes]) -> None:
        encoded = name.encode("utf-8")
        self._sink.write(b"F" + _NAME.pack(len(encoded)) + encoded)
        for chunk in chunks:
            for at in range(0, len(chunk), _BLOCK):
                block = chunk[at : at + _BLOCK]
                self._sink.write(_LEN.pack(len(block)) + block)
        self._sink.write(_LEN.pack(0))

    def end(self) -> None:
        self._sink.write(b"E")


def _read(source: DecryptingReader, n: int) -> bytes:
    data = source.read(n)
    if len(data) != n:
        raise DamagedBackup("the archive ends inside a record")
    return data


def _records(source: DecryptingReader) -> Iterator[tuple[str, Iterator[bytes]]]:
    """The records of an archive; each one's blocks must be consumed before the next."""
    while True:
        kind = _read(source, 1)
        if kind == b"E":
            if source.read(1):
                raise DamagedBackup("the archive has records after its end")
            return
        if kind != b"F":
            raise DamagedBackup("the archive's records are damaged")
        length = _NAME.unpack(_read(source, _NAME.size))[0]
        if length > _MAX_NAME:
            raise DamagedBackup("the archive's records are damaged")
        name = _read(source, length).decode("utf-8", "replace")

        def blocks() -> Iterator[bytes]:
            while True:
                size = _LEN.unpack(_read(source, _LEN.size))[0]
                if size == 0:
                    return
                if size > _BLOCK:
                    raise DamagedBackup("the archive's records are damaged")
                yield _read(source, size)

        yield name, blocks()


def _small(blocks: Iterator[bytes]) -> bytes:
    out = bytearray()
    for block in blocks:
        out += block
        if len(out) > _MAX_SMALL:
            raise DamagedBackup("a record of the archive is far too large")
    return bytes(out)


# --- the database -------------------------------------------------------------------------


def sqlite_path(db_url: str) -> Path:
    return Path(make_url(db_url).database or "")


def _pg_env(db_url: str) -> dict[str, str]:
    """libpq's environment for ``db_url``: the password never goes on a command line."""
    url = make_url(db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", str(url.port) if url.port else None),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value:
            env[name] = str(value)
    return env


def pg_tool(name: str) -> str:
    """``pg_dump`` or ``psql``: the newest PostgreSQL's (Debian keeps them per major release;
    ``pg_dump`` must not be older than the server)."""
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise BackupRefused(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _file_chunks(path: Path, progress: Progress, total: int) -> Iterator[bytes]:
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_BLOCK):
            done += len(chunk)
            progress(done, total)
            yield chunk


@contextmanager
def _sqlite_snapshot(db_path: Path) -> Iterator[Path]:
    """A consistent copy of the live database beside it (0600), deleted afterwards."""
    snapshot = db_path.parent / f".backup-{secrets.token_hex(8)}.db"
    os.close(os.open(snapshot, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        source = sqlite3.connect(db_path, timeout=30)
        target = sqlite3.connect(snapshot)
        try:
            source.backup(target)  # pages=-1: one step, one read transaction
        finally:
            target.close()
            source.close()
        yield snapshot
    finally:
        for leftover in (snapshot, Path(f"{snapshot}-journal")):
            leftover.unlink(missing_ok=True)


def _pg_dump_chunks(db_url: str, progress: Progress, total: int | None) -> Iterator[bytes]:
    command = [pg_tool("pg_dump"), "--no-owner", "--no-privileges", "--format=plain"]
    proc = subprocess.Popen(  # noqa: S603 - a fixed command, no shell
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_pg_env(db_url)
    )
    assert proc.stdout is not None and proc.stderr is not None
    done = 0
    try:
        while chunk := proc.stdout.read(_BLOCK):
            done += len(chunk)
            progress(done, total)
            yield chunk
    finally:
        proc.stdout.close()
        errors = proc.stderr.read()
        proc.stderr.close()
        if proc.wait() != 0:
            first = errors.decode("utf-8", "replace").strip().splitlines()[:1]
            raise BackupRefused(f"pg_dump failed: {first[0] if first else proc.returncode}")


async def _pg_size(store: Store) -> int | None:
    async with store.engine.connect() as conn:
        size = await conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
    return int(size) if size else None


async def _revision(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        return sorted(await conn.run_sync(migrate._current))


async def has_data(store: Store) -> bool:
    """Whether any table of the database (other than Alembic's own) holds a row."""

    def any_rows(connection: sa.Connection) -> bool:
        for table in sa.inspect(connection).get_table_names():
            if table == "alembic_version":
                continue
            quoted = connection.dialect.identifier_preparer.quote(table)
            if connection.execute(sa.text(f"SELECT 1 FROM {quoted} LIMIT 1")).first():  # noqa: S608
                return True
        return False

    async with store.engine.connect() as conn:
        return bool(await conn.run_sync(any_rows))


# --- backup ---------------------------------------------------------------------------------


def _check_target(out: Path, keys_dir: Path) -> None:
    """A new file; and keys to go with the database (an intake host's have no case.key)."""
    if out.exists():
        raise BackupRefused(f"{out} exists: choose a new file name")
    if not (keys_dir / crypto.ROUTING_KEY).exists():
        raise BackupRefused(f"no keys in {keys_dir}: a backup without them reads nothing")


async def make_backup(
    store: Store,
    data_dir: Path,
    out: Path,
    passphrase: str,
    *,
    kdf_level: str = "moderate",
    progress: Progress = _noop,
    actor: str = "cli",
    record: bool = True,
) -> Made:
    """Write an encrypted archive of the database and the key files to ``out`` (a new file,
    0600; written under a temporary name and renamed when complete). With ``record``, the
    audit log gets ``backup.made``."""
    keys_dir = data_dir / "keys"
    _check_target(out, keys_dir)
    dialect = store.dialect
    manifest = {
        "format": FORMAT,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dialect": dialect,
        "revision": await _revision(store),
    }
    total = await _pg_size(store) if dialect == "postgresql" else None
    if not out.parent.exists():
        crypto.ensure_private_dir(out.parent)
    part = out.with_name(out.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(part, 0o600)

    def write() -> int:
        with os.fdopen(fd, "wb") as fh:
            sink = EncryptingWriter(fh, passphrase, kdf_level)
            records = _Records(sink)
            records.add(MANIFEST, iter([json.dumps(manifest).encode("utf-8")]))
            if dialect == "sqlite":
                with _sqlite_snapshot(sqlite_path(store.url)) as snapshot:
                    size = snapshot.stat().st_size
                    records.add(SQLITE_MEMBER, _file_chunks(snapshot, progress, size))
            else:
                records.add(PG_MEMBER, _pg_dump_chunks(store.url, progress, total))
            # After the database: see the module's docstring.
            for name, data in key_files(keys_dir):
                records.add(KEYS_PREFIX + name, iter([data]))
            console = data_dir / CONSOLE_DIR
            if console.is_dir():
                for path in sorted(console.rglob("*")):
                    if path.is_file():
                        relative = path.relative_to(console).as_posix()
                        records.add(CONSOLE_PREFIX + relative, iter([path.read_bytes()]))
            records.end()
            sink.close()
            fh.flush()
            os.fsync(fh.fileno())
        return part.stat().st_size

    try:
        size = await asyncio.to_thread(write)
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if record:
        await record_made(store, size, actor)
    return Made(out, size, dialect)


async def record_made(store: Store, size: int, actor: str = "cli", reason: str = "") -> None:
    detail: dict[str, object] = {"bytes": size, "dialect": store.dialect}
    if reason:
        detail["reason"] = reason
    await auditlog.record(store=store, actor=actor, action="backup.made", detail=detail)


def default_name(when: datetime | None = None, reason: str = "") -> str:
    """``haven-20261202T030000Z[-reason].backup``."""
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"haven-{stamp}{'-' + reason if reason else ''}.backup"


# --- restore --------------------------------------------------------------------------------


def _sqlite_refusal(db_path: Path) -> str | None:
    for suffix in ("-wal", "-shm"):
        if Path(f"{db_path}{suffix}").exists():
            return (
                f"{db_path} is in use (its {suffix} file is there): stop haven, and restore "
                "into an empty data dir"
            )
    if db_path.exists() and db_path.stat().st_size > 0:
        return f"{db_path} holds a database: restore into an empty data dir"
    return None


async def _pg_refusal(db_url: str) -> str | None:
    store = Store(db_url)
    try:
        async with store.engine.connect() as conn:
            others = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            tables = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            )
    finally:
        await store.close()
    if others:
        return (
            f"the database is in use ({others} other connections): stop haven, and restore "
            "into a new database"
        )
    if tables:
        return "the database is not empty: restore into a new database (createdb)"
    return None


class _Psql:
    """``psql`` fed the dump on its stdin, inside a transaction this side commits."""

    def __init__(self, db_url: str) -> None:
        command = [pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"]
        self.proc = subprocess.Popen(  # noqa: S603 - a fixed command, no shell
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_pg_env(db_url),
        )
        assert self.proc.stdin is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdin.write(b"BEGIN;\n")

    def write(self, data: bytes) -> None:
        try:
            self.stdin.write(data)
        except BrokenPipeError:
            self.finish(commit=False)

    def finish(self, *, commit: bool) -> None:
        with suppress(BrokenPipeError):
            if commit:
                self.stdin.write(b"\nCOMMIT;\n")
            self.stdin.close()
        assert self.proc.stderr is not None
        errors = self.proc.stderr.read().decode("utf-8", "replace").strip()
        self.proc.stderr.close()
        code = self.proc.wait()
        if commit and code != 0:
            first = errors.splitlines()[:1]
            raise BackupRefused(f"the dump did not load: {first[0] if first else code}")

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # the transaction dies with the connection
        with suppress(Exception):
            self.finish(commit=False)


async def restore_backup(
    archive: Path,
    passphrase: str,
    *,
    data_dir: Path,
    db_url: str,
    progress: Progress = _noop,
    actor: str = "cli",
) -> Restored:
    """Restore ``archive`` into an empty data dir (SQLite) or a new, empty database
    (PostgreSQL) whose data dir holds no keys. Refuses one that is in use or not empty."""
    keys_dir = data_dir / "keys"
    dialect = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    db_path = sqlite_path(db_url) if dialect == "sqlite" else None
    refusal = _sqlite_refusal(db_path) if db_path else await _pg_refusal(db_url)
    if refusal:
        raise BackupRefused(refusal)
    if crypto.keys_exist(keys_dir) or (keys_dir.exists() and any(keys_dir.iterdir())):
        raise BackupRefused(f"{keys_dir} holds keys: restore into an empty data dir")
    total = os.stat(archive).st_size
    crypto.ensure_private_dir(data_dir)

    def read() -> tuple[dict[str, Any], list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        # Beside the database, so that it is renamed in on the same file system.
        staging = (db_path or data_dir / "haven.db").parent / f".restore-{secrets.token_hex(8)}.db"
        psql: _Psql | None = None
        manifest: dict[str, Any] = {}
        keys: list[tuple[str, bytes]] = []
        console: list[tuple[str, bytes]] = []
        database = False
        try:
            with archive.open("rb") as fh:

                class Counted:
                    def read(self, n: int) -> bytes:
                        data = fh.read(n)
                        progress(fh.tell(), total)
                        return data

                source = DecryptingReader(Counted(), passphrase)
                for name, blocks in _records(source):
                    if name == MANIFEST:
                        manifest = json.loads(_small(blocks))
                        if manifest.get("format") != FORMAT:
                            raise BackupRefused("a backup of another format: use its haven")
                        if manifest.get("dialect") != dialect:
                            raise BackupRefused(
                                f"a backup of a {manifest.get('dialect')} database cannot be "
                                f"restored into {dialect}"
                            )
                    elif not manifest:
                        raise DamagedBackup("the archive has no manifest first")
                    elif name == SQLITE_MEMBER and dialect == "sqlite" and not database:
                        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "wb") as out:
                            for block in blocks:
                                out.write(block)
                            out.flush()
                            os.fsync(out.fileno())
                        database = True
                    elif name == PG_MEMBER and dialect == "postgresql" and not database:
                        psql = _Psql(db_url)
                        for block in blocks:
                            psql.write(block)
                        database = True
                    elif name.startswith(KEYS_PREFIX):
                        keys.append((name[len(KEYS_PREFIX) :], _small(blocks)))
                    elif name.startswith(CONSOLE_PREFIX):
                        console.append((name[len(CONSOLE_PREFIX) :], _small(blocks)))
                    else:
                        raise DamagedBackup(f"unexpected record {name[:60]!r}")
            # The whole archive has authenticated: now it may take effect.
            if not database or not keys:
                raise DamagedBackup("the archive lacks its database or keys")
            if psql is not None:
                psql.finish(commit=True)
                psql = None
            if db_path is not None:
                private_sqlite_file(db_path)
                os.replace(staging, db_path)
        except BaseException:
            if psql is not None:
                psql.abort()
            raise
        finally:
            staging.unlink(missing_ok=True)
        return manifest, keys, console

    manifest, keys, console = await asyncio.to_thread(read)
    write_key_files(keys_dir, keys)
    _write_console_files(data_dir / CONSOLE_DIR, console)
    crypto.load_intake_keys(keys_dir)  # the routing key: appending opens the chain's key
    store = Store(db_url)
    try:
        migrated = not await migrate.pending(store.engine)
        if migrated:
            await auditlog.record(
                store=store,
                actor=actor,
                action="backup.restored",
                detail={"taken_at": str(manifest.get("taken_at", "")), "dialect": dialect},
            )
            await store.settle()
    finally:
        await store.close()
    return Restored(dialect, str(manifest.get("taken_at", "")), len(keys), migrated)


def _write_console_files(console_dir: Path, files: list[tuple[str, bytes]]) -> None:
    if not files:
        return
    crypto.ensure_private_dir(console_dir)
    root = console_dir.resolve()
    for name, data in files:
        target = (console_dir / name).resolve()
        if root not in target.parents:
            raise DamagedBackup(f"the archive names a file outside: {name[:60]!r}")
        crypto.ensure_private_dir(target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
