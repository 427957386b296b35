"""Attacking the walk-in pages over HTTP: another sector's walk-in, a case by its reference,
forged leaflet codes, oversize and malformed input, a missing CSRF token. Every write audited."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from haven.services.campaigns import UNKNOWN, Campaigns, CampaignSpec
from haven.store.models import AuditEvent, Case, Walkin
from tests.conftest import Env
from tests.console.conftest import submit_case

FORM = {
    "leaflet": "",
    "sector": "Kursk-3",
    "arrived_at": "",
    "group_size": "1",
    "wounded": "no",
    "lang": "ru",
}
SEEN = re.compile(r'/walkins/(\d+)"')


def form(**changes: str) -> dict[str, str]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Europe/Kyiv"))
    return {**FORM, "arrived_at": f"{now:%Y-%m-%dT%H:%M}", **changes}


async def count(env: Env, model: type) -> int:
    async with env.store.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_front_unit_reaches_its_own_walk_ins_only(sqlite_env: Env, make_console) -> None:  # type: ignore[no-untyped-def]
    env = sqlite_env
    await Campaigns(env.store).add(CampaignSpec("kursk-a1", "Kursk drop 1"))
    await Campaigns(env.store).number_batch("kursk-a1")
    console = await make_console(env)
    mine = await console.user("front-3", "front", sectors="Kursk-3")
    other = await console.user("front-9", "front", sectors="Kursk-9")
    coordinator = await console.user("co-9", "coordinator", sectors="Kursk-9")

    r = await mine.post("/console/walkins", **form(leaflet="https://t.me/x?start=kursk-a1-1"))
    assert r.status_code == 303, r.text
    walkin = r.headers["location"].rsplit("/", 1)[1]
    page = await mine.client.get(f"/console/walkins/{walkin}")
    assert page.status_code == 200 and "kursk-a1" in page.text
    reference = re.search(r'class="ref">([^<]+)<', page.text).group(1)  # type: ignore[union-attr]

    # Another sector's front unit and coordinator: not found, whatever they ask for.
    for user in (other, coordinator):
        for path in (f"/console/walkins/{walkin}", f"/console/walkins/{walkin}/pow"):
            assert (await user.client.get(path)).status_code == 404, (user.name, path)
        listing = await user.client.get("/console/walkins")
        assert listing.status_code == 200 and reference not in listing.text
        r = await user.post("/console/walkins", **form())  # Kursk-3 is not theirs
        assert r.status_code == 403
    # Nothing of any case, the walk-in's own included, through the case pages.
    applicant = await submit_case(env, address="not-a-walk-in")
    for ref in (reference, applicant):
        for path in (f"/console/cases/{ref}", f"/console/cases/{ref}/messages"):
            assert (await mine.client.get(path)).status_code == 403, path
    for path in ("/console/stats", "/console/stats.csv", "/console/handoffs", "/console/audit"):
        assert (await mine.client.get(path)).status_code == 403, path
    # Ids that are no walk-in, or no number.
    for bad in ("0", "-1", "99999999999999999999999", "1e3", "%27%20or%201=1"):
        r = await mine.client.get(f"/console/walkins/{bad}")
        assert r.status_code in (404, 422), (bad, r.status_code)

    # Every write audited, with ids only.
    async with env.store.transaction() as session:
        events = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.actor.like("user:%"))
            )
        ).all()
    actions = [a for a, _ in events]
    assert actions.count("walkin.recorded") == 1 and "walkin.viewed" in actions
    assert all("Kursk-3" not in detail for _, detail in events)


async def test_forged_oversize_and_malformed_input(sqlite_env: Env, make_console) -> None:  # type: ignore[no-untyped-def]
    env = sqlite_env
    await Campaigns(env.store).add(CampaignSpec("kursk-a1", "Kursk drop 1"))
    console = await make_console(env)
    front = await console.user("front-3", "front", sectors="Kursk-3")
    refused = [
        {"leaflet": "k" * 301},
        {"group_size": "0"},
        {"group_size": "1e9"},
        {"group_size": ""},
        {"lang": "xx"},
        {"arrived_at": "yesterday"},
        {"arrived_at": "1999-01-01T00:00"},
        {"sector": "Kursk-3" + "x" * 300},
    ]
    for changes in refused:
        r = await front.post("/console/walkins", **form(**changes))
        assert r.status_code in (400, 403), (changes, r.status_code)
        if r.status_code == 400:  # the form comes back with what was typed, and says why
            assert 'class="error"' in r.text and 'id="record"' in r.text
    assert await count(env, Walkin) == 0 and await count(env, Case) == 0
    # Without the CSRF token, nothing.
    r = await front.client.post("/console/walkins", data=form())
    assert r.status_code == 403
    # A huge field (the server refuses bodies over HAVEN_CONSOLE_MAX_BODY_BYTES before this).
    r = await front.post("/console/walkins", **form(leaflet="x" * 200_000))
    assert r.status_code == 400 and len(r.text) < 50_000  # not echoed back whole
    assert await count(env, Walkin) == 0
    # Forged leaflet codes are recorded as unknown: the person counts, no campaign is made up.
    for forged in ("kursk-a1-5", "https://t.me/x?start=orel-1", "<b>kursk</b>", "'; drop table"):
        r = await front.post("/console/walkins", **form(leaflet=forged))
        assert r.status_code == 303, (forged, r.text[:300])
    async with env.store.transaction() as session:
        campaigns = set((await session.scalars(select(Case.campaign))).all())
    assert campaigns == {UNKNOWN}
    # The capture card of one: captured, and nothing of the forged code in it.
    walkin = (await front.client.get("/console/walkins")).text
    first = SEEN.search(walkin).group(1)  # type: ignore[union-attr]
    r = await front.client.get(f"/console/walkins/{first}/pow")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    card = json.loads(r.text)
    assert card["status"] == "captured" and card["sector_of_capture"] == "Kursk-3"


async def test_the_form_may_use_the_camera_and_nothing_else(sqlite_env: Env, make_console) -> None:  # type: ignore[no-untyped-def]
    console = await make_console(sqlite_env)
    front = await console.user("front-3", "front", sectors="Kursk-3")
    page = await front.client.get("/console/walkins")
    assert page.headers["permissions-policy"] == "camera=(self), microphone=(), geolocation=()"
    other = await front.client.get("/console/account")
    assert "camera=()" in other.headers["permissions-policy"]
