"""A throwaway PostgreSQL server for the tests: Debian's binaries, run as user ``postgres``
(when the tests run as root) in a temp dir, on a free loopback port, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql); "
            "`make test` installs it when run as root"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> dict[str, object]:
    """Popen arguments that run a command as user postgres when the tests run as root,
    so that the PID we stop is PostgreSQL's own."""
    if os.geteuid() == 0:
        return {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": "/"}
    return {}


class PgServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="haven-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._n = 0

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = [pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        subprocess.run(
            [*initdb, "-E", "UTF8", "--no-locale"],
            check=True,
            capture_output=True,
            **_as_postgres(),  # type: ignore[arg-type]
        )
        self.launch()

    def launch(self) -> None:
        """Run the server on the data dir and port it has, and wait until it is ready."""
        options = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        command = [pg_bin("postgres"), "-D", str(self.data), "-h", "127.0.0.1"]
        command += ["-p", str(self.port), "-k", str(self.root), "-c", "max_connections=200"]
        for option in options:
            command += ["-c", option]
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **_as_postgres(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("PostgreSQL exited at start")
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not become ready")

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            [
                pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-tA",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def new_database(self, template: str | None = None) -> str:
        """A new empty database, or a copy of ``template`` (which nobody may be connected to)."""
        self._n += 1
        name = f"haven_test_{os.getpid()}_{self._n}"
        self.psql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def url(self, db: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{db}"

    def dump(self, db: str) -> bytes:
        return subprocess.run(
            [pg_bin("pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", db],
            check=True,
            capture_output=True,
        ).stdout

    def restart(self, down: float = 0.0) -> None:
        """Stop the server (fast shutdown: every connection is cut), wait ``down`` seconds,
        and start it again on the same port and data dir."""
        self.halt()
        time.sleep(down)
        self.launch()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server, keeping its data dir and port (:meth:`launch` starts it again)."""
        if self.proc is not None and self.proc.poll() is None:
            # Stop by PID: SIGINT is PostgreSQL's "fast shutdown".
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@contextlib.contextmanager
def running() -> Iterator[PgServer]:
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def databases(with_postgresql: bool) -> Iterator[list[tuple[str, str]]]:
    """For the benches: ``("SQLite", "")`` (the default database) and, when asked, a database
    on a throwaway PostgreSQL server that is stopped afterwards."""
    if not with_postgresql:
        yield [("SQLite", "")]
        return
    with running() as server:
        yield [("SQLite", ""), ("PostgreSQL", server.url(server.new_database()))]
