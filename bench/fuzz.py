"""Random inputs of every shape against a running ``haven serve``: nothing may answer 5xx or
leave an unhandled exception, or any of the inputs' values, in the server's log.

    .venv/bin/python bench/fuzz.py [--count 100000] [--seed 1] [--concurrency 24]

It starts ``haven serve`` as a subprocess on 127.0.0.1 (fresh keys and SQLite database, the
passphrase only for ``haven init``), in webhook mode with a secret, its Bot API pointed at the
fake server of tests/telegram/fakebot.py in this process. Then it sends ``--count`` random
inputs, about 60% Telegram updates through the webhook (messages, edits, callbacks with
made-up data, other update kinds, unknown fields, wrong types, huge strings, arbitrary
unicode, broken JSON, a wrong secret now and then), 25% web form posts (to ``/`` and
``/return``, with no cookie, a forged one, or a real session and its CSRF token; url-encoded,
multipart or neither) and 15% random paths and methods. Every string it makes carries a
marker, so that a value of an input in the log is found.

At the end a genuine applicant writes ``/start`` to the bot and starts the web questionnaire.
It prints how many inputs were sent, the statuses, how many got a 5xx, how many log lines are
an unhandled exception (ERROR or CRITICAL lines, tracebacks) and how many carry an input's
value; it exits 1 unless the last three are 0 and the applicant was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import free_port  # noqa: E402
from tests.processes import stop  # noqa: E402
from tests.telegram.fakebot import TOKEN, FakeBotAPI  # noqa: E402

PASSPHRASE = "fuzz passphrase, long enough"
SECRET = "fuzz-secret-" + secrets.token_hex(8)
HOOK = "/tg/hook"
#: In every string the fuzzer makes: a log line holding it holds an input's value.
MARK = "qzx"
#: The genuine applicant's chat, far from the fuzz's.
APPLICANT_CHAT = 990_000_001
UNICODE_POOLS = [
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x400, 0x4FF),
    (0xAC00, 0xD7A3),
    (0x1F300, 0x1F6FF),
    (0x0, 0x1F),
    (0x200B, 0x206F),
    (0xFFF0, 0xFFFF),
    (0x10000, 0x10FFFF),
]


# --- random values --------------------------------------------------------------------------


class Gen:
    """Random values of every shape, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def text(self, size: int | None = None) -> str:
        r = self.r
        if size is None:
            size = r.choice([0, 1, 3, 10, 40, 200, 2000]) if not self.chance(0.01) else 200_000
        lo, hi = r.choice(UNICODE_POOLS)
        chars = []
        for _ in range(min(size, 400)):
            c = r.randint(lo, hi)
            if 0xD800 <= c <= 0xDFFF:
                c = 0xFFFD
            chars.append(chr(c))
        body = "".join(chars)
        if size > 400:
            body = (body * (size // max(1, len(body)) + 1))[:size]
        if r.random() < 0.2:
            body = r.choice(["/start", "/help", "/forget", "/verify", "/lang", "/start "]) + body
        cut = r.randint(0, len(body))
        return body[:cut] + MARK + body[cut:]

    def integer(self) -> int:
        return self.r.choice(
            [0, -1, 1, 2**31, 2**53 + 1, 2**63, -(2**63), 10**30, self.r.randint(-1000, 10**12)]
        )

    def scalar(self) -> Any:
        r = self.r.random()
        if r < 0.3:
            return self.text()
        if r < 0.6:
            return self.integer()
        if r < 0.7:
            return self.r.choice([1.5, -0.0, 1e308, 3.0])
        if r < 0.8:
            return self.r.choice([True, False])
        return None

    def value(self, depth: int = 0) -> Any:
        if depth > 3 or self.chance(0.6):
            return self.scalar()
        if self.chance(0.5):
            return [self.value(depth + 1) for _ in range(self.r.randint(0, 4))]
        return {self.text(8): self.value(depth + 1) for _ in range(self.r.randint(0, 4))}

    # -- Telegram ------------------------------------------------------------------------

    def chat_id(self) -> int:
        return self.r.randint(1, 5000) if self.chance(0.9) else self.integer()

    def user(self, uid: int) -> dict[str, Any]:
        return {"id": uid, "is_bot": self.chance(0.05), "first_name": self.text(6)}

    def message(self) -> dict[str, Any]:
        cid = self.chat_id()
        kind = self.r.choice(["private"] * 6 + ["group", "supergroup", "channel", self.text(4)])
        msg: dict[str, Any] = {
            "message_id": self.r.randint(1, 10**6),
            "date": self.r.choice([int(time.time()), 0, 1]),
            "chat": {"id": cid, "type": kind},
            "from": self.user(cid),
        }
        extra = self.r.choice(["text", "text", "text", "photo", "sticker", "contact", "location",
                               "document", "voice", "caption", "reply", "none"])  # fmt: skip
        if extra == "text":
            msg["text"] = self.text()
            if self.chance(0.2):
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
        elif extra == "photo":
            msg["photo"] = [
                {"file_id": self.text(10), "file_unique_id": self.text(5),
                 "width": self.r.randint(1, 5000), "height": 90,
                 "file_size": self.r.choice([None, 10, 10**9])}
                for _ in range(self.r.randint(0, 3))
            ]  # fmt: skip
        elif extra == "sticker":
            msg["sticker"] = {"file_id": self.text(5), "file_unique_id": "s", "type": "regular",
                              "width": 1, "height": 1, "is_animated": False,
                              "is_video": False}  # fmt: skip
        elif extra == "contact":
            msg["contact"] = {"phone_number": self.text(12), "first_name": self.text(4)}
        elif extra == "location":
            msg["location"] = {"latitude": self.r.uniform(-90, 90), "longitude": 37.6}
        elif extra == "document":
            msg["document"] = {"file_id": self.text(9), "file_unique_id": "d"}
        elif extra == "voice":
            msg["voice"] = {"file_id": self.text(9), "file_unique_id": "v", "duration": 3}
        elif extra == "caption":
            msg["caption"] = self.text()
        elif extra == "reply":
            msg["text"] = self.text()
            msg["reply_to_message"] = {"message_id": 1, "date": 1, "chat": dict(msg["chat"])}
        return msg

    def callback(self) -> dict[str, Any]:
        cid = self.chat_id()
        query: dict[str, Any] = {
            "id": self.text(8),
            "from": self.user(cid),
            "chat_instance": self.text(5),
            "data": self.r.choice(
                [self.text(), "forget_yes", "lang:ko", "c:0", "c:" + self.text(10), "x" * 64]
            ),
        }
        if self.chance(0.8):
            query["message"] = {
                "message_id": self.r.randint(1, 10**6),
                "date": self.r.choice([0, int(time.time())]),  # 0: an inaccessible message
                "chat": {"id": cid, "type": self.r.choice(["private", "group"])},
            }
        return query

    def update(self) -> dict[str, Any]:
        r = self.r
        others = ["channel_post", "my_chat_member", "inline_query", "poll", self.text(6)]
        kind = r.choice(["message"] * 4 + ["edited_message", "callback_query"] * 2 + others)
        body: Any
        if kind in ("message", "edited_message", "channel_post"):
            body = self.message()
        elif kind == "callback_query":
            body = self.callback()
        else:
            body = self.value()
        update: dict[str, Any] = {"update_id": r.randint(1, 2**31), kind: body}
        for _ in range(r.choice([0, 0, 0, 1, 3])):
            self.mutate(update)
        return update

    def mutate(self, obj: dict[str, Any]) -> None:
        """Change one thing somewhere in the tree: a wrong type, a missing or unknown field."""
        node: Any = obj
        while True:
            children = [k for k, v in node.items() if isinstance(v, dict)]
            if not children or self.chance(0.4):
                break
            node = node[self.r.choice(children)]
        action = self.r.random()
        if action < 0.4 and node:
            node[self.r.choice(list(node))] = self.value()
        elif action < 0.6 and node:
            del node[self.r.choice(list(node))]
        else:
            node[self.text(10)] = self.value()

    def webhook_body(self) -> tuple[bytes, str]:
        """A body for the webhook and its content type."""
        r = self.r.random()
        if r < 0.9:
            return json.dumps(self.update(), ensure_ascii=self.chance(0.5)).encode(), "json"
        choices: list[Callable[[], bytes]] = [
            lambda: b"[" * self.r.randint(1, 200_000),
            lambda: b"{" * 5000 + b"}" * 5000,
            lambda: json.dumps(self.value()).encode(),
            lambda: self.text().encode("utf-8", "surrogatepass"),
            lambda: bytes(self.r.randrange(256) for _ in range(self.r.randint(0, 300))),
            lambda: b'{"update_id": 1' + MARK.encode() + b"}",
            lambda: b'{"update_id": ' + b"9" * 5000 + b"}",
            lambda: ('{"update_id": 5, "message": "' + self.text() + '"}').encode(),
        ]
        return self.r.choice(choices)(), "raw"

    # -- the web -------------------------------------------------------------------------

    def path(self) -> str:
        r = self.r
        parts = []
        for _ in range(r.randint(0, 4)):
            piece = r.choice(["", ".", "..", "return", "style.css", "console", "healthz", "tg",
                              "hook", "%00", "%ff", "%2e%2e", "//", self.text(8)])  # fmt: skip
            parts.append(piece if piece.startswith("%") else quote(piece, safe="/.%"))
        path = "/" + "/".join(parts)
        if self.chance(0.4):
            query = "&".join(
                f"{quote(self.text(3))}={quote(self.text(6))}" for _ in range(r.randint(0, 3))
            )
            path += "?" + r.choice(
                [query, "c=" + quote(self.text(8)), "l=ko", "l=" + quote(self.text(3)), "%zz"]
            )
        return path

    def form(self, csrf: str | None) -> dict[str, Any]:
        names = ["choice", "cmd", "text", "c", "l", "a", "r", "p", "t", "photo", "csrf"]
        fields: dict[str, Any] = {}
        for _ in range(self.r.randint(0, 6)):
            name = self.r.choice(names) if self.chance(0.8) else self.text(5)
            fields[name] = self.r.choice(
                [self.text(), "ko", "ru", "kpa", "yes", "skip", "confirm", "open", "send",
                 "erase", "erase_yes", "lang", "restart", "forget", str(self.integer())]
            )  # fmt: skip
        if csrf is not None and self.chance(0.8):
            fields["csrf"] = csrf
        return fields


# --- the web sessions the fuzz holds ------------------------------------------------------

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class WebSession:
    cookie: str = ""
    csrf: str | None = None

    def learn(self, headers: Any, html: str) -> None:
        for value in headers.getall("set-cookie", []):
            name, _, rest = value.partition("=")
            if name.strip() == "s":
                self.cookie = rest.split(";", 1)[0]
        found = _CSRF.search(html)
        if found:
            self.csrf = found.group(1)


@dataclass
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: What the client library would not send (a control character in a header).
    unsendable: int = 0
    #: Closed by the server before it had the whole body: answered without reading it (a
    #: chunked multipart form gets 411 at once), which the client sees as a broken send.
    closed: Counter[str] = field(default_factory=Counter)
    #: No answer within the client's timeout: a server that hangs is a failure too.
    timeouts: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


# --- one run -----------------------------------------------------------------------------


class Fuzzer:
    def __init__(self, base: str, seed: int) -> None:
        self.base = base
        self.gen = Gen(seed)
        self.tally = Tally()
        self.sessions: list[WebSession] = []

    async def one(self, http: aiohttp.ClientSession) -> bool:
        """Send one random input; whether it reached the server."""
        try:
            await self._one(http)
        except ValueError:  # the client refused to send it (a control character)
            self.tally.unsendable += 1
            return False
        return True

    async def _one(self, http: aiohttp.ClientSession) -> None:
        g = self.gen
        r = g.r.random()
        if r < 0.6:
            kind = "telegram"
            body, shape = g.webhook_body()
            secret = SECRET if g.chance(0.97) else g.r.choice(["", "x", SECRET + "x"])
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            headers["content-type"] = "application/json" if shape == "json" else g.r.choice(
                ["application/json", "text/plain", "application/x-www-form-urlencoded"]
            )  # fmt: skip
            request = http.post(self.base + HOOK, data=body, headers=headers)
            session = None
        elif r < 0.85:
            kind = "web-form"
            session = self.session()
            cookie = {0: "", 1: "s=" + g.text(10), 2: "s=b" + "A" * 32 + "." + "0" * 32}.get(
                g.r.randint(0, 6), "s=" + session.cookie
            )  # fmt: skip
            fields = g.form(session.csrf)
            headers = {"cookie": quote(cookie, safe="=.;")} if cookie else {}
            if g.chance(0.3):
                headers["accept-language"] = g.r.choice(["ko", "ru;q=0.5", quote(g.text(20))])
            target = g.r.choice(["/", "/", "/return"])
            data: Any
            if g.chance(0.3):
                form = aiohttp.FormData()
                for name, value in fields.items():
                    if name == "photo":
                        form.add_field(name, os.urandom(g.r.randint(0, 2000)), filename=g.text(5))
                    else:
                        form.add_field(name, value)
                data = form
            elif g.chance(0.1):
                data = g.text().encode()
                headers["content-type"] = g.r.choice(
                    ["multipart/form-data; boundary=zz", "multipart/form-data",
                     "application/x-www-form-urlencoded", g.text(5)]
                )  # fmt: skip
            else:
                data = {k: v for k, v in fields.items() if k != "photo"}
            request = http.post(self.base + target, data=data, headers=headers)
        else:
            kind = "web-path"
            session = None
            method = g.r.choice(["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
            url = URL(self.base + g.path(), encoded=True)
            request = http.request(
                method, url, data=g.text().encode() if method == "POST" else None
            )
        self.tally.by_kind[kind] += 1
        try:
            async with request as response:
                html = await response.text(errors="replace")
                self.tally.sent += 1
                self.tally.statuses[response.status] += 1
                if session is not None:
                    session.learn(response.headers, html)
        except TimeoutError:
            self.tally.timeouts += 1
        except aiohttp.ClientError:
            self.tally.closed[kind] += 1
        except ValueError:  # refused by the client library before anything was sent
            self.tally.by_kind[kind] -= 1
            raise

    def session(self) -> WebSession:
        if len(self.sessions) < 40 or self.gen.chance(0.01):
            self.sessions.append(WebSession())
            if len(self.sessions) > 60:
                self.sessions.pop(0)
        return self.gen.r.choice(self.sessions)

    async def run(self, count: int, concurrency: int) -> None:
        left = count
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:
            # Real sessions to start with: a landing page each.
            for _ in range(40):
                session = WebSession()
                async with http.get(self.base + "/") as response:
                    session.learn(response.headers, await response.text())
                self.sessions.append(session)

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    if not await self.one(http):
                        left += 1  # another one in its place

            await asyncio.gather(*(worker() for _ in range(concurrency)))


async def genuine_applicant(base: str, fake: FakeBotAPI, wait: float) -> tuple[float, bool]:
    """A /start through the webhook and the first step of the web questionnaire: seconds
    until the bot's first answer reached the fake Bot API, and whether the web answered."""
    update = {
        "update_id": 2**31 + 7,
        "message": {"message_id": 1, "date": int(time.time()), "text": "/start",
                    "chat": {"id": APPLICANT_CHAT, "type": "private"},
                    "from": {"id": APPLICANT_CHAT, "is_bot": False, "first_name": "A"}},
    }  # fmt: skip
    start = time.monotonic()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(base + HOOK, json=update, headers=headers) as response:
            assert response.status == 200, response.status
        session = WebSession()
        async with http.get(base + "/", headers={"accept-language": "ko"}) as response:
            session.learn(response.headers, await response.text())
        data = {"csrf": session.csrf or "", "choice": "ko"}
        cookie = {"cookie": "s=" + session.cookie}
        async with http.post(base + "/", data=data, headers=cookie) as response:
            web_ok = response.status == 200 and 'name="csrf"' in await response.text()
    while not fake.to(APPLICANT_CHAT) and time.monotonic() - start < wait:  # noqa: ASYNC110 - the fake has no event for it
        await asyncio.sleep(0.05)
    waited = time.monotonic() - start if fake.to(APPLICANT_CHAT) else float("inf")
    return waited, web_ok


def haven(args: list[str], environ: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "haven", *args], env=environ, check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip


async def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("haven serve did not start")
            await asyncio.sleep(0.2)


@dataclass
class LogFindings:
    lines: int
    exceptions: list[str]
    values: list[str]
    events: Counter[str]


_EVENT = re.compile(r" event=(\w+)")


def read_log(path: Path) -> LogFindings:
    lines = path.read_text(errors="replace").splitlines()
    exceptions = [
        line
        for line in lines
        if " ERROR " in line or " CRITICAL " in line or "Traceback" in line
        or "(message not logged)" in line
    ]  # fmt: skip
    values = [line for line in lines if MARK in line]
    events = Counter(m.group(1) for line in lines for m in [_EVENT.search(line)] if m)
    return LogFindings(len(lines), exceptions, values, events)


async def start_serve(
    tmp: Path, port: int, settings: dict[str, str]
) -> tuple[subprocess.Popen[bytes], Path]:
    """Fresh keys and database in ``tmp`` (``haven init`` and ``haven db upgrade``, the only
    ones given the passphrase), then ``haven serve`` on 127.0.0.1:``port`` with ``settings``,
    its output in a log file; once it answers, its process and the log's path."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    environ |= {"HAVEN_DATA_DIR": str(tmp / "var"), "HAVEN_KDF_LEVEL": "interactive"}
    await asyncio.to_thread(haven, ["init"], environ | {"HAVEN_PASSPHRASE": PASSPHRASE})
    await asyncio.to_thread(haven, ["db", "upgrade"], environ | {"HAVEN_PASSPHRASE": PASSPHRASE})
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the event loop's work
            [sys.executable, "-m", "haven", "serve"],
            env=environ | {"HAVEN_PORT": str(port), **settings},
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await wait_up(f"http://127.0.0.1:{port}", proc)
    except BaseException:
        stop(proc)
        raise
    return proc, log_path


async def fuzz(count: int, seed: int, concurrency: int, tmp: Path) -> int:
    fake = await FakeBotAPI().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {
        "HAVEN_TELEGRAM_TOKEN": TOKEN,
        "HAVEN_TELEGRAM_API": fake.base,
        "HAVEN_TELEGRAM_WEBHOOK_URL": base + HOOK,
        "HAVEN_TELEGRAM_WEBHOOK_SECRET": SECRET,
        # Limits high enough that the inputs reach the code behind them.
        "HAVEN_INTAKE_PER_CHAT_LIMIT": "1000/minute",
        "HAVEN_INTAKE_GLOBAL_LIMIT": "10000/second",
        "HAVEN_WEB_SESSION_LIMIT": "100000/minute",
        "HAVEN_WEB_GLOBAL_LIMIT": "100000/second",
        "HAVEN_OUTBOX_RATE": "3000",
        "HAVEN_OUTBOX_PER_CHAT_RATE": "100",
    }
    try:
        proc, log_path = await start_serve(tmp, port, settings)
    except BaseException:
        await fake.stop()
        raise
    fuzzer = Fuzzer(base, seed)
    try:
        started = time.monotonic()
        await fuzzer.run(count, concurrency)
        seconds = time.monotonic() - started
        waited, web_ok = await genuine_applicant(base, fake, wait=120)
        alive = proc.poll() is None
    finally:
        stop(proc)
        await fake.stop()
    found = read_log(log_path)
    t = fuzzer.tally
    reached = t.sent + t.closed.total() + t.timeouts
    print(f"inputs sent:            {reached} in {seconds:.0f} s ({reached / seconds:.0f}/s)")
    print(f"  by kind:              {dict(sorted(t.by_kind.items()))}")
    print(f"  statuses:             {dict(sorted(t.statuses.items()))}")
    print(f"  without an answer:    {t.timeouts} timed out; cut off by the server before the "
          f"whole body was sent: {dict(t.closed)}")  # fmt: skip
    print(f"  not sent:             {t.unsendable} more made, refused by the client library")
    print(f"answered 5xx:           {t.server_errors}")
    print(f"unhandled exceptions:   {len(found.exceptions)} log lines (of {found.lines})")
    print(f"input values in log:    {len(found.values)} log lines")
    print(f"  events in the log:    {dict(found.events.most_common(12))}")
    print(f"server still running:   {alive}")
    web = "answered" if web_ok else "NOT answered"
    print(f"applicant afterwards:   bot's first answer in {waited:.2f} s, web step {web}")
    for line in (found.exceptions + found.values)[:10]:
        print("  log:", line[:300])
    ok = (
        t.server_errors == 0
        and not found.exceptions
        and not found.values
        and alive
        and web_ok
        and waited < float("inf")
        and t.timeouts == 0
        and reached >= count
    )
    print("target (0 5xx, 0 unhandled exceptions, 0 values logged):", "holds" if ok else "FAILS")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the log")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="haven-fuzz-"))
    try:
        code = asyncio.run(fuzz(args.count, args.seed, args.concurrency, tmp))
    finally:
        if args.keep:
            print("data dir and log kept in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
