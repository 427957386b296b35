"""The console's metrics: Prometheus text that parses, figures that follow what the intake
did (through the real Telegram path), and no reference, chat id, name or text anywhere in
them, however hard one tries to put one there."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, update

from haven.services import metrics
from haven.services.metrics import UnknownMetric, flush, snapshot
from haven.services.ratelimit import Limiter, Rules
from haven.store.db import Store
from haven.store.models import Case, MetricCounter
from tests.conftest import Env
from tests.console.conftest import submit_case
from tests.telegram.conftest import Chat, eventually, make_runtime  # noqa: F401 - a fixture
from tests.telegram.fakebot import FakeBotAPI

CHAT_ID = 918273645
OTHER_CHAT = 564738291
NAME = "Olena-Plantedname"
WHERE = "Plantedhamlet by the river"


async def scrape(console, **client: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=console.app, **client)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        return await c.get("/console/metrics")


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = [
            (dict(s.labels), s.value)
            for s in family.samples
            if s.name.endswith(("_total", family.name))
        ]
    return out


async def test_the_figures_follow_the_intake_and_name_no_one(
    sqlite_env: Env,
    fake: FakeBotAPI,
    make_runtime,  # noqa: F811 - the fixture imported above
    make_console,
) -> None:
    env = sqlite_env
    metrics.TALLY.take()  # what earlier tests in this process counted
    # An applicant over Telegram, another who floods, a web case, an operator with a name.
    runtime = await make_runtime(env, intake_per_chat_limit="6/minute")
    chat = Chat(fake, CHAT_ID)
    await chat.say("/start")
    await chat.press("en")
    await chat.press("kpa")
    await chat.press("alone")
    await chat.press("no")
    await chat.say(WHERE)
    flooder = Chat(fake, OTHER_CHAT)
    for n in range(10):
        fake.message(OTHER_CHAT, f"flood {n}")
    await eventually(lambda: runtime.channel.ignored > 0, what="the flood guard")
    reference = await submit_case(env, channel="web", address="web-1")
    console = await make_console(env)
    admin = await console.user(NAME, "admin")
    limiter = Limiter(Rules.of(own="1/minute"), name="web")
    assert limiter.hit("session") == 0 and limiter.hit("session") > 0
    logging.getLogger("haven.telegram").addHandler(handler := metrics.ErrorCounter())
    try:
        logging.getLogger("haven.telegram").error("telegram event=test_error")
    finally:
        logging.getLogger("haven.telegram").removeHandler(handler)
    await eventually(lambda: len(flooder.received) >= 1, what="the flood notice")
    await eventually(lambda: fake.calls["sendmessage"] >= 8, what="the replies")
    await runtime.stop()
    # What this process counted reaches the table, where another process's store reads it.
    assert await flush(env.store) > 0
    reader = Store(env.settings.db_url)
    try:
        snap = await snapshot(reader)
    finally:
        await reader.close()
    assert snap.counters["intake_inputs"]["telegram"] >= 6
    assert snap.counters["intake_inputs"]["web"] >= 9
    assert snap.counters["outbox_sent"]["telegram"] >= 6
    assert snap.total("flood_mutes") >= 1
    assert snap.counters["rate_limit_refusals"]["web"] >= 1
    assert snap.counters["rate_limit_refusals"]["telegram"] >= 1
    assert snap.counters["errors"]["telegram"] >= 1

    page = await scrape(console)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=")
    found = families(page.text)
    cases = dict((labels["state"], value) for labels, value in found["haven_cases"])
    assert cases["submitted"] == 1 and cases["draft"] == 2 and set(cases) >= {"verified", "closed"}
    ((_, waited),) = found["haven_oldest_waiting_seconds"]
    assert 0 <= waited < 600
    sent = {labels["channel"]: v for labels, v in found["haven_outbox_sent"]}
    assert sent["telegram"] >= 6
    assert found["haven_errors"] and found["haven_rate_limit_refusals"]
    # Nothing that names anyone: not the reference, the chat ids, the name, what was said.
    forbidden = [reference, str(CHAT_ID), str(OTHER_CHAT), NAME, WHERE, "Planted"]
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            for value in sample.labels.values():
                assert all(f not in value for f in forbidden), (family.name, value)
    assert not [f for f in forbidden if f in page.text]
    # The admin's start page sums the same figures up.
    users = await admin.client.get("/console/users")
    assert users.status_code == 200 and "Waiting for an operator" in users.text
    assert "Refused by Telegram (429)" in users.text and reference not in users.text


async def test_an_identifier_never_becomes_a_label(sqlite_env: Env, make_console) -> None:
    env = sqlite_env
    metrics.TALLY.take()
    reference = await submit_case(env, channel="telegram", address=str(CHAT_ID))
    # A caller that passes a value from outside as a label: counted as "other".
    metrics.count("intake_inputs", str(CHAT_ID))
    metrics.count("rate_limit_refusals", reference)
    metrics.count("errors", NAME)
    with pytest.raises(UnknownMetric):
        metrics.count(f"cases_of_{reference}")
    await flush(env.store)
    # Whoever writes the database: a counter of their own, a label of their own, a state
    # that is a reference. None of it is shown.
    async with env.store.transaction() as s:
        await s.execute(
            insert(MetricCounter),
            [
                {"name": f"seen_{reference}", "label": "", "value": 1},
                {"name": "outbox_sent", "label": str(CHAT_ID), "value": 5},
                {"name": "flood_mutes", "label": NAME[:32], "value": 2},
            ],
        )
        await s.execute(update(Case).where(Case.reference == reference).values(state=reference))
    console = await make_console(env)
    page = await scrape(console)
    assert page.status_code == 200
    text = page.text
    assert reference not in text and str(CHAT_ID) not in text and NAME not in text
    found = families(text)
    inputs = {labels["channel"]: v for labels, v in found["haven_intake_inputs"]}
    assert inputs["other"] == 1 and inputs["telegram"] >= 9
    assert {labels["channel"]: v for labels, v in found["haven_outbox_sent"]}["other"] == 5
    assert dict(found["haven_flood_mutes"][0][0]) == {} and found["haven_flood_mutes"][0][1] == 2
    assert not [name for name in found if "seen" in name]


async def test_metrics_answer_loopback_only(sqlite_env: Env, make_console) -> None:
    console = await make_console(sqlite_env)
    assert (await scrape(console)).status_code == 200
    assert (await scrape(console, client=("::1", 4000))).status_code == 200
    for client in (("203.0.113.7", 4000), ("10.0.0.2", 4000), ("192.168.1.5", 80)):
        assert (await scrape(console, client=client)).status_code == 404, client
    # Through a reverse proxy on the console host: the request comes from loopback, with a
    # forwarding header.
    transport = httpx.ASGITransport(app=console.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            r = await c.get("/console/metrics", headers={header: "203.0.113.7"})
            assert r.status_code == 404, header


async def test_the_figures_are_read_at_most_every_few_seconds(
    sqlite_env: Env, make_console
) -> None:
    console = await make_console(sqlite_env)
    first = await scrape(console)
    await submit_case(sqlite_env, address="later")
    again = await scrape(console)
    assert 'haven_cases{state="submitted"} 0.0' in first.text
    assert again.text == first.text  # the cached figures, not a new count
    console.state.extra["figures"].ttl = 0
    fresh = await scrape(console)
    assert 'haven_cases{state="submitted"} 1.0' in fresh.text


async def test_the_intake_process_hands_its_counts_to_the_console(sqlite_env: Env) -> None:
    """The intake process (``haven serve``'s app) writes what it counted, and the errors
    logged while it ran, where the console reads them."""
    from haven.server import create_app

    metrics.TALLY.take()
    app = create_app(sqlite_env.settings)
    async with app.router.lifespan_context(app):
        metrics.count("outbox_throttled", "telegram", 3)
        logging.getLogger("haven.web").error("web event=test_error")
    reader = Store(sqlite_env.settings.db_url)
    try:
        snap = await snapshot(reader)
    finally:
        await reader.close()
    assert snap.counters["outbox_throttled"]["telegram"] == 3
    assert snap.counters["errors"]["web"] == 1
    assert not [
        h for h in logging.getLogger("haven").handlers if isinstance(h, metrics.ErrorCounter)
    ]
