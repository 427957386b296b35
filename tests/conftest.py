from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from haven import crypto
from haven.services.admin import prepare_database
from haven.settings import Settings, load_settings
from haven.store.db import Store
from tests.pg import PgServer, running
from tests.telegram.fakebot import FakeBotAPI

PASSPHRASE = "test passphrase, long enough"

# Correctness, not time: a loaded two-core machine must not fail an example for being slow.
hypothesis_settings.register_profile("haven", deadline=None)
hypothesis_settings.load_profile("haven")


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    with running() as server:
        yield server


@dataclass
class Env:
    """A complete haven environment: data dir with keys, a migrated database."""

    settings: Settings
    environ: dict[str, str]
    store: Store
    keys: crypto.IntakeKeys
    db_name: str | None = None

    def keyring(self) -> crypto.CaseKeyring:
        return crypto.unlock(self.settings.keys_dir, PASSPHRASE)


def make_environ(data_dir: Path, db_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    env.update(
        HAVEN_DATA_DIR=str(data_dir),
        HAVEN_KDF_LEVEL="interactive",
        HAVEN_PASSPHRASE=PASSPHRASE,
    )
    if db_url:
        env["HAVEN_DATABASE_URL"] = db_url
    return env


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _prepared(var: Path, url: str = "") -> Path:
    """A data dir as ``haven init`` and ``haven db upgrade`` leave it: keys, and the database
    (at ``url``, or SQLite's file inside)."""
    settings = load_settings(make_environ(var, url))
    crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")

    async def prepare() -> None:
        store = Store(settings.db_url)
        await prepare_database(store, settings.keys_dir)
        await store.close()

    # In a thread of its own: a test's event loop may be running (the fixture asked for late).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare()).result()
    return var


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepared data dir with its SQLite database, copied for each test (preparing one,
    the key derivation and every migration, costs more than most tests)."""
    return _prepared(tmp_path_factory.mktemp("template-sqlite") / "var")


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory, pg: PgServer) -> tuple[Path, str]:
    """The same on PostgreSQL: a data dir, and a database each test's is created from."""
    name = pg.new_database()
    var = _prepared(tmp_path_factory.mktemp("template-pg") / "var", pg.url(name))
    return var, name


async def _env(tmp_path: Path, template: Path, url: str = "", db_name: str | None = None) -> Env:
    shutil.copytree(template, tmp_path / "var")  # the files' modes too (0600, 0700)
    environ = make_environ(tmp_path / "var", url)
    settings = load_settings(environ)
    keys = crypto.load_intake_keys(settings.keys_dir)
    return Env(settings, environ, Store(settings.db_url), keys, db_name)


@pytest.fixture
async def env(tmp_path: Path, db_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """A prepared environment on each database; ``@pytest.mark.own_keys``: with keys of its
    own, for a test that searches a whole database server's files for what its keys open
    (the copies share the template's)."""
    own = request.node.get_closest_marker("own_keys") is not None
    if db_kind == "postgresql":
        server: PgServer = request.getfixturevalue("pg")
        if own:
            db_name = server.new_database()
            made = await _env(tmp_path, _prepared(tmp_path / "own", server.url(db_name)),
                              server.url(db_name), db_name)  # fmt: skip
        else:
            template, template_db = request.getfixturevalue("pg_template")
            db_name = server.new_database(template=template_db)
            made = await _env(tmp_path, template, server.url(db_name), db_name)
    else:
        made = await _env(tmp_path, request.getfixturevalue("sqlite_template"))
    try:
        yield made
    finally:
        await made.store.close()


@pytest.fixture
async def sqlite_env(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Env]:
    made = await _env(tmp_path, sqlite_template)
    try:
        yield made
    finally:
        await made.store.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """A fake Telegram Bot API server on 127.0.0.1, stopped after the test."""
    server = await FakeBotAPI().start()
    try:
        yield server
    finally:
        await server.stop()
