"""The two trust zones, tried as an attacker on the intake host would: ``make run`` with the
passphrase in its environment, then the process behind the public port searched for the
passphrase and the case private key, in its environment and its memory."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64decode
from pathlib import Path

import pytest

from haven import crypto
from tests.conftest import make_environ
from tests.pg import free_port
from tests.security.inspect import environment, listener_pid, memory_holds

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def wait_for(url: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        assert proc.poll() is None, "make run ended early"
        assert time.monotonic() < deadline, f"nothing answers at {url}"
        time.sleep(0.3)


@pytest.fixture
def newcomer(tmp_path: Path):
    """``make run`` as a newcomer starts it, with HAVEN_PASSPHRASE set (the README allows
    it); stopped with Ctrl-C (SIGINT to its process group) at the end."""
    secret = "newcomer passphrase " + secrets.token_hex(8)
    port, console_port = free_port(), free_port()
    environ = make_environ(tmp_path / "var") | {
        "HAVEN_PASSPHRASE": secret,
        "HAVEN_PORT": str(port),
        "HAVEN_CONSOLE_PORT": str(console_port),
    }
    proc = subprocess.Popen(
        ["make", "-s", "run"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        wait_for(f"http://127.0.0.1:{port}/healthz", proc, deadline)
        wait_for(f"http://127.0.0.1:{console_port}/console/login", proc, deadline)
        yield tmp_path / "var", secret, port, console_port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def private_key(data_dir: Path, secret: str) -> bytes:
    data = json.loads((data_dir / "keys" / "case.key").read_text())
    private, _ = crypto._unwrap(data, secret)
    return private


def test_the_public_process_never_holds_the_key(newcomer) -> None:
    data_dir, secret, port, console_port, proc = newcomer
    # Console paths on the public port: not there.
    for path in (
        "/console",
        "/console/",
        "/console/login",
        "/console/unlock",
        "/console/static/console.css",
    ):
        status, _ = get(f"http://127.0.0.1:{port}{path}")
        assert status == 404, path
    # The console answers on its own port, with and without the slash.
    assert get(f"http://127.0.0.1:{console_port}/console")[0] in (200, 303, 307)
    assert get(f"http://127.0.0.1:{console_port}/console/")[0] in (200, 303)
    # The console unlocked from HAVEN_PASSPHRASE at its first request.
    get(f"http://127.0.0.1:{console_port}/console/login")

    public, console = listener_pid(port), listener_pid(console_port)
    assert public is not None and console is not None and public != console
    key = private_key(data_dir, secret)
    needles = (secret.encode(), key, crypto._b64(key).encode(), key.hex().encode())

    env = environment(public)
    assert "HAVEN_PASSPHRASE" not in env
    assert not any(secret in value for value in env.values())
    assert memory_holds(public, *needles) == set()
    # The same search finds both in the console's process: it would find them in the intake.
    assert "HAVEN_PASSPHRASE" in environment(console)
    assert {secret.encode(), key} <= memory_holds(console, *needles)

    # Ctrl-C stops both.
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(30)
    time.sleep(0.5)
    assert listener_pid(port) is None and listener_pid(console_port) is None


def test_an_intake_that_sees_the_passphrase_refuses_to_start(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var")
    crypto.init_keys(tmp_path / "var" / "keys", environ["HAVEN_PASSPHRASE"], "interactive")
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "haven"), "serve"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "HAVEN_PASSPHRASE is set" in out.stderr and out.stderr.count("\n") == 1


def test_the_intake_cannot_unlock_the_case_key(tmp_path: Path) -> None:
    """No code path of the intake loads case.key: once it has refused private keys, every
    way in (unlock, rotate, unwrap) fails, whatever the passphrase."""
    secret = "right passphrase 123"
    crypto.init_keys(tmp_path / "keys", secret, "interactive")
    code = (
        "import sys; from pathlib import Path; from haven import crypto\n"
        "crypto.refuse_private_keys()\n"
        "for call in (lambda: crypto.unlock(Path(sys.argv[1]), sys.argv[2]),\n"
        "             lambda: crypto.rotate(Path(sys.argv[1]), sys.argv[2]),\n"
        "             lambda: crypto.add_audit_key(Path(sys.argv[1]), sys.argv[2])):\n"
        "    try:\n"
        "        call(); print('UNLOCKED')\n"
        "    except crypto.PrivateKeysRefused:\n"
        "        print('refused')\n"
    )
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code, str(tmp_path / "keys"), secret],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == ["refused"] * 3, out.stderr
    # The same calls unlock in a process that has not refused (the console).
    assert crypto.unlock(tmp_path / "keys", secret).audit_key is not None
    assert b64decode(crypto._b64(b"x")) == b"x"


PEEKER = """
import os, sys, time
pid = int(sys.argv[1])
try:
    open(f"/proc/{pid}/environ", "rb").read()
    print("READ")
except PermissionError:
    print("REFUSED")
"""

#: haven.hardening's own source runs in the holder: user nobody may not be able to read the
#: checkout (a clone under /root, say).
HOLDER = (
    (ROOT / "haven" / "hardening.py").read_text()
    + """
import time
if sys.argv[1] == "refuse":
    refuse_inspection()
print("ready", flush=True)
time.sleep(30)
"""
)


@pytest.mark.parametrize("holder", ["refuse", "plain"])
def test_a_process_of_the_same_user_cannot_read_the_console(holder: str) -> None:
    """The console (and ``haven run``) are non-dumpable: another process of the same user,
    such as a compromised intake on the same host, cannot read their environment."""
    python = "/usr/bin/python3"  # one that user nobody may run (Debian's)
    if os.geteuid() != 0 or not os.access(python, os.X_OK):
        pytest.skip("needs root and Debian's python3 to run both sides as another user")

    def as_nobody() -> None:
        os.setgid(65534)
        os.setuid(65534)

    proc = subprocess.Popen(
        [python, "-c", HOLDER, holder],
        stdout=subprocess.PIPE,
        preexec_fn=as_nobody,
        cwd=ROOT,
        env={"HAVEN_PASSPHRASE": "held secret 42"},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        out = subprocess.run(
            [python, "-c", PEEKER, str(proc.pid)],
            capture_output=True,
            text=True,
            timeout=30,
            preexec_fn=as_nobody,
            cwd="/",
        )
        assert out.stdout.strip() == ("REFUSED" if holder == "refuse" else "READ"), out.stderr
    finally:
        proc.kill()
        proc.wait()
