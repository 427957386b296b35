"""Looking at a running process as an attacker on its host would: what it listens on, its
environment, its memory, the files it holds open."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path


def listener_pid(port: int) -> int | None:
    """The PID of the process that listens on 127.0.0.1:``port`` (TCP), or None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return None


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def memory(pid: int) -> Iterator[bytes]:
    """Every readable mapping of the process, as bytes (needs ptrace rights: root here)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            match = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not match or not match.group(3).startswith("r"):
                continue
            start, end = int(match.group(1), 16), int(match.group(2), 16)
            if "[vvar]" in line or "[vsyscall]" in line:
                continue
            try:
                mem.seek(start)
                yield mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue


def memory_holds(pid: int, *needles: bytes) -> set[bytes]:
    """Which of ``needles`` appear anywhere in the process's memory."""
    found: set[bytes] = set()
    for region in memory(pid):
        for needle in needles:
            if needle not in found and needle in region:
                found.add(needle)
    return found


def open_files(pid: int) -> list[Path]:
    """The regular files the process holds open (deleted ones included)."""
    files = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("/"):
            files.append(fd)  # read through /proc/PID/fd/N: works for deleted files too
    return files


def routing_plaintexts(raw: bytes, routing_key: bytes, routing_id: bytes) -> list[bytes]:
    """Everything in ``raw`` (a database file, its WAL) that the routing key opens: every
    routing envelope header, followed by a secretbox of any length that authenticates."""
    import nacl.exceptions
    import nacl.secret

    box = nacl.secret.SecretBox(routing_key)
    header = b"HV\x01R" + routing_id
    opened: list[bytes] = []
    start = 0
    while (at := raw.find(header, start)) >= 0:
        start = at + 1
        body = raw[at + len(header) : at + len(header) + 16384]
        for length in range(40, len(body) + 1):
            try:
                opened.append(box.decrypt(body[:length]))
                break
            except nacl.exceptions.CryptoError:
                continue
    return opened


def hex_blobs(dump: bytes) -> list[bytes]:
    """The bytea values of a ``pg_dump`` (``\\x…`` hex in its COPY data)."""
    return [bytes.fromhex(m.decode()) for m in re.findall(rb"\\\\x([0-9a-f]{24,})", dump)]
