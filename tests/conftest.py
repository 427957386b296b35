from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
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


@pytest.fixture
async def env(tmp_path: Path, db_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    db_name = None
    url = ""
    if db_kind == "postgresql":
        server: PgServer = request.getfixturevalue("pg")
        db_name = server.new_database()
        url = server.url(db_name)
    environ = make_environ(tmp_path / "var", url)
    settings = load_settings(environ)
    keys = crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
    store = Store(settings.db_url)
    await prepare_database(store, settings.keys_dir)
    try:
        yield Env(settings, environ, store, keys, db_name)
    finally:
        await store.close()


@pytest.fixture
async def sqlite_env(tmp_path: Path) -> AsyncIterator[Env]:
    environ = make_environ(tmp_path / "var")
    settings = load_settings(environ)
    keys = crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
    store = Store(settings.db_url)
    await prepare_database(store, settings.keys_dir)
    try:
        yield Env(settings, environ, store, keys)
    finally:
        await store.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """A fake Telegram Bot API server on 127.0.0.1, stopped after the test."""
    server = await FakeBotAPI().start()
    try:
        yield server
    finally:
        await server.stop()
