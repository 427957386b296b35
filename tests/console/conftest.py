"""Console fixtures: the console app on a test environment, users logged in over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Mount

from haven.console import create_console_app
from haven.flows.inputs import Choice, Command, Text
from haven.services.accounts import Accounts
from haven.services.intake import Intake
from haven.services.seals import KeyringSource, fixed_keyring
from haven.store.models import utcnow
from tests.conftest import Env

PASSWORD = "correct horse battery"
#: A cheap argon2id for the tests (the real one costs ~64 MiB per login).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


def sealing(env: Env) -> KeyringSource:
    """An unlocked keyring for an :class:`Accounts` used outside a console (rows are sealed)."""
    return fixed_keyring(env.keyring())


class Clock:
    """A clock the tests move; starts at the real time."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@dataclass
class Console:
    env: Env
    app: Starlette
    accounts: Accounts
    clock: Clock
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def state(self) -> Any:
        return self.app.routes[0].app.state.console  # type: ignore[attr-defined]

    def client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="https://testserver",
            follow_redirects=False,
        )
        self.clients.append(client)
        return client

    async def user(
        self, name: str, role: str, sectors: str = "*", lang: str = "en", languages: str = ""
    ) -> User:
        """A user set up over HTTP (setup link, password, TOTP enrolment) and logged in."""
        token = await self.accounts.add_user(
            name, role, "test", sectors=sectors, lang=lang, languages=languages
        )
        client = self.client()
        page = await client.get(f"/console/setup/{token}")
        assert page.status_code == 200, page.text
        r = await client.post(
            f"/console/setup/{token}",
            data={"csrf": csrf_of(page.text), "password": PASSWORD, "password2": PASSWORD},
        )
        assert r.status_code == 303, r.text
        page = await client.get("/console/totp")
        match = SECRET.search(page.text)
        assert match, page.text
        secret = match.group(1)
        r = await client.post(
            "/console/totp", data={"csrf": csrf_of(page.text), "code": self.code(secret)}
        )
        assert r.status_code == 303, r.text
        home = await client.get("/console/account")
        assert home.status_code == 200
        return User(name, role, client, secret, csrf_of(home.text))

    def code(self, secret: str) -> str:
        return pyotp.TOTP(secret).at(self.clock())


@dataclass
class User:
    name: str
    role: str
    client: httpx.AsyncClient
    secret: str
    csrf: str

    async def post(self, path: str, **data: Any) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **data})


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:2000]
    return match.group(1)


ConsoleFactory = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console() -> AsyncIterator[ConsoleFactory]:
    made: list[Console] = []

    async def factory(env: Env, **kwargs: Any) -> Console:
        clock = Clock()
        accounts = Accounts(
            env.store,
            env.keys,
            idle_minutes=env.settings.session_idle_minutes,
            clock=clock,
            hasher=FAST_HASHER,
            login_budget="1000/second",  # the overall budget has a test of its own
        )
        console_app = create_console_app(
            env.settings, env.store, env.keys, accounts=accounts, **kwargs
        )
        app = Starlette(routes=[Mount("/console", app=console_app)])
        console = Console(env, app, accounts, clock)
        made.append(console)
        return console

    try:
        yield factory
    finally:
        for console in made:
            for client in console.clients:
                await client.aclose()


#: Answers that submit a case: who, alone/group, [size], wounded, location, unit, photo,
#: contact, consent, summary.
async def submit_case(
    env: Env,
    channel: str = "telegram",
    address: str = "1001",
    lang: str = "ko",
    *,
    group: int | None = None,
    wounded: bool = False,
    campaign: str | None = None,
) -> str:
    intake = Intake(env.store, env.keys)
    await intake.handle(channel, address, Command("start"), lang=lang, campaign=campaign)
    steps: list[Any] = [Choice("kpa")]
    if group:
        steps += [Choice("group"), Text(str(group))]
    else:
        steps += [Choice("alone")]
    steps += [
        Choice("yes" if wounded else "no"),
        Text("Kursk sector, near the forest"),
        Choice("skip"),
        Choice("skip"),
        Text("here, evenings"),
        Choice("yes"),
    ]
    for step in steps:
        await intake.handle(channel, address, step)
    result = await intake.handle(channel, address, Choice("confirm"))
    assert result.reference, result
    return result.reference
