"""`haven leaflet-batch` numbers a print batch per campaign; each leaflet carries its batch in
the QR's deep link and prints it beside the campaign code; the link resolves to campaign and
batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner, Result

from haven.cli import app
from haven.services.campaigns import Campaigns, CampaignSpec, leaflet_payload
from tests.campaigns.conftest import pdf_text, qr_codes, squeeze
from tests.conftest import Env


def test_each_run_numbers_a_batch_that_the_qr_and_the_print_carry(
    sqlite_env: Env, tmp_path: Path
) -> None:
    environ = {
        **{k: v for k, v in sqlite_env.environ.items() if k.startswith("HAVEN_")},
        "HAVEN_TELEGRAM_BOT_USERNAME": "haven_help_bot",
    }

    def haven(*args: str) -> Result:
        """The command in this process (a fresh interpreter per command is slow)."""
        return CliRunner().invoke(app, list(args), env=environ)

    campaigns = Campaigns(sqlite_env.store)
    asyncio.run(campaigns.add(CampaignSpec("kursk-a1", "Kursk drop 1")))
    assert asyncio.run(campaigns.number_batch("kursk-a1")).number == 1  # an earlier drop
    out = tmp_path / "leaflets"
    done = haven("leaflet-batch", "--out-dir", str(out), "--lang", "ko")
    assert done.exit_code == 0, done.output
    assert "kursk-a1: print batch 2 (kursk-a1-2)" in done.output
    pdf = out / "kursk-a1-2-ko-A6.pdf"
    assert [p.name for p in out.iterdir()] == [pdf.name]
    (link,) = qr_codes(pdf, tmp_path, page=2)
    assert link == "https://t.me/haven_help_bot?start=kursk-a1-2"
    text = pdf_text(pdf)
    assert "kursk-a1 · 2" in text  # the mark beside the campaign code
    assert squeeze("kursk-a1-2") in squeeze(text)  # the code to send the bot, batch included
    # What the QR says and what is printed both lead back to campaign and batch.
    for read in (link, "kursk-a1 · 2"):
        found = asyncio.run(campaigns.leaflet(leaflet_payload(read) or ""))
        assert found is not None and (found.campaign, found.batch) == ("kursk-a1", 2), read
    # A batch printed again keeps its number; one never numbered is refused.
    again = tmp_path / "again" / "again.pdf"
    done = haven("leaflet", "--campaign", "kursk-a1", "--batch", "1", "--out", str(again))
    assert done.exit_code == 0, done.output
    assert qr_codes(again, again.parent, page=2) == ["https://t.me/haven_help_bot?start=kursk-a1-1"]
    done = haven("leaflet", "--campaign", "kursk-a1", "--batch", "9", "--out", str(again))
    assert done.exit_code != 0 and "no print batch 9" in str(done.exception)
