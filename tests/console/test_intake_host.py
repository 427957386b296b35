"""A seized or compromised intake host (threat model, adversary 2) against the console: it
writes the database the console reads its accounts from, and holds the routing key (under
which TOTP secrets are kept). Whatever it writes, it must not reach a case through the console.
"""

from __future__ import annotations

import re
import stat
from datetime import timedelta
from urllib.parse import urlencode

import anyio
import httpx
import pyotp
import pytest
from sqlalchemy import select

from haven import crypto
from haven.services.accounts import Accounts, NotSealed, digest
from haven.services.seals import Seals
from haven.settings import load_settings
from haven.store.models import Message, User
from tests.conftest import PASSPHRASE, Env
from tests.console.conftest import (
    FAST_HASHER,
    PASSWORD,
    SECRET,
    csrf_of,
    sealing,
    submit_case,
)
from tests.steps import haven

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


def locked(sqlite_env: Env) -> Env:
    """The test environment without HAVEN_PASSPHRASE: the console starts locked."""
    environ = {k: v for k, v in sqlite_env.environ.items() if k != "HAVEN_PASSPHRASE"}
    return Env(load_settings(environ), environ, sqlite_env.store, sqlite_env.keys)


async def ghost_admin(console, env: Env) -> httpx.AsyncClient:
    """An admin row of the intake host's own, logged in on the locked console."""
    async with env.store.transaction() as s:
        ghost = User(name="ghost", role="admin", lang="en", sectors="")
        forge(ghost, env)
        s.add(ghost)
    client, r = await break_in(console, "ghost")
    assert r.status_code == 303
    return client


async def held_post(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    checked: anyio.Event,
    release: anyio.Event,
) -> httpx.Response:
    """A POST whose body is sent only once ``release`` is set: the console reads a form after
    it checked the session, so ``checked`` is set with the session checked and the action
    not yet taken (an attacker stretches that moment at will by sending its body slowly)."""

    async def body():
        checked.set()
        await release.wait()
        yield urlencode(data).encode()

    headers = {"content-type": "application/x-www-form-urlencoded"}
    return await client.post(path, content=body(), headers=headers)


async def while_unlocking(boss, requests) -> list[httpx.Response]:
    """Runs ``requests`` (callables taking (checked, release) events) until the console has
    checked their sessions, lets the genuine ``boss`` unlock, then lets them go on."""
    answers: list[httpx.Response] = []
    release = anyio.Event()
    async with anyio.create_task_group() as tg:
        for request in requests:
            checked = anyio.Event()

            async def run(request=request, checked=checked) -> None:
                answers.append(await request(checked, release))

            tg.start_soon(run)
            await checked.wait()
        assert (await boss.post("/console/unlock", passphrase=PASSPHRASE)).status_code == 303
        release.set()
    return answers


SETUP_LINK = re.compile(r"/console/setup/([A-Za-z0-9_-]{20,})")


async def take_link(console, token: str) -> httpx.AsyncClient | None:
    """What the intake host makes of a setup link it was given: a full session, or None."""
    client = console.client()
    page = await client.get(f"/console/setup/{token}")
    if page.status_code != 200:
        return None
    data = {"csrf": csrf_of(page.text), "password": FORGED_PASSWORD, "password2": FORGED_PASSWORD}
    if (await client.post(f"/console/setup/{token}", data=data)).status_code != 303:
        return None
    page = await client.get("/console/totp")
    match = SECRET.search(page.text)
    if page.status_code != 200 or match is None:
        return None
    code = pyotp.TOTP(match.group(1)).at(console.clock())
    r = await client.post("/console/totp", data={"csrf": csrf_of(page.text), "code": code})
    return client if r.status_code == 303 else None


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


async def test_a_forged_admin_does_not_ride_on_a_genuine_unlock(sqlite_env, make_console) -> None:
    """A guess at the passphrase from a forged admin whose session was checked while locked,
    answered after a genuine admin unlocked: it is still a wrong passphrase, and it seals
    nothing (the forged row would otherwise be an admin of the unlocked console)."""
    env = locked(sqlite_env)
    console = await make_console(env)
    reference = await submit_case(env)
    boss = await console.user("boss", "admin")
    forged = await ghost_admin(console, env)
    page = await forged.get("/console/unlock")
    guess = {"csrf": csrf_of(page.text), "passphrase": "a guess"}

    [answer] = await while_unlocking(
        boss,
        [lambda checked, release: held_post(forged, "/console/unlock", guess, checked, release)],
    )
    assert answer.status_code == 401
    rows = {u.name: u for u in await console.accounts.users()}
    assert rows["boss"].sealed is True and rows["ghost"].sealed is False
    assert (await forged.get("/console/users")).status_code == 303
    _client, r = await break_in(console, "ghost")
    assert r.status_code == 401
    assert not await sees_case(forged, reference)


async def test_an_admin_action_checked_while_locked_seals_nothing(sqlite_env, make_console) -> None:
    """A forged admin's request checked while the console was locked, carried out after a
    genuine unlock: neither an account it adds nor a genuine admin's account it resets gives
    it a setup link that opens an account of the unlocked console."""
    env = locked(sqlite_env)
    console = await make_console(env)
    reference = await submit_case(env)
    boss = await console.user("boss", "admin")
    forged = await ghost_admin(console, env)
    page = await forged.get("/console/users")
    csrf = csrf_of(page.text)
    async with env.store.transaction() as s:
        boss_id = await s.scalar(select(User.id).where(User.name == "boss"))
    add = {"csrf": csrf, "name": "mole", "role": "operator", "lang": "en"}
    answers = await while_unlocking(
        boss,
        [
            lambda checked, release: held_post(forged, "/console/users", add, checked, release),
            lambda checked, release: held_post(
                forged, f"/console/users/{boss_id}/reset", {"csrf": csrf}, checked, release
            ),
        ],
    )
    tokens = [m.group(1) for a in answers for m in SETUP_LINK.finditer(a.text)]
    for token in tokens:
        taken = await take_link(console, token)
        assert taken is None, "a setup link from a request checked while locked opened"
    rows = {u.name: u for u in await console.accounts.users()}
    assert not rows.get("mole") or rows["mole"].sealed is False
    mole, _r = await break_in(console, "mole")
    assert not await sees_case(mole, reference)


async def test_the_passphrase_cannot_be_guessed_through_the_console(
    sqlite_env, make_console
) -> None:
    """A forged admin on a locked console may guess the passphrase (case.key, which would let
    it guess offline, is not on its host): after a few wrong ones every answer waits, and
    during the wait even the right passphrase is refused, so the wait cannot be skipped."""
    env = locked(sqlite_env)
    console = await make_console(env)
    boss = await console.user("boss", "admin")
    forged = await ghost_admin(console, env)
    page = await forged.get("/console/unlock")
    csrf = csrf_of(page.text)
    statuses = []
    for n in range(4):
        r = await forged.post("/console/unlock", data={"csrf": csrf, "passphrase": f"guess {n}"})
        statuses.append(r.status_code)
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429, statuses
    r = await boss.post("/console/unlock", passphrase=PASSPHRASE)
    assert r.status_code == 429 and "wait" in r.text
    assert not console.state.holder.unlocked
    await anyio.sleep(1.1)
    assert (await boss.post("/console/unlock", passphrase=PASSPHRASE)).status_code == 303


async def test_fields_outside_the_seal_change_nothing_that_matters(env, make_console) -> None:
    """The console language, the failed-login count and the last TOTP step are not sealed
    (the console writes them on every login): a language the console does not have is
    shown as English, and the session goes on."""
    console = await make_console(env)
    reference = await submit_case(env)
    reader = await console.user("reader", "operator")
    async with env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "reader"))
        row.lang = "xx"
        row.failed_logins = 0
        row.totp_last_step = None
    assert await sees_case(reader.client, reference)


async def test_sealing_every_row_vouches_for_no_setup_link(sqlite_env, make_console) -> None:
    """Before an upgrade's `haven user seal`, the intake host plants a setup link of its own
    on an admin's row: whoever seals the rows can see names and roles, not whose a link is,
    so the link is dropped, not sealed (and the console opens nothing with it)."""
    boss_token = await (await make_console(sqlite_env)).accounts.add_user("boss", "admin", "t")
    token = "planted-setup-token-" + "w" * 20
    async with sqlite_env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "boss"))
        row.setup_token = digest(token)
        row.seal = None  # as after an upgrade from a version without seals
    out = haven(sqlite_env.environ, "user", "seal")
    assert out.returncode == 0 and "boss (admin)" in out.stdout, out.stdout
    console = await make_console(sqlite_env)  # unlocked from HAVEN_PASSPHRASE
    assert await take_link(console, token) is None
    assert await take_link(console, boss_token) is None
    rows = {u.name: u for u in await console.accounts.users()}
    assert rows["boss"].sealed is True


async def test_a_disabled_account_stays_disabled(env, make_console) -> None:
    """An operator whose password and phone were taken is disabled by an admin; the intake
    host writes his row back as it was before (it kept a copy, seal and all): the old
    password and TOTP secret must not open a session again."""
    console = await make_console(env)
    reference = await submit_case(env)
    reader = await console.user("reader", "operator")
    admin = await console.user("boss", "admin")
    async with env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "reader"))
        kept = {c.key: getattr(row, c.key) for c in User.__table__.columns}
    r = await admin.post(f"/console/users/{kept['id']}/disable", disabled="1")
    assert r.status_code == 303
    assert not await sees_case(reader.client, reference)
    async with env.store.transaction() as s:
        row = await s.get(User, kept["id"])
        assert row.disabled
        for key, value in kept.items():
            setattr(row, key, value)
    console.clock.advance(seconds=60)  # a fresh TOTP step
    client = console.client()
    page = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={"csrf": csrf_of(page.text), "name": "reader", "password": PASSWORD},
    )
    if r.status_code == 303:
        page = await client.get("/console/totp")
        code = pyotp.TOTP(reader.secret).at(console.clock())
        await client.post("/console/totp", data={"csrf": csrf_of(page.text), "code": code})
    assert not await sees_case(client, reference), "a rolled-back row opened a session"


async def test_a_case_pub_of_the_intake_hosts_own_seals_nothing_to_it(
    env, make_console, tmp_path
) -> None:
    """`make run` on one host: the intake host writes its own public key into keys/case.pub.
    An operator's note written afterwards must not be sealed to it."""
    console = await make_console(env)
    reference = await submit_case(env)
    reader = await console.user("reader", "operator")
    own = tmp_path / "own-keys"
    crypto.init_keys(own, "the intake host's own passphrase", "interactive")
    (env.settings.keys_dir / crypto.CASE_PUB).write_bytes((own / crypto.CASE_PUB).read_bytes())
    await anyio.sleep(crypto.IntakeKeys.REFRESH_SECONDS + 0.2)
    r = await reader.post(f"/console/cases/{reference}/note", text="met at the second bridge")
    assert r.status_code == 303
    async with env.store.transaction() as s:
        body = await s.scalar(select(Message.body).where(Message.direction == "note"))
    mine = crypto.unlock(own, "the intake host's own passphrase")
    with pytest.raises(crypto.BadEnvelope):
        mine.open_json(body)


async def test_a_rolled_back_row_stays_refused_after_a_console_restart(
    sqlite_env, tmp_path
) -> None:
    """The console's record of the newest seals outlives the process (a file of its own,
    0600): a row written back as it was before a disable does not hold after a restart."""
    path = tmp_path / "console" / "seals.json"

    def console_process() -> Accounts:
        return Accounts(
            sqlite_env.store, sqlite_env.keys, keyring=sealing(sqlite_env), seals=Seals(path)
        )

    first = console_process()
    await first.add_user("reader", "operator", "test")
    async with sqlite_env.store.transaction() as s:
        row = await s.scalar(select(User).where(User.name == "reader"))
        kept = {c.key: getattr(row, c.key) for c in User.__table__.columns}
    await first.set_disabled(kept["id"], True, "test")
    async with sqlite_env.store.transaction() as s:
        row = await s.get(User, kept["id"])
        for key, value in kept.items():
            setattr(row, key, value)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = {u.name: u for u in await console_process().users()}
    assert rows["reader"].sealed is False and not rows["reader"].disabled
