"""Walk-ins: a case straight in arrived, its leaflet counted per campaign and print batch, seen
and written only by the front units (and coordinators) of its sector, sealed, audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from haven.campaigns import report
from haven.crypto import CaseKeyring
from haven.domain.cases import TRANSITION_EVENT, CaseState, IllegalTransition, transition
from haven.flows.inputs import Command, Text
from haven.services import walkins as walkins_module
from haven.services.accounts import Accounts
from haven.services.campaigns import (
    UNKNOWN,
    CampaignError,
    Campaigns,
    CampaignSpec,
    batch_mark,
    leaflet_payload,
)
from haven.services.cases import BadText, CaseNotFound, Console, Forbidden
from haven.services.identity import SECTOR_ROLES, Role, Viewer, parse_sectors
from haven.services.intake import Intake
from haven.services.walkins import WalkinRow, Walkins
from haven.store.models import AuditEvent, Case, utcnow
from tests.conftest import Env
from tests.console.conftest import FAST_HASHER, sealing, submit_case
from tests.security.test_disk import raw_sqlite

SECTOR = "Zeta-Sector-4471"
OTHER = "North-2"


async def viewers(env: Env, *specs: tuple[str, str, str]) -> list[Viewer]:
    """Accounts as the console scopes them: sectors for the roles that have them."""
    accounts = Accounts(env.store, env.keys, hasher=FAST_HASHER, keyring=sealing(env))
    for name, role, sectors in specs:
        await accounts.add_user(name, role, "test", sectors=sectors)
    rows = {u.name: u for u in await accounts.users()}
    return [
        Viewer(
            rows[name].id,
            Role(role),
            parse_sectors(sectors) if Role(role) in SECTOR_ROLES else None,
        )
        for name, role, sectors in specs
    ]


async def campaign_with_batches(env: Env, code: str = "kursk-a1", batches: int = 2) -> None:
    campaigns = Campaigns(env.store)
    await campaigns.add(CampaignSpec(code, "Kursk drop 1", sector="Kursk"))
    for n in range(1, batches + 1):
        assert (await campaigns.number_batch(code)).number == n


KEYRINGS: dict[str, CaseKeyring] = {}


def keyring_of(env: Env) -> CaseKeyring:
    """The unlocked keyring, unlocked once per environment (argon2 is slow on purpose)."""
    key = str(env.settings.keys_dir)
    if key not in KEYRINGS:
        KEYRINGS[key] = env.keyring()
    return KEYRINGS[key]


async def record(env: Env, viewer: Viewer, leaflet: str = "", **kw: object) -> WalkinRow:
    args: dict[str, object] = {
        "sector": SECTOR,
        "arrived_at": utcnow() - timedelta(minutes=20),
        "group_size": 1,
        "wounded": False,
        "lang": "ko",
    }
    args.update(kw)
    return await Walkins(env.store).record(
        viewer,
        leaflet=leaflet,
        keyring=keyring_of(env),
        **args,  # type: ignore[arg-type]
    )


def test_a_walk_in_is_the_one_transition_from_draft_to_arrived() -> None:
    move = transition(CaseState.draft, CaseState.arrived, origin="walk_in", walkin=3)
    assert move.event == TRANSITION_EVENT
    assert move.detail == {"from": "draft", "to": "arrived", "origin": "walk_in", "walkin": 3}
    with pytest.raises(IllegalTransition):
        transition(CaseState.draft, CaseState.arrived)  # not without being a walk-in
    for current in (CaseState.submitted, CaseState.verified, CaseState.closed):
        with pytest.raises(IllegalTransition):
            transition(current, CaseState.arrived, origin="walk_in")
    with pytest.raises(IllegalTransition):
        transition(CaseState.draft, CaseState.closed, "fake", origin="walk_in")


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        ("https://t.me/haven_help_bot?start=kursk-a1-2", "kursk-a1-2"),
        ("t.me/haven_help_bot?start=kursk-a1-2", "kursk-a1-2"),
        ("https://m2.example/?x=1&c=kursk-a1-2", "kursk-a1-2"),
        ("https://evil.example/", UNKNOWN),
        (batch_mark("kursk-a1", 2), "kursk-a1-2"),
        ("KURSK-A1 2", "KURSK-A1-2"),
        ("kursk-a1/2", "kursk-a1-2"),
        ("  ", None),
    ],
)
def test_a_leaflet_is_read_from_its_qr_link_or_its_print(text: str, payload: str | None) -> None:
    assert leaflet_payload(text) == payload


async def test_links_and_typed_codes_resolve_to_campaign_and_batch(sqlite_env: Env) -> None:
    await campaign_with_batches(sqlite_env)
    campaigns = Campaigns(sqlite_env.store)
    found = await campaigns.leaflet("Kursk-A1-2")
    assert found is not None and (found.code, found.campaign, found.batch) == (
        "kursk-a1-2",
        "kursk-a1",
        2,
    )
    assert await campaigns.link_code("kursk-a1") == "kursk-a1"
    assert await campaigns.link_code("kursk-a1-2") == "kursk-a1-2"
    # A batch never numbered, another campaign's, a payload too long: forged or misprinted.
    for forged in ("kursk-a1-3", "kursk-a1-0", "orel-1", "kursk-a1-2" + "9" * 60):
        assert await campaigns.link_code(forged) == UNKNOWN, forged
    # A campaign cannot take a batch's code, nor a batch a campaign's.
    with pytest.raises(CampaignError):
        await campaigns.add(CampaignSpec("kursk-a1-2", "clash"))
    await campaigns.add(CampaignSpec("kursk-a1-3", "clash"))
    with pytest.raises(CampaignError):
        await campaigns.number_batch("kursk-a1")
    with pytest.raises(CampaignError):
        await campaigns.number_batch("no-such-campaign")


async def test_a_walk_in_is_an_arrived_case_under_its_campaign_and_batch(
    env: Env, request: pytest.FixtureRequest
) -> None:
    # A front account of every sector (the sectors an account covers are account settings,
    # kept in the users table: see docs/threat-model.md).
    (front,) = await viewers(env, ("f", "front", "*"))
    await campaign_with_batches(env)
    row = await record(
        env, front, "https://t.me/haven_help_bot?start=kursk-a1-2", group_size=3, wounded=True
    )
    assert (row.campaign, row.batch, row.sector) == ("kursk-a1", 2, SECTOR)
    async with env.store.transaction() as session:
        case = await session.scalar(select(Case).where(Case.reference == row.reference))
        assert case is not None
        events = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor, AuditEvent.detail)
                .where(AuditEvent.case_id == case.id)
                .order_by(AuditEvent.id)
            )
        ).all()
    assert (case.state, case.channel, case.campaign) == ("arrived", "walk_in", "kursk-a1-2")
    assert (case.group_size, case.wounded) == (3, True)
    actions = [(a, actor) for a, actor, _ in events]
    assert actions == [
        (TRANSITION_EVENT, front.actor),
        ("walkin.recorded", front.actor),
    ]
    assert json.loads(events[0][2])["origin"] == "walk_in"
    assert all(SECTOR not in detail for _, _, detail in events)

    # A copy of the database does not say where he came over.
    if env.settings.is_sqlite:
        await env.store.settle()
        raw = raw_sqlite(env)
    else:
        raw = request.getfixturevalue("pg").dump(env.db_name)
    assert b"walkins" in raw and SECTOR.encode() not in raw

    # The funnel: a walk-in beside the contacts, per campaign and batch, never as a contact.
    await submit_case(env, address="link-1", campaign="kursk-a1-2")
    rows = await Campaigns(env.store).funnel()
    batch2 = next(r for r in report.batch_table(rows) if r[:2] == ["kursk-a1", "2"])
    assert batch2 == ["kursk-a1", "2", *["<5"] * 6]  # one of each: never told exactly
    totals = {(r.key.campaign, r.key.batch): r.counts for r in rows}
    assert totals[("kursk-a1", "2")]["walk_ins"] == 1
    assert totals[("kursk-a1", "2")]["contacts"] == 1
    assert totals[("kursk-a1", "2")]["arrived"] == 0
    assert next(r for r in rows if r.key.batch == "2").key.sector == "Kursk"
    # The capture card: recorded as captured, audited as an export.
    card = await Walkins(env.store).pow_record(front, row.id, keyring_of(env))
    assert card["status"] == "captured" and "voluntar" not in json.dumps(card).lower()
    assert card["sector_of_capture"] == SECTOR and card["state_of_health"] == "wounded"
    assert card["record_number"].startswith("W")


async def test_a_front_unit_sees_only_its_sectors_and_no_case(sqlite_env: Env) -> None:
    env = sqlite_env
    front, other, coord, everywhere, op, analyst = await viewers(
        env,
        ("f", "front", SECTOR),
        ("g", "front", OTHER),
        ("c", "coordinator", SECTOR),
        ("e", "front", "*"),
        ("o", "operator", ""),
        ("a", "analyst", ""),
    )
    mine = await record(env, front)
    theirs = await record(env, other, sector=OTHER)
    walkins = Walkins(env.store)
    keyring = keyring_of(env)
    assert [w.id for w in await walkins.list(front, keyring)] == [mine.id]
    assert [w.id for w in await walkins.list(coord, keyring)] == [mine.id]
    assert len(await walkins.list(everywhere, keyring)) == 2
    with pytest.raises(CaseNotFound):
        await walkins.get(front, theirs.id, keyring)
    with pytest.raises(CaseNotFound):
        await walkins.pow_record(front, theirs.id, keyring)
    with pytest.raises(Forbidden):
        await record(env, front, sector=OTHER)  # a sector not his own
    for stranger in (op, analyst):
        with pytest.raises(Forbidden):
            await walkins.list(stranger, keyring)
        with pytest.raises(Forbidden):
            await record(env, stranger)
    # No case of any other kind, by reference, through the cases service.
    reference = await submit_case(env, address="not-a-walk-in")
    with pytest.raises(Forbidden):
        await Console(env.store, env.keys).meta(reference, front)
    with pytest.raises(Forbidden):
        await Console(env.store, env.keys).view(mine.reference, keyring, front)


async def test_bad_input_is_refused_and_forged_codes_invent_nothing(sqlite_env: Env) -> None:
    env = sqlite_env
    (front,) = await viewers(env, ("f", "front", SECTOR))
    await campaign_with_batches(env)
    for kw in (
        {"group_size": 0},
        {"group_size": 101},
        {"lang": "xx"},
        {"sector": ""},
        {"sector": SECTOR + "x" * 200},
        {"arrived_at": utcnow() + timedelta(hours=2)},
        {"arrived_at": utcnow() - timedelta(days=30)},
    ):
        with pytest.raises((BadText, Forbidden)):
            await record(env, front, **kw)
    with pytest.raises(BadText):
        await record(env, front, "k" * 301)
    forged = await record(env, front, "https://t.me/haven_help_bot?start=kursk-a1-77")
    assert (forged.campaign, forged.batch) == (UNKNOWN, None)
    none = await record(env, front, "")
    assert (none.campaign, none.batch) == (None, None)
    script = await record(env, front, "<script>alert(1)</script>")
    assert script.campaign == UNKNOWN


async def test_one_account_cannot_flood_the_figures(
    sqlite_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = sqlite_env
    monkeypatch.setattr(walkins_module, "PER_HOUR", 3)
    (front,) = await viewers(env, ("f", "front", SECTOR))
    walkins = Walkins(env.store)
    now = utcnow()
    for _ in range(3):
        await walkins.record(
            front,
            sector=SECTOR,
            arrived_at=now,
            group_size=1,
            wounded=False,
            lang="ru",
            keyring=keyring_of(env),
            now=now,
        )
    with pytest.raises(BadText, match="an hour"):
        await record(env, front)


async def test_a_batch_code_typed_to_the_bot_or_in_a_link_counts_for_its_batch(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    await campaign_with_batches(env)
    intake = Intake(env.store, env.keys)
    await intake.handle("telegram", "typed", Command("start"))
    typed = await intake.handle("telegram", "typed", Text(" Kursk-A1-2 "))
    assert "kursk-a1-2" in typed.replies[0].text  # noted, as a campaign code is
    linked = await Campaigns(env.store).link_code("kursk-a1-1")
    await intake.handle("telegram", "linked", Command("start"), campaign=linked)
    rows = await Campaigns(env.store).funnel()
    assert {(r.key.campaign, r.key.batch): r.counts["contacts"] for r in rows} == {
        ("kursk-a1", "1"): 1,
        ("kursk-a1", "2"): 1,
    }
