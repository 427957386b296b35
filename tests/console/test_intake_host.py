"""A seized or compromised intake host (threat model, adversary 2) against the console: it
writes the database the console reads its accounts from, and holds the routing key (under
which TOTP secrets are kept). Whatever it writes, it must not reach a case through the console.
"""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from haven.services.accounts import NotSealed, digest
from haven.settings import load_settings
from haven.store.models import User
from tests.conftest import PASSPHRASE, Env
from tests.console.conftest import FAST_HASHER, PASSWORD, csrf_of, submit_case
from tests.test_cli import haven

CASE_TEXT = "Kursk sector"
FORGED_PASSWORD = "the intake host's own password"
FORGED_SECRET = pyotp.random_base32()


def forge(user: User, env: Env) -> None:
    """What a database writer with the routing key makes of a row: credentials of its own."""
    user.password_hash = FAST_HASHER.hash(FORGED_PASSWORD)
    user.totp_secret = env.keys.seal_routing(FORGED_SECRET.encode("ascii"))
    user.totp_enrolled = True
    user.totp_last_step = None
    user.failed_logins = 0
    user.locked_until = None
    user.disabled = False
    user.setup_token = None


async def break_in(console, name: str, password: str = FORGED_PASSWORD):
    """Log in over HTTP with a password and the forged TOTP secret; the client and the last
    answer (303 after the code: a full session)."""
    client = console.client()
    page = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": password},
    )
    if r.status_code != 303:
        return client, r
    page = await client.get("/console/totp")
    if page.status_code != 200:
        return client, page
    code = pyotp.TOTP(FORGED_SECRET).at(console.clock())
    r = await client.post("/console/totp", data={"csrf": csrf_of(page.text), "code": code})
    return client, r


async def sees_case(client, reference: str) -> bool:
    page = await client.get(f"/console/cases/{reference}")
    return page.status_code == 200 and CASE_TEXT in page.text


async def test_a_database_writer_cannot_take_over_an_account(env, make_console) -> None:
    """Unlocked console: a genuine operator's row rewritten with the intake host's own
    password and TOTP secret, an admin row of its own, a setup link of its own, a role
    raised: none of them opens a session, and the genuine operator's own session ends the
    moment his row changes behind the console's back."""
    console = await make_console(env)
    reference = await submit_case(env)
    reader = await console.user("reader", "operator")
    other = await console.user("other", "operator")
    assert await sees_case(reader.client, reference)  # the console is unlocked

    async with env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "reader"))
        forge(row, env)
        ghost = User(name="ghost", role="admin", lang="en", sectors="")
        forge(ghost, env)
        s.add(ghost)
        target = await s.scalar(select(User).where(User.name == "other"))
        target.role = "admin"
    assert not await sees_case(reader.client, reference), "a changed row kept its session"
    for name in ("reader", "ghost"):
        client, r = await break_in(console, name)
        assert r.status_code == 401 and "Wrong name, password or code" in r.text, name
        assert not await sees_case(client, reference)
    assert (await other.client.get("/console/users")).status_code != 200
    _client, r = await break_in(console, "other", PASSWORD)
    assert r.status_code == 401, "a raised role was taken at the login"

    # A setup link planted on a genuine row (its SHA-256 is all the database holds).
    token = "planted-setup-token-" + "y" * 20
    async with env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "reader"))
        row.setup_token = digest(token)
        row.setup_expires = console.clock() + timedelta(days=1)
    client = console.client()
    page = await client.get(f"/console/setup/{token}")
    assert page.status_code == 404
    # The admin sees which rows no longer hold.
    admin = await console.user("boss", "admin")
    users = await admin.client.get("/console/users")
    assert users.status_code == 200
    rows = {u.name: u for u in await console.accounts.users()}
    assert rows["boss"].sealed and not rows["reader"].sealed and not rows["ghost"].sealed


async def test_a_locked_console_gives_a_forged_admin_nothing(sqlite_env, make_console) -> None:
    """Locked, rows cannot be checked: an admin row the intake host adds logs in, but sees
    only what the database shows anyway; the key comes only with the passphrase; once a
    genuine admin unlocks, the forged session ends and nothing seals the forged row."""
    environ = {k: v for k, v in sqlite_env.environ.items() if k != "HAVEN_PASSPHRASE"}
    env = Env(load_settings(environ), environ, sqlite_env.store, sqlite_env.keys)
    console = await make_console(env)
    reference = await submit_case(env)
    with pytest.raises(NotSealed):  # locked, only an admin can be added
        await console.accounts.add_user("op", "operator", "test")

    async with env.store.transaction() as s:
        ghost = User(name="ghost", role="admin", lang="en", sectors="")
        forge(ghost, env)
        s.add(ghost)
    forged, r = await break_in(console, "ghost")
    assert r.status_code == 303
    assert not await sees_case(forged, reference)
    page = await forged.get("/console/unlock")
    guess = await forged.post(
        "/console/unlock", data={"csrf": csrf_of(page.text), "passphrase": "a guess"}
    )
    assert guess.status_code == 401

    boss = await console.user("boss", "admin")  # set up while locked: allowed for an admin
    r = await boss.post("/console/unlock", passphrase=PASSPHRASE)
    assert r.status_code == 303
    assert not await sees_case(forged, reference)
    assert (await forged.get("/console/unlock")).status_code == 303  # back to the login
    _client, r = await break_in(console, "ghost")
    assert r.status_code == 401
    rows = {u.name: u for u in await console.accounts.users()}
    assert rows["boss"].sealed is True and rows["ghost"].sealed is False


async def test_an_unlock_seals_only_the_row_its_admin_logged_in_with(
    sqlite_env, make_console
) -> None:
    """A setup link slipped onto the admin's row after his login (while locked) is not
    sealed by his unlock: his session ends instead, and the link opens nothing."""
    environ = {k: v for k, v in sqlite_env.environ.items() if k != "HAVEN_PASSPHRASE"}
    env = Env(load_settings(environ), environ, sqlite_env.store, sqlite_env.keys)
    console = await make_console(env)
    boss = await console.user("boss", "admin")
    token = "planted-setup-token-" + "z" * 20
    async with env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "boss"))
        row.setup_token = digest(token)
        row.setup_expires = console.clock() + timedelta(days=1)
    page = await boss.client.get("/console/unlock")
    assert page.status_code == 303  # the session ended with the change
    rows = {u.name: u for u in await console.accounts.users()}
    assert rows["boss"].sealed is None  # still locked
    # Unlocked by someone else's route: the link must still open nothing.
    await console.state.holder.unlock(PASSPHRASE, "test")
    assert (await console.client().get(f"/console/setup/{token}")).status_code == 404


def test_accounts_from_the_command_line_are_sealed(sqlite_env) -> None:
    """`haven user add` seals with the passphrase; without one only an admin is added;
    `haven user seal` vouches for every row, and a wrong passphrase changes nothing."""
    environ = sqlite_env.environ
    bare = {k: v for k, v in environ.items() if k != "HAVEN_PASSPHRASE"}
    out = haven(bare, "user", "add", "op", "--role", "operator")
    assert out.returncode == 2 and "passphrase" in out.stderr and "Traceback" not in out.stderr
    assert haven(bare, "user", "add", "first", "--role", "admin").returncode == 0
    assert haven(environ, "user", "add", "op", "--role", "operator").returncode == 0
    wrong = haven(environ | {"HAVEN_PASSPHRASE": "not it"}, "user", "seal")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    out = haven(environ, "user", "seal")
    assert out.returncode == 0 and "2 accounts sealed" in out.stdout
