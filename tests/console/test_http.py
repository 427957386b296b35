"""HTTP-level tests of the console: the role matrix, CSRF, lockout, session expiry, headers."""

from __future__ import annotations

import asyncio
import re

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from haven.console.app import ROUTERS
from haven.store import audit
from haven.store.models import AuditEvent, Case
from tests.console.conftest import PASSWORD, csrf_of, submit_case

OP, CO, AN, AD, TR, FR = "operator", "coordinator", "analyst", "admin", "translator", "front"
EVERY = frozenset({OP, CO, AN, AD, TR, FR})

#: Every route that needs a full session, and exactly the roles it admits.
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): EVERY,
    ("GET", "/account"): EVERY,
    ("POST", "/account"): EVERY,
    ("GET", "/locked"): EVERY,
    ("GET", "/queue"): frozenset({OP}),
    ("POST", "/queue/next"): frozenset({OP}),
    ("GET", "/cases/{reference}"): frozenset({OP}),
    ("GET", "/cases/{reference}/latest"): frozenset({OP}),
    ("GET", "/cases/{reference}/messages"): frozenset({OP}),
    ("POST", "/cases/{reference}/reply"): frozenset({OP}),
    ("POST", "/cases/{reference}/note"): frozenset({OP}),
    ("POST", "/cases/{reference}/transition"): frozenset({OP}),
    ("POST", "/cases/{reference}/assign"): frozenset({OP}),
    ("POST", "/cases/{reference}/stage2"): frozenset({OP}),
    ("POST", "/cases/{reference}/flag"): frozenset({OP}),
    ("GET", "/call"): frozenset({OP}),
    ("POST", "/call/start"): frozenset({OP}),
    ("POST", "/call/answer"): frozenset({OP}),
    ("POST", "/cases/{reference}/voice-note"): frozenset({OP}),
    ("GET", "/handoffs"): frozenset({CO}),
    ("GET", "/handoffs/new/{reference}"): frozenset({CO}),
    ("POST", "/handoffs/new/{reference}"): frozenset({CO}),
    ("GET", "/handoffs/{handoff_id}"): frozenset({CO}),
    ("POST", "/handoffs/{handoff_id}/outcome"): frozenset({CO}),
    ("GET", "/handoffs/{handoff_id}/pow"): frozenset({CO}),
    ("GET", "/walkins"): frozenset({FR, CO}),
    ("POST", "/walkins"): frozenset({FR, CO}),
    ("GET", "/walkins/{walkin_id}"): frozenset({FR, CO}),
    ("GET", "/walkins/{walkin_id}/pow"): frozenset({FR, CO}),
    ("GET", "/stats"): frozenset({AN}),
    ("GET", "/stats.csv"): frozenset({AN}),
    ("GET", "/campaigns"): frozenset({AD}),
    ("POST", "/campaigns"): frozenset({AD}),
    ("GET", "/users"): frozenset({AD}),
    ("POST", "/users"): frozenset({AD}),
    ("POST", "/users/{user_id}/reset"): frozenset({AD}),
    ("POST", "/users/{user_id}/disable"): frozenset({AD}),
    ("GET", "/unlock"): frozenset({AD}),
    ("POST", "/unlock"): frozenset({AD}),
    ("GET", "/audit"): frozenset({AD}),
    ("POST", "/cases/{reference}/translate"): frozenset({OP}),
    ("GET", "/cases/{reference}/attachments/{attachment_id}"): frozenset({OP}),
    ("GET", "/translations"): frozenset({TR}),
    ("GET", "/translations/{task_id}"): frozenset({TR}),
    ("POST", "/translations/{task_id}"): frozenset({TR}),
}
#: Routes open without a session (login, setup) or with a half-open one (TOTP), and logout.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/setup/{token}"),
    ("POST", "/setup/{token}"),
    ("GET", "/totp"),
    ("POST", "/totp"),
    ("POST", "/logout"),
}
#: Routes for tools on the console host, answered to loopback only (tests/console/test_metrics.py).
LOOPBACK = {("GET", "/metrics")}


def fill(path: str, reference: str) -> str:
    return (
        path.replace("{reference}", reference)
        .replace("{handoff_id}", "999999")
        .replace("{walkin_id}", "999999")
        .replace("{user_id}", "999999")
        .replace("{task_id}", "0" * 32)
        .replace("{attachment_id}", "0" * 32)
    )


async def test_every_route_is_in_the_matrix(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    inner = console.app.routes[0].app
    # What the app serves (FastAPI may keep an included router's routes behind one entry)...
    served = {(m.upper(), path) for path, ops in inner.openapi()["paths"].items() for m in ops}
    # ...and what each area's router holds, hidden from the schema or not.
    routed = {
        (method, route.path)
        for area in ROUTERS
        for route in area.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert served == routed == set(MATRIX) | PUBLIC | LOOPBACK


async def test_role_matrix(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    reference = await submit_case(sqlite_env)
    users = {role: await console.user(f"u-{role}", role) for role in EVERY}
    anonymous = console.client()
    for (method, path), allowed in MATRIX.items():
        url = "/console" + fill(path, reference)
        for role, user in users.items():
            if method == "GET":
                r = await user.client.get(url)
            else:
                r = await user.post(url)
            denied = r.status_code == 403
            to_login = r.status_code == 303 and r.headers["location"].endswith("/login")
            assert not to_login, (method, path, role)
            assert denied == (role not in allowed), (method, path, role, r.status_code)
            assert r.status_code < 500, (method, path, role, r.text[:500])
        r = await (anonymous.get(url) if method == "GET" else anonymous.post(url))
        assert r.status_code == 303 and r.headers["location"] == "/console/login", (method, path)


async def test_roles_are_enforced_in_the_queries(sqlite_env, make_console) -> None:
    """An operator neither lists nor opens a case assigned to another operator."""
    console = await make_console(sqlite_env)
    mine = await submit_case(sqlite_env, address="1")
    theirs = await submit_case(sqlite_env, address="2")
    a = await console.user("a", OP)
    b = await console.user("b", OP)
    r = await a.post(f"/console/cases/{theirs}/assign", to="me")
    assert r.status_code == 303
    queue = (await b.client.get("/console/queue")).text
    assert mine in queue and theirs not in queue
    assert (await b.client.get(f"/console/cases/{theirs}")).status_code == 404
    r = await b.post(f"/console/cases/{theirs}/reply", text="hello")
    assert r.status_code == 404
    assert (await a.client.get(f"/console/cases/{theirs}")).status_code == 200


async def test_csrf_is_required_on_every_form(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    reference = await submit_case(sqlite_env)
    op = await console.user("op", OP)
    for data in ({}, {"csrf": "forged-token-forged-token"}):
        r = await op.client.post("/console/queue/next", data=data)
        assert r.status_code == 403
        r = await op.client.post(f"/console/cases/{reference}/reply", data={**data, "text": "x"})
        assert r.status_code == 403
    async with sqlite_env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == reference))
    assert case.assigned_to is None
    # The login form is protected too (double-submit cookie).
    fresh = console.client()
    r = await fresh.post("/console/login", data={"name": "op", "password": PASSWORD})
    assert r.status_code == 403
    # A token of another session is refused.
    other = await console.user("other", OP)
    r = await op.client.post("/console/queue/next", data={"csrf": other.csrf})
    assert r.status_code == 403


async def login(console, name: str, password: str):
    client = console.client()
    page = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": password},
    )
    return client, r


async def test_login_slows_down_and_the_wait_ends_by_itself(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    await console.user("victim", OP)
    statuses = []
    for _ in range(3):
        _client, r = await login(console, "victim", "wrong password!")
        statuses.append(r.status_code)
    assert statuses == [401, 401, 401]
    # Now each attempt must wait, even with the right password.
    _client, r = await login(console, "victim", PASSWORD)
    assert r.status_code == 429 and "wait" in r.text
    for _ in range(12):
        console.clock.advance(seconds=901)
        _client, r = await login(console, "victim", "wrong password!")
        assert r.status_code == 401
    _client, r = await login(console, "victim", PASSWORD)
    assert r.status_code == 429 and "wait 900 s" in r.text  # capped
    async with sqlite_env.store.transaction() as session:
        failed = await session.scalar(select(AuditEvent).where(AuditEvent.action == "login.failed"))
    assert failed is not None
    users = await console.accounts.users()
    assert next(u for u in users if u.name == "victim").locked
    # The wait ends by itself: the right password works again.
    console.clock.advance(seconds=901)
    _client, r = await login(console, "victim", PASSWORD)
    assert r.status_code == 303


async def test_haven_user_unlock_lifts_the_wait(sqlite_env, make_console) -> None:
    import subprocess
    import sys

    console = await make_console(sqlite_env)
    await console.user("victim", OP)
    for _ in range(5):
        await login(console, "victim", "wrong password!")
    assert next(u for u in await console.accounts.users() if u.name == "victim").locked
    out = subprocess.run(  # noqa: ASYNC221 - the command under test
        [sys.executable, "-m", "haven", "user", "unlock", "victim"],
        env=sqlite_env.environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert not next(u for u in await console.accounts.users() if u.name == "victim").locked
    _client, r = await login(console, "victim", PASSWORD)
    assert r.status_code == 303
    out = subprocess.run(  # noqa: ASYNC221 - the command under test
        [sys.executable, "-m", "haven", "user", "unlock", "nobody"],
        env=sqlite_env.environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "no user" in out.stderr and "Traceback" not in out.stderr


async def test_a_name_that_exists_answers_like_one_that_does_not(sqlite_env, make_console) -> None:
    """Names cannot be enumerated: the same statuses and pages, attempt after attempt."""
    console = await make_console(sqlite_env)
    await console.user("realname", OP)

    def shape(r) -> tuple[int, str]:
        text = re.sub(r'name="csrf" value="[^"]+"', "", r.text)
        return r.status_code, text.replace("realname", "NAME").replace("ghostname", "NAME")

    for _ in range(8):
        _c, real = await login(console, "realname", "wrong password!")
        _c, ghost = await login(console, "ghostname", "wrong password!")
        assert shape(real) == shape(ghost)
        console.clock.advance(seconds=3)


async def test_passwords_are_checked_off_the_event_loop_a_few_at_a_time(sqlite_env) -> None:
    import threading
    import time as _time

    from argon2 import PasswordHasher

    from haven.services.accounts import Accounts

    seen: list[str] = []
    running = [0, 0]

    class SlowHasher(PasswordHasher):
        def verify(self, hash, password) -> bool:
            running[0] += 1
            running[1] = max(running[1], running[0])
            seen.append(threading.current_thread().name)
            _time.sleep(0.05)
            running[0] -= 1
            return super().verify(hash, password)

    slow = SlowHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts = Accounts(sqlite_env.store, sqlite_env.keys, hasher=slow)
    from haven.services.accounts import BadLogin, Throttled
    from haven.services.throttle import LOGIN_WORKERS

    async def attempt(n: int) -> str:
        try:
            await accounts.login(f"name{n}", "wrong password!")
        except (BadLogin, Throttled) as exc:
            return type(exc).__name__
        return "ok"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(24)))
    assert threading.main_thread().name not in seen and seen
    assert running[1] <= LOGIN_WORKERS
    # One budget for all: a burst beyond it is told to wait, whatever the names.
    assert outcomes.count("Throttled") == 24 - 10 and outcomes.count("BadLogin") == 10


async def test_wrong_totp_counts_as_a_failure(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    user = await console.user("t", OP)
    client, r = await login(console, "t", PASSWORD)
    assert r.status_code == 303
    page = await client.get("/console/totp")
    r = await client.post("/console/totp", data={"csrf": csrf_of(page.text), "code": "000000"})
    assert r.status_code == 401
    # Six digits of another script are no code (and no crash).
    arabic = "\u0661\u0662\u0663\u0664\u0665\u0666"
    r = await client.post("/console/totp", data={"csrf": csrf_of(page.text), "code": arabic})
    assert r.status_code == 401
    # The code just used by the fixture's login is not accepted twice (replay).
    used = console.code(user.secret)
    r = await client.post("/console/totp", data={"csrf": csrf_of(page.text), "code": used})
    assert r.status_code == 401
    assert (await client.get("/console/queue")).status_code == 303


async def test_session_expires_when_idle(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    op = await console.user("idle", OP)
    idle = sqlite_env.settings.session_idle_minutes
    console.clock.advance(minutes=idle - 1)
    assert (await op.client.get("/console/queue")).status_code == 200
    console.clock.advance(minutes=idle - 1)  # active a minute ago: still alive
    assert (await op.client.get("/console/queue")).status_code == 200
    console.clock.advance(minutes=idle + 1)
    r = await op.client.get("/console/queue")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


async def test_cookie_and_security_headers(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    token = await console.accounts.add_user("h", OP, "test")
    client = console.client()
    page = await client.get(f"/console/setup/{token}")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and " on" + "click=" not in page.text
    r = await client.post(
        f"/console/setup/{token}",
        data={"csrf": csrf_of(page.text), "password": PASSWORD, "password2": PASSWORD},
    )
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-haven-console=")
    for part in ("HttpOnly", "Path=/", "SameSite=strict", "Secure"):
        assert part.lower() in cookie.lower(), cookie
    assert "domain=" not in cookie.lower()
    # The setup link works once.
    assert (await console.client().get(f"/console/setup/{token}")).status_code == 404


async def test_login_unlock_and_reads_are_audited(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    reference = await submit_case(sqlite_env)
    op = await console.user("reader", OP)
    assert (await op.client.get(f"/console/cases/{reference}")).status_code == 200
    async with sqlite_env.store.transaction() as session:
        actions = [(e.actor, e.action) for e in (await session.scalars(select(AuditEvent))).all()]
        verdict = await audit.verify(session, sqlite_env.keyring().audit_key)
    assert ("env", "console.unlock") in actions
    assert any(a == "login" for _, a in actions)
    assert any(a == "case.read" and actor.startswith("user:") for actor, a in actions)
    assert verdict.ok


@pytest.mark.parametrize("lang,word", [("uk", "Черга"), ("en", "Queue")])
async def test_console_language_per_user(sqlite_env, make_console, lang, word) -> None:
    console = await make_console(sqlite_env)
    op = await console.user(f"l-{lang}", OP, lang=lang)
    assert word in (await op.client.get("/console/queue")).text


async def test_analyst_sees_the_campaign_funnel_and_its_csv(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    for n in range(6):
        await submit_case(sqlite_env, address=f"a{n}", campaign="kursk-a1")
    await submit_case(sqlite_env, address="b1", campaign="orel-b2")
    analyst = await console.user("analyst-1", AN)
    page = await analyst.client.get("/console/stats")
    assert page.status_code == 200
    assert "<svg" in page.text and "kursk-a1" in page.text and "orel-b2" in page.text
    assert "&lt;5" in page.text  # orel-b2 has one case: never shown exactly
    csv = await analyst.client.get("/console/stats.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = {line.split(",")[0]: line.split(",") for line in csv.text.splitlines()[1:]}
    assert rows["kursk-a1"][5:7] == ["6", "6"]  # contacts, submitted
    assert rows["orel-b2"][5] == "<5"


async def test_admin_manages_campaigns_in_the_console(sqlite_env, make_console) -> None:
    sqlite_env.settings = sqlite_env.settings.model_copy(
        update={"telegram_bot_username": "haven_help_bot", "mirrors": ["https://m.example/h/"]}
    )
    console = await make_console(sqlite_env)
    admin = await console.user("admin-1", AD)
    page = await admin.client.get("/console/campaigns")
    assert page.status_code == 200 and "kursk-a1" not in page.text
    added = await admin.post(
        "/console/campaigns",
        code="Kursk-A1",
        name="Kursk drop 1",
        kind="leaflet",
        langs=["ko", "ru"],
        sector="Kursk north",
        starts="2026-12-01",
    )
    assert added.status_code == 200 and "kursk-a1" in added.text
    assert "https://t.me/haven_help_bot?start=kursk-a1" in added.text  # its deep links
    assert "https://m.example/h/?c=kursk-a1" in added.text
    bad = await admin.post("/console/campaigns", code="x", name="n", langs=["ko"])
    assert bad.status_code == 400
    worse = await admin.post("/console/campaigns", code="orel-b1", name="n", starts="tomorrow")
    assert worse.status_code == 400
    listed = await admin.client.get("/console/campaigns")
    assert listed.text.count("<code>kursk-a1</code>") == 1 and "orel-b1" not in listed.text
