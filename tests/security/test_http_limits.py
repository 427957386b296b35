"""HTTP limits, tried as a flooder would against real servers: idle and half-open
connections, headers sent a byte at a time, bodies too large or too slow."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from haven import crypto
from haven.httpheaders import APPLICANT_HEADERS
from tests.conftest import make_environ
from tests.pg import free_port
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
HAVEN = str(ROOT / ".venv" / "bin" / "haven")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    """The intake and the console, with short timeouts."""
    data = tmp_path_factory.mktemp("limits") / "var"
    environ = make_environ(data)
    crypto.init_keys(data / "keys", environ["HAVEN_PASSPHRASE"], "interactive")
    subprocess.run([HAVEN, "db", "upgrade"], env=environ, check=True, capture_output=True)
    port, console_port = free_port(), free_port()
    environ |= {
        "HAVEN_PORT": str(port),
        "HAVEN_CONSOLE_PORT": str(console_port),
        "HAVEN_HTTP_HEADER_SECONDS": "1.5",
        "HAVEN_HTTP_KEEPALIVE_SECONDS": "1",
        "HAVEN_HTTP_BODY_SECONDS": "2",
    }
    intake_env = {k: v for k, v in environ.items() if k != "HAVEN_PASSPHRASE"}
    procs = [
        subprocess.Popen([HAVEN, "serve"], env=intake_env, stderr=subprocess.DEVNULL),
        subprocess.Popen([HAVEN, "console"], env=environ, stderr=subprocess.DEVNULL),
    ]
    try:
        for p in (port, console_port):
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
        yield port, console_port
    finally:
        for proc in procs:
            stop(proc)


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closed the connection within ``within`` seconds (any answer it
    sent first is read and dropped)."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if sock.recv(65536) == b"":
                return True
    except (TimeoutError, ConnectionResetError):
        return False
    return False


def test_idle_and_half_open_connections_are_closed(servers) -> None:
    port, _ = servers
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    assert all(closed(s, 6) for s in idle)
    # After a request, a kept-alive connection that goes quiet is closed too.
    kept = socket.create_connection(("127.0.0.1", port))
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    assert b"200" in kept.recv(4096)
    assert closed(kept, 6)


def test_headers_a_byte_at_a_time_are_cut_off(servers) -> None:
    port, _ = servers
    sock = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    sent_all = True
    for byte in request:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            sent_all = False
            break
        time.sleep(0.05)
        if time.monotonic() - started > 6:
            break
    assert not sent_all or closed(sock, 3)
    assert time.monotonic() - started < 9


def post(port: int, path: str, headers: str, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


@pytest.mark.parametrize("which", ["intake", "console"])
def test_a_huge_body_is_refused_before_it_is_read(servers, which: str) -> None:
    port = servers[0] if which == "intake" else servers[1]
    path = "/" if which == "intake" else "/console/login"
    started = time.monotonic()
    answer = post(
        port,
        path,
        f"Content-Length: {64 * 1024 * 1024}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n",
        b"name=x&password=",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert time.monotonic() - started < 5
    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    for name, value in APPLICANT_HEADERS.items():  # a refusal runs no script either
        assert f"\r\n{name}: {value}".lower() in head, name


def test_a_chunked_body_too_large_is_refused(servers) -> None:
    _, console_port = servers
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    answer = post(
        console_port,
        "/console/login",
        "Transfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Connection: close\r\n",
        body,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]


def test_a_body_too_slow_is_refused(servers) -> None:
    port, _ = servers
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\nab"
        )
        started = time.monotonic()
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert time.monotonic() - started < 5
