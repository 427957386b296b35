"""The acceptance walk, in Debian's Chromium at 360 px: a front unit scans a leaflet's QR code
(the code of a real leaflet, decoded from its PDF) and records a walk-in in a few taps; the case
is arrived under its campaign and print batch in the analysts' figures, and the capture card is
exported."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from haven.campaigns.leaflet import write_leaflet
from haven.campaigns.links import links
from haven.console import create_console_app
from haven.services.accounts import Accounts
from haven.services.campaigns import Campaigns, CampaignSpec, batch_mark
from haven.services.verify import verify_for
from haven.services.walkins import Walkins
from haven.settings import load_settings
from haven.store.models import AuditEvent, utcnow
from tests.browser import ARGS, CHROMIUM, needs_chromium
from tests.campaigns.conftest import qr_codes
from tests.conftest import Env
from tests.console.conftest import FAST_HASHER
from tests.console.test_browser import free_port, serve, setup_account
from tests.services.test_walkins import viewers

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium

PHONE = {"width": 360, "height": 740}
SECTOR = "Kursk-3"
#: The camera is Chromium's fake device; the detector answers with what the leaflet's QR holds
#: (headless Chromium on Linux has no BarcodeDetector of its own).
FAKE_DETECTOR = """
window.BarcodeDetector = class {
  constructor(options) { this.formats = options.formats; }
  async detect(source) {
    if (!(source instanceof HTMLVideoElement) || !source.srcObject) return [];
    return this.formats.includes("qr_code") ? [{ rawValue: window.__leafletQr }] : [];
  }
};
"""


async def test_a_front_unit_records_a_walk_in_at_360_px(sqlite_env: Env, tmp_path: Path) -> None:
    environ = {**sqlite_env.environ, "HAVEN_TELEGRAM_BOT_USERNAME": "haven_help_bot"}
    settings = load_settings(environ)
    env = Env(settings, environ, sqlite_env.store, sqlite_env.keys)
    campaigns = Campaigns(env.store)
    await campaigns.add(CampaignSpec("kursk-a1", "Kursk drop 1", sector="Kursk"))
    await campaigns.number_batch("kursk-a1")
    batch = await campaigns.number_batch("kursk-a1")
    # The leaflet of batch 2 as printed; its QR code as a phone camera would read it.
    pdf = write_leaflet(
        tmp_path / "leaflet.pdf",
        "ko",
        "A6",
        links(settings, batch.code),
        verify_for(settings.telegram_bot_username, env.keys),
        batch_mark(batch.campaign, batch.number),
    )
    (qr,) = qr_codes(pdf, tmp_path, page=2)
    assert qr == "https://t.me/haven_help_bot?start=kursk-a1-2"
    # Four walk-ins with this batch came before: with this one, five can be shown exactly.
    keyring = env.keyring()
    (earlier,) = await viewers(env, ("earlier", "front", SECTOR))
    for _ in range(4):
        await Walkins(env.store).record(
            earlier,
            sector=SECTOR,
            arrived_at=utcnow() - timedelta(hours=1),
            group_size=1,
            wounded=False,
            lang="ko",
            leaflet="kursk-a1 · 2",
            keyring=keyring,
        )

    accounts = Accounts(env.store, env.keys, hasher=FAST_HASHER)
    console = create_console_app(settings, env.store, env.keys, accounts=accounts)
    port = free_port()
    server, task = await serve(Starlette(routes=[Mount("/console", app=console)]), port)
    base = f"http://127.0.0.1:{port}/console"
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    *ARGS,
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                ],
            )
            try:
                await _walk(browser, env, base, accounts, qr, tmp_path)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await task


async def _walk(browser, env: Env, base: str, accounts: Accounts, qr: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    phone = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, accept_downloads=True
    )
    await phone.add_init_script(f"window.__leafletQr = {json.dumps(qr)};" + FAKE_DETECTOR)
    front = await phone.new_page()
    errors: list[str] = []
    front.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await front.goto(f"{base}/login")  # the console unlocks from HAVEN_PASSPHRASE here
    link = f"{base}/setup/" + await accounts.add_user("front-3", "front", "test", sectors=SECTOR)
    await setup_account(front, link)
    assert front.url.endswith("/console/walkins")  # where a front unit lands

    # -- the form: scan, a few taps, record.
    await front.click("#scan")
    await playwright_api.expect(front.locator("#leaflet")).to_have_value(qr)
    assert await front.is_hidden("#scanner")  # the camera is let go once the code is read
    await front.fill("input[name=group_size]", "2")
    await front.click("fieldset.choice label:has(input[name=wounded][value=yes])")
    layout = await front.evaluate(
        """() => {
        const b = document.getElementById('record');
        b.scrollIntoView({block: 'center'});
        const r = b.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return {width: document.documentElement.scrollWidth, left: r.left, right: r.right,
                height: r.height, onTop: hit === b || b.contains(hit)};
    }"""
    )
    assert layout["width"] <= PHONE["width"], layout  # nothing wider than the phone
    assert 0 <= layout["left"] and layout["right"] <= PHONE["width"], layout
    assert layout["height"] >= 44 and layout["onTop"], layout  # big, and not covered
    inputs = await front.eval_on_selector_all(
        "form.walkin input:not([type=hidden]), form.walkin select",
        "els => els.filter(e => e.getBoundingClientRect().width < 40 && e.type !== 'radio').length",
    )
    assert inputs == 0
    await front.screenshot(path=str(shots / "walkin-form-360.png"), full_page=True)
    await front.tap("#record")
    await front.wait_for_url("**/walkins/*")
    page = await front.text_content("main") or ""
    assert "kursk-a1" in page and SECTOR in page
    assert (await front.text_content("dd.batch") or "").strip() == "2"
    assert await front.is_visible(".state.s-arrived")
    reference = (await front.text_content("h1 .ref") or "").strip()

    # -- the capture card.
    async with front.expect_download() as info:
        await front.tap("#capture-card")
    download = await info.value
    with open(await download.path(), encoding="utf-8") as fh:  # noqa: ASYNC230 - a small local file
        card = json.load(fh)
    assert card["status"] == "captured" and card["sector_of_capture"] == SECTOR
    assert card["state_of_health"] == "wounded"

    # -- the front unit goes no further: no case page, no figures.
    for path in (f"/cases/{reference}", "/stats", "/handoffs", "/queue"):
        r = await front.goto(base + path)
        assert r is not None and r.status == 403, path

    # -- the analysts' figures: five walk-ins under kursk-a1, batch 2 (so shown exactly).
    desk = await browser.new_context(viewport={"width": 1280, "height": 900})
    analyst = await desk.new_page()
    link = f"{base}/setup/" + await accounts.add_user("numbers", "analyst", "test")
    await setup_account(analyst, link)
    await analyst.goto(f"{base}/stats")
    rows = await analyst.eval_on_selector_all(
        "table.batches tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.innerText))"
    )
    head = await analyst.eval_on_selector_all(
        "table.batches thead th", "ths => ths.map(th => th.innerText)"
    )
    row = next(r for r in rows if r[:2] == ["kursk-a1", "2"])
    assert row[head.index("walk_ins")] == "5", (head, row)
    assert row[head.index("arrived")] == "<5"  # no case came this way by contact
    async with env.store.transaction() as session:
        from sqlalchemy import select

        actions = set((await session.scalars(select(AuditEvent.action))).all())
    assert {"walkin.recorded", "walkin.viewed", "pow.export", "case.transition"} <= actions
    # No script refused by the CSP, none that failed (the 403s above are logged as errors).
    assert not [e for e in errors if not e.startswith("Failed to load resource")], errors
