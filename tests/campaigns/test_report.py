"""Campaigns in the store, the funnel, `haven report` and its CSV, channel posts."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from haven.campaigns import report
from haven.campaigns.links import links
from haven.campaigns.posts import OutboxSink, preview
from haven.flows.inputs import Command
from haven.outbox.payload import Payload
from haven.services.campaigns import (
    CODE,
    CampaignError,
    CampaignKind,
    Campaigns,
    CampaignSpec,
    PostSpec,
    publish_due,
)
from haven.services.intake import Intake
from haven.store.models import Case, OutboxMessage
from tests.conftest import Env

from .conftest import CODE as DEEP


async def seed(env: Env) -> None:
    campaigns = Campaigns(env.store)
    await campaigns.add(CampaignSpec(DEEP, "Kursk drop 1", CampaignKind.leaflet, ("ko",), "Kursk"))
    await campaigns.add(CampaignSpec("tg-video-3", "Video 3", CampaignKind.video, ("ko", "ru")))
    intake = Intake(env.store, env.keys)
    # One applicant who opened the bot through the leaflet's deep link (/start kursk-a1).
    await intake.handle("telegram", "1001", Command("start"), campaign=DEEP, lang="ko")
    # Seven through the video: six get as far as submitted, five verified, one arrived.
    for n in range(7):
        await intake.handle("telegram", f"2{n:03d}", Command("start"), campaign="tg-video-3")
    states = ["submitted", "verified", "verified", "verified", "scheduled", "arrived", "draft"]
    async with env.store.transaction() as session:
        ids = (
            await session.scalars(
                select(Case.id).where(Case.campaign == "tg-video-3").order_by(Case.id)
            )
        ).all()
        for case_id, state in zip(ids, states, strict=True):
            submitted = None if state == "draft" else datetime(2026, 11, 20, 12)
            await session.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(state=state, submitted_at=submitted, lang="ko")
            )


async def test_funnel(env: Env) -> None:
    await seed(env)
    rows = await Campaigns(env.store).funnel()
    by_code = {r.key.campaign: r for r in rows}
    assert by_code[DEEP].counts == {
        "contacts": 1,
        "submitted": 0,
        "verified": 0,
        "scheduled": 0,
        "arrived": 0,
        "walk_ins": 0,
    }
    assert by_code[DEEP].key.sector == "Kursk"
    video = by_code["tg-video-3"].counts
    assert video == {
        "contacts": 7,
        "submitted": 6,
        "verified": 5,
        "scheduled": 2,
        "arrived": 1,
        "walk_ins": 0,
    }
    text = report.to_text(rows)
    assert DEEP in text and "<5" in text
    table = report.table(rows)
    video_row = next(r for r in table if r[0] == "tg-video-3")
    assert video_row[5:] == ["7", "6", "5", "<5", "<5", "<5"]
    deep_row = next(r for r in table if r[0] == DEEP)
    assert deep_row[5:] == ["<5"] * 6
    svg = report.funnel_svg("tg-video-3", video)
    assert svg.startswith("<svg") and ">7<" in svg and "&lt;5" in svg and ">1<" not in svg


def test_report_cli_and_csv(sqlite_env: Env, tmp_path: Path) -> None:
    import asyncio

    asyncio.run(seed(sqlite_env))
    out = tmp_path / "report.csv"
    html = tmp_path / "report.html"
    cmd = [sys.executable, "-m", "haven", "report", "--csv", str(out), "--html", str(html)]
    done = subprocess.run(cmd, env=sqlite_env.environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert DEEP in done.stdout and "<5" in done.stdout
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8"))))
    assert rows[0] == list(report.HEADER)
    deep = [r for r in rows if r[0] == DEEP]
    assert deep and deep[0][2] == "ko" and deep[0][5] == "<5"
    assert all(cell != "1" for r in rows[1:] for cell in r[5:])
    assert "<svg" in html.read_text("utf-8")


async def test_campaign_rules(sqlite_env: Env) -> None:
    campaigns = Campaigns(sqlite_env.store)
    await campaigns.add(CampaignSpec("A-1", "first", CampaignKind.post, ("ko", "ru")))
    assert (await campaigns.get("a-1")).langs == ("ko", "ru")
    assert await campaigns.known_code("  A-1 ") == "a-1"
    assert await campaigns.known_code("nope") is None
    with pytest.raises(CampaignError):
        await campaigns.add(CampaignSpec("a-1", "again"))
    with pytest.raises(CampaignError):
        await campaigns.add(CampaignSpec("x y", "bad code"))
    with pytest.raises(CampaignError):
        await campaigns.add(CampaignSpec("ok-2", "bad lang", langs=("de",)))


@given(st.text(max_size=40))
def test_any_code_is_valid_or_refused(code: str) -> None:
    try:
        spec = CampaignSpec(code, "name").validated()
    except CampaignError:
        return
    assert CODE.match(spec.code)


async def test_post_is_queued_in_the_outbox(sqlite_env: Env, campaign_settings) -> None:  # type: ignore[no-untyped-def]
    campaigns = Campaigns(sqlite_env.store)
    await campaigns.add(CampaignSpec(DEEP, "Kursk drop 1"))
    soon = datetime(2030, 1, 1, 18, 0)
    post = await campaigns.schedule_post(
        PostSpec("@haven_channel", {"ko": "안녕하십니까.", "ru": "Здравствуйте."}, soon, DEEP)
    )
    link = links(campaign_settings, DEEP)
    text = preview(post, link)
    assert "https://t.me/haven_help_bot?start=kursk-a1" in text and "안녕하십니까." in text
    sink = OutboxSink(sqlite_env.keys, {DEEP: link})
    assert await publish_due(sqlite_env.store, sink, now=soon - timedelta(minutes=1)) == []
    assert await publish_due(sqlite_env.store, sink, now=soon) == [post.id]
    assert await publish_due(sqlite_env.store, sink, now=soon) == []  # exactly once
    async with sqlite_env.store.transaction() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    payloads = [Payload.decode(sqlite_env.keys.open_routing(r.payload)) for r in rows]
    assert sorted(p.text.splitlines()[0] for p in payloads) == ["Здравствуйте.", "안녕하십니까."]
    assert all(p.text.endswith("?start=kursk-a1") for p in payloads)
    assert [p.status for p in await campaigns.posts()] == ["queued"]
    with pytest.raises(CampaignError):
        await campaigns.schedule_post(PostSpec("not a channel", {"ko": "x"}, soon))
