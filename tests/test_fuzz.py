"""Random input of every shape through the real intake app (haven serve's, in process over
ASGI, its lifespan running: the Telegram webhook route, the outbox worker, the web intake):
never a 5xx, never a log line with an input's value or an unhandled exception, and a genuine
applicant is still answered afterwards. ``bench/fuzz.py`` does the same against a running
``haven serve``; a short run of it is the last test here."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven import crypto, logs
from haven.server import create_app
from haven.services.admin import prepare_database
from haven.settings import load_settings
from haven.store.db import Store
from tests.conftest import PASSPHRASE, make_environ
from tests.telegram.fakebot import TOKEN, FakeBotAPI
from tests.web.conftest import KOREAN_APPLICATION

ROOT = Path(__file__).resolve().parent.parent
#: In every string made here: a log line holding it holds an input's value.
MARK = "qzx"
SECRET = "fuzz-secret-0123456789"
HOOK = "/tg/hook"
T = TypeVar("T")


class Captured(logging.Handler):
    """Every log line, formatted as haven formats them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logs.SafeFormatter(logs.FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def unhandled(self) -> list[str]:
        return [
            line
            for line in self.lines
            if " ERROR " in line or " CRITICAL " in line or "not logged" in line
        ]

    def with_values(self) -> list[str]:
        return [line for line in self.lines if MARK in line]


class Server:
    """The intake app with its lifespan and the fake Bot API, on an event loop in a thread
    of its own, so that hypothesis drives it from a plain test function."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = AsyncExitStack()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.fake = await FakeBotAPI().start()
        self.stack.push_async_callback(self.fake.stop)
        environ = make_environ(self.data_dir) | {
            "HAVEN_TELEGRAM_TOKEN": TOKEN,
            "HAVEN_TELEGRAM_API": self.fake.base,
            "HAVEN_TELEGRAM_WEBHOOK_URL": "https://hotline.example" + HOOK,
            "HAVEN_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "HAVEN_INTAKE_PER_CHAT_LIMIT": "1000/minute",
            "HAVEN_INTAKE_GLOBAL_LIMIT": "10000/second",
            "HAVEN_WEB_SESSION_LIMIT": "100000/minute",
            "HAVEN_WEB_GLOBAL_LIMIT": "100000/second",
            "HAVEN_OUTBOX_RATE": "1000",
            "HAVEN_OUTBOX_PER_CHAT_RATE": "100",
        }
        cfg = load_settings(environ)
        crypto.init_keys(cfg.keys_dir, PASSPHRASE, "interactive")
        store = Store(cfg.db_url)
        await prepare_database(store, cfg.keys_dir)
        await store.close()
        app = create_app(cfg)
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
        self.stack.push_async_callback(self.client.aclose)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    def stop(self) -> None:
        self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    # -- what the tests send -------------------------------------------------------------

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, with no cookie but the ones given (the client keeps none)."""
        self.client.cookies.clear()
        return self.run(self.client.request(method, path, **kwargs))

    def hook(self, content: bytes) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"}
        return self.post(HOOK, content=content, headers=headers).status_code

    def answered(self, chat_id: int, within: float = 30) -> bool:
        """A genuine applicant writes /start: does the bot answer him?"""
        update = {
            "update_id": 2**31 + chat_id,
            "message": {"message_id": 1, "date": int(time.time()), "text": "/start",
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "A"}},
        }  # fmt: skip
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert self.post(HOOK, json=update, headers=headers).status_code == 200
        deadline = time.monotonic() + within
        while not self.fake.to(chat_id):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("haven").level)
    logs.configure("INFO")
    server = Server(tmp_path_factory.mktemp("fuzz") / "var")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("haven").setLevel(saved[2])


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


# -- strategies --------------------------------------------------------------------------

marked = st.builds(lambda a, b: a + MARK + b, st.text(max_size=40), st.text(max_size=40))
long_marked = st.integers(1, 70_000).map(lambda n: "가" * n + MARK)
texts = st.one_of(marked, long_marked, st.sampled_from(["/start", "/help", "/forget", "/lang"]))
ints = st.one_of(st.integers(1, 10**6), st.integers(), st.sampled_from([0, -1, 2**63, 10**40]))
scalars = st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=False), marked)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(marked, inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
anything = st.one_of(json_values, texts, ints)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes any value at all."""
    return st.one_of(strategy, strategy, strategy, anything)


def shaped(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    fields = st.fixed_dictionaries(
        {k: maybe(v) for k, v in required.items()},
        optional={**{k: maybe(v) for k, v in optional.items()}, MARK: json_values},
    )
    return st.one_of(fields, fields, fields, json_values)


chat_ids = st.integers(1, 10**7)
chats = shaped(
    {"id": chat_ids, "type": st.sampled_from(["private", "private", "group", "channel"])},
    {"first_name": marked},
)
languages = st.one_of(st.sampled_from(["ar", "zh-hans", "zh-hant", "pt-br", "uz-cyrl", ""]), marked)
users = shaped(
    {"id": chat_ids, "is_bot": st.booleans(), "first_name": marked}, {"language_code": languages}
)
photos = st.lists(
    shaped(
        {"file_id": marked, "file_unique_id": marked, "width": ints, "height": ints},
        {"file_size": ints},
    ),
    max_size=3,
)
messages = shaped(
    {"message_id": ints, "date": st.sampled_from([0, 1, 1_800_000_000]), "chat": chats},
    {"from": users, "text": texts, "photo": photos, "caption": texts,
     "contact": shaped({"phone_number": marked, "first_name": marked}, {})},
)  # fmt: skip
callbacks = shaped(
    {"id": marked, "from": users, "chat_instance": marked},
    {"data": st.one_of(marked, st.sampled_from(["forget_yes", "lang:ko", "c:0"])),
     "message": messages},
)  # fmt: skip
kinds = {
    "message": messages,
    "edited_message": messages,
    "callback_query": callbacks,
    "channel_post": messages,
    "my_chat_member": json_values,
    "inline_query": json_values,
}
updates = st.one_of(
    *(
        st.fixed_dictionaries({"update_id": maybe(st.integers(1, 2**31)), kind: body})
        for kind, body in kinds.items()
    ),
    st.dictionaries(marked, json_values, max_size=3),
)


def encoded(update: Any) -> bytes:
    import json

    return json.dumps(update).encode()


raw_bodies = st.one_of(
    st.binary(max_size=300),
    marked.map(str.encode),
    json_values.map(encoded),
    st.integers(1, 100_000).map(lambda n: b"[" * n),
)

# -- the webhook -------------------------------------------------------------------------


def test_random_updates_through_the_webhook(server: Server, captured: Captured) -> None:
    @settings(max_examples=300, suppress_health_check=list(HealthCheck))
    @given(update=updates)
    def post_update(update: Any) -> None:
        assert server.hook(encoded(update)) == 200

    @settings(max_examples=60, suppress_health_check=list(HealthCheck))
    @given(body=raw_bodies)
    def post_raw(body: bytes) -> None:
        assert server.hook(body) == 200

    post_update()
    post_raw()
    assert captured.unhandled() == []
    assert captured.with_values() == []
    assert any("event=update_unparsed update=" in line for line in captured.lines)
    assert server.answered(990_000_001)


def test_an_update_that_does_not_parse_is_noted_by_its_id_alone(
    server: Server, captured: Captured
) -> None:
    body = b'{"update_id": 4242, "message": {"chat": "' + MARK.encode() + b' secret text"}}'
    assert server.hook(body) == 200
    assert server.hook(b'{"update_id": "' + MARK.encode() + b'"}') == 200
    unparsed = [line for line in captured.lines if "update_unparsed" in line]
    assert len(unparsed) == 2
    assert unparsed[0].endswith("update=4242") and unparsed[1].endswith("update=None")
    assert captured.with_values() == []


# -- the web -----------------------------------------------------------------------------

segments = st.one_of(
    st.sampled_from(["", ".", "..", "return", "style.css", "healthz", "console", "tg", "%ff"]),
    marked.map(lambda s: re.sub(r"[^A-Za-z0-9._~-]", lambda m: f"%{ord(m[0]) % 256:02X}", s)),
)
paths = st.lists(segments, max_size=4).map(lambda parts: "/" + "/".join(parts))
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
field_names = st.one_of(
    st.sampled_from(["choice", "cmd", "text", "c", "l", "a", "r", "p", "t", "csrf"]), marked
)
field_values = st.one_of(
    marked,
    st.sampled_from(["ko", "ru", "kpa", "yes", "skip", "confirm", "open", "send", "erase",
                     "erase_yes", "lang", "restart", "forget"]),
)  # fmt: skip
forms = st.dictionaries(field_names, field_values, max_size=6)
cookies = st.sampled_from(["none", "real", "forged"])


def test_random_paths_and_forms_on_the_web(server: Server, captured: Captured) -> None:
    landing = server.request("GET", "/")
    cookie = landing.cookies["s"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', landing.text)
    assert csrf is not None

    @settings(max_examples=150, suppress_health_check=list(HealthCheck))
    @given(method=methods, path=paths, query=st.one_of(st.just(""), marked))
    def visit(method: str, path: str, query: str) -> None:
        params = {"c": query, "l": query} if query else None
        url = "http://127.0.0.1" + path
        assert server.request(method, url, params=params).status_code < 500

    @settings(max_examples=250, suppress_health_check=list(HealthCheck))
    @given(
        target=st.sampled_from(["/", "/return"]),
        fields=forms,
        with_csrf=st.booleans(),
        which=cookies,
        multipart=st.booleans(),
    )
    def post_form(
        target: str, fields: dict[str, str], with_csrf: bool, which: str, multipart: bool
    ) -> None:
        if with_csrf:
            fields = {**fields, "csrf": csrf.group(1)}
        headers = {"cookie": {"none": "", "real": f"s={cookie}", "forged": f"s=b{MARK}.0"}[which]}
        kwargs: dict[str, Any] = {"data": fields, "headers": headers}
        if multipart:
            kwargs["files"] = {"photo": (MARK + ".jpg", MARK.encode() * 50, "image/jpeg")}
        assert server.post(target, **kwargs).status_code < 500

    visit()
    post_form()
    assert captured.unhandled() == []
    assert captured.with_values() == []
    # A genuine applicant still gets through the questionnaire.
    page = server.request("GET", "/", headers={"accept-language": "ko"})
    applicant = page.cookies["s"]
    for fields in KOREAN_APPLICATION:
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        data = {**fields, "csrf": token.group(1)}
        page = server.post("/", data=data, headers={"cookie": f"s={applicant}"})
        assert page.status_code == 200, page.text
        applicant = page.cookies.get("s") or applicant
    assert 'name="choice" value="confirm"' in page.text  # the summary, to confirm


# -- bench/fuzz.py against a running haven serve -----------------------------------------


def test_bench_fuzz_against_haven_serve() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--count", "3000", "--seed", "7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = dict(
        line.split(":", 1) for line in done.stdout.splitlines() if line and line[0] != " "
    )
    assert figures["answered 5xx"].strip() == "0"
    assert figures["unhandled exceptions"].strip().startswith("0 ")
    assert figures["input values in log"].strip().startswith("0 ")


# -- bad answers in every language --------------------------------------------------------


def test_bad_answers_get_a_polite_answer_in_each_language(server: Server) -> None:
    """A wrong answer, in any of the twelve languages, is answered in that language: what is
    expected, and the question again."""
    from html import unescape

    from haven.content import LANGS, gettext_for
    from haven.flows.engine import M_NUMBER

    sessions: dict[str, tuple[str, str]] = {}
    for lang in LANGS:  # each language's applicant, at the question that wants a number
        page = server.request("GET", "/")
        cookie = page.cookies["s"]
        for fields in ({"choice": lang}, {"choice": "other_army"}, {"choice": "group"}):
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            page = server.post("/", data={**fields, "csrf": token.group(1)},
                               headers={"cookie": f"s={cookie}"})  # fmt: skip
            cookie = page.cookies.get("s") or cookie
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None and 'inputmode="numeric"' in page.text
        sessions[lang] = (cookie, token.group(1))

    no_number = st.text(max_size=60).filter(lambda s: not any(c.isdigit() for c in s))
    bad = st.one_of(no_number, st.integers(101, 10**9).map(str), st.integers(-99, 1).map(str))

    @settings(max_examples=120, suppress_health_check=list(HealthCheck))
    @given(lang=st.sampled_from(LANGS), text=bad, as_choice=st.booleans())
    def answer(lang: str, text: str, as_choice: bool) -> None:
        cookie, csrf = sessions[lang]
        fields = {"choice" if as_choice and text else "text": text, "csrf": csrf}
        page = server.post("/", data=fields, headers={"cookie": f"s={cookie}"})
        assert page.status_code == 200
        said = unescape(page.text)
        assert gettext_for(lang)(M_NUMBER).format(min=2, max=100) in said
        assert f'<html lang="{lang}"' in page.text

    answer()
