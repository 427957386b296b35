"""A 3 MB photo posted slowly to the web intake, the server's open files searched for its
bytes while it arrives (as Starlette's own form parser would have spooled it to disk)."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from haven import crypto
from tests.conftest import make_environ
from tests.pg import free_port
from tests.processes import stop
from tests.security.inspect import open_files

ROOT = Path(__file__).resolve().parents[2]
PHOTO = secrets.token_bytes(3_000_000)
SAMPLES = [PHOTO[i : i + 64] for i in (1_200_000, 2_000_000, 2_900_000)]

#: The same upload through Starlette's own parser: what the test must be able to catch.
SPOOLING_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def post(request):
    form = await request.form()
    return PlainTextResponse(str(len(await form["photo"].read())))

uvicorn.run(Starlette(routes=[Route("/", post, methods=["POST"])]), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning")
"""


def started(command: list[str], port: int, environ: dict[str, str] | None = None):
    proc = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)


def post_slowly(port: int, pid: int, cookie: str, fields: dict[str, str]) -> tuple[int, int]:
    """Post the photo in small pieces over about three seconds; after each piece, read every
    file the server holds open. Returns (status, how many open files held photo bytes)."""
    boundary = "----haven" + secrets.token_hex(8)
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = head + PHOTO + f"\r\n--{boundary}--\r\n".encode()
    request = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Cookie: {cookie}\r\nConnection: close\r\n\r\n"
    ).encode()
    leaks = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        piece = 100_000
        for at in range(0, len(body), piece):
            sock.sendall(body[at : at + piece])
            time.sleep(0.08)
            for fd in open_files(pid):
                try:
                    content = fd.read_bytes()
                except OSError:
                    continue
                if any(sample in content for sample in SAMPLES):
                    leaks += 1
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), leaks


def test_a_slow_photo_upload_never_touches_the_disk(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var")
    crypto.init_keys(tmp_path / "var" / "keys", environ.pop("HAVEN_PASSPHRASE"), "interactive")
    haven = str(ROOT / ".venv" / "bin" / "haven")
    subprocess.run([haven, "db", "upgrade"], env=environ, check=True, capture_output=True)
    port = free_port()
    proc = started([haven, "serve"], port, environ | {"HAVEN_PORT": str(port)})
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            cookie = page.headers["set-cookie"].split(";")[0]
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
        assert csrf
        status, leaks = post_slowly(port, proc.pid, cookie, {"csrf": csrf.group(1)})
        assert status < 500
        assert leaks == 0
    finally:
        stop(proc)


def test_the_search_finds_a_spooled_upload(tmp_path: Path) -> None:
    """The same search against Starlette's own form parser finds the photo on disk."""
    port = free_port()
    proc = started([sys.executable, "-c", SPOOLING_APP, str(port)], port)
    try:
        status, leaks = post_slowly(port, proc.pid, "s=x", {})
        assert status == 200 and leaks > 0
    finally:
        stop(proc)
