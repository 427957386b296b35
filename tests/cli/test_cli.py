"""The ``haven`` command as a user runs it: real subprocesses, real store."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Env, make_environ
from tests.pg import free_port
from tests.steps import haven

KOREAN_CONVERSATION = (
    "\n".join(
        [
            "1",  # 조선인민군 군인
            "2",  # 여럿이 함께
            "4",
            "2",  # 부상자 없음
            "쿠르스크 전선, 수드샤 근처",
            "/skip",
            "/skip",
            "이 대화창으로, 저녁에",
            "1",  # 동의
            "1",  # 보냅니다
        ]
    )
    + "\n"
)


def test_korean_chat_then_case_show_then_audit(env: Env) -> None:
    chat = haven(env.environ, "chat", "--lang", "ko", stdin=KOREAN_CONVERSATION)
    assert chat.returncode == 0, chat.stderr
    match = re.search(r"신청번호: (\S{4}-\S{4}-\S)", chat.stdout)
    assert match, chat.stdout
    phrase = re.search(r"암호말: (\S+ \S+)", chat.stdout)
    assert phrase and "무기는 두고 오십시오" in chat.stdout
    show = haven(env.environ, "case", "show", match.group(1).lower())
    assert show.returncode == 0, show.stderr
    for korean in (
        "조선인민군 군인",
        "쿠르스크 전선, 수드샤 근처",
        "이 대화창으로, 저녁에",
        "인원수: 4",
    ):
        assert korean in show.stdout
    assert phrase.group(1) in show.stdout and "Cyrillic:" in show.stdout
    verify = haven(env.environ, "audit", "verify")
    assert verify.returncode == 0 and "2 events" in verify.stdout  # submitted + read


def test_audit_verify_names_the_edited_row(sqlite_env: Env) -> None:
    for _ in range(3):
        chat = haven(sqlite_env.environ, "chat", "--lang", "ko", stdin=KOREAN_CONVERSATION)
        assert chat.returncode == 0
    db = sqlite_env.settings.data_dir / "haven.db"
    with sqlite3.connect(db) as conn:
        conn.execute('UPDATE audit SET detail = \'{"channel": "web"}\' WHERE id = 2')
    verify = haven(sqlite_env.environ, "audit", "verify")
    assert verify.returncode == 1
    assert "BROKEN at event 2" in verify.stderr and "1 events before it" in verify.stderr


def test_wrong_or_unknown_case_reference(sqlite_env: Env) -> None:
    out = haven(sqlite_env.environ, "case", "show", "ABCD-EFGH-X")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "check character" in out.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"HAVEN_PORT": "eighty"}, "malformed setting HAVEN_PORT"),
        ({"HAVEN_PROT": "8000"}, "unknown setting HAVEN_PROT"),
        ({"HAVEN_KDF_LEVEL": "weak"}, "malformed setting HAVEN_KDF_LEVEL"),
        ({"HAVEN_DEFAULT_LANG": "kr"}, "malformed setting HAVEN_DEFAULT_LANG"),
    ],
)
def test_bad_settings_fail_with_one_line(tmp_path: Path, extra: dict, expected: str) -> None:
    environ = make_environ(tmp_path / "var") | extra
    out = haven(environ, "db", "upgrade")
    assert out.returncode == 2
    assert out.stderr.startswith(f"haven: {expected}") and out.stderr.count("\n") == 1


def test_refuses_world_readable_keys(sqlite_env: Env) -> None:
    os.chmod(sqlite_env.settings.keys_dir / "case.key", 0o644)
    intake = {k: v for k, v in sqlite_env.environ.items() if k != "HAVEN_PASSPHRASE"}
    for args in (("chat",), ("serve",), ("init", "--if-missing")):
        out = haven(intake if args == ("serve",) else sqlite_env.environ, *args)
        assert out.returncode == 2, args
        assert "readable by others" in out.stderr and out.stderr.count("\n") == 1


def test_init_makes_a_passphrase_when_none_is_given(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var")
    del environ["HAVEN_PASSPHRASE"]
    out = haven(environ, "init")
    assert out.returncode == 0
    # Never on standard output (a service manager's journal keeps it): in a 0600 file.
    written = tmp_path / "var" / "passphrase.txt"
    secret = written.read_text().strip()
    assert re.fullmatch(r"\S{5}(?:-\S{5}){4}", secret)
    assert secret not in out.stdout + out.stderr and str(written) in out.stdout
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    environ["HAVEN_PASSPHRASE"] = secret
    assert haven(environ, "db", "upgrade").returncode == 0
    assert haven(environ, "keys", "rotate").returncode == 0
    assert haven(environ, "init", "--if-missing").returncode == 0
    assert haven(environ, "init").returncode == 2


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var")
    assert haven(environ, "init").returncode == 0
    out = haven(environ, "chat", stdin="")
    assert out.returncode == 2 and "haven db upgrade" in out.stderr


def test_serve_answers_on_loopback_and_stops(sqlite_env: Env) -> None:
    port = free_port()
    environ = sqlite_env.environ | {"HAVEN_PORT": str(port)}
    del environ["HAVEN_PASSPHRASE"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "haven", "serve"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-store"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
