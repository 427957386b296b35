"""Campaign codes: one form (2 to 32 characters) and one reading of a link's payload, for the
bot's deep links, the web's ``?c=`` and the service alike."""

from __future__ import annotations

import pytest

from haven.services.campaigns import (
    UNKNOWN,
    CampaignError,
    Campaigns,
    CampaignSpec,
    code_of,
    link_form,
)
from tests.conftest import Env


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (" Leaflet-A6 ", "leaflet-a6"),
        ("k2", "k2"),
        ("a" * 32, "a" * 32),
        ("a" * 33, None),
        ("a" * 63, None),
        ("k", None),
        ("-leaflet", None),
        ("leaf let", None),
        ("leaflet\n", "leaflet"),
        ("лист", None),
        ("", None),
    ],
)
def test_one_code_form(text: str, code: str | None) -> None:
    assert code_of(text) == code
    if code is None:
        with pytest.raises(CampaignError):
            CampaignSpec(text, "n").validated()
    else:
        assert CampaignSpec(text, "n").validated().code == code


def test_a_payload_that_cannot_be_a_code_is_unknown() -> None:
    assert link_form("  ") is None
    assert link_form("Kursk-A6") == "kursk-a6"
    assert link_form("a" * 40) == link_form("<script>") == UNKNOWN
    with pytest.raises(CampaignError):
        CampaignSpec(UNKNOWN, "reserved").validated()


async def test_link_code_looks_the_campaign_up(sqlite_env: Env) -> None:
    campaigns = Campaigns(sqlite_env.store)
    await campaigns.add(CampaignSpec("kursk-a6", "Kursk"))
    assert await campaigns.link_code(" KURSK-A6") == "kursk-a6"
    assert await campaigns.link_code("kursk-a7") == UNKNOWN
    assert await campaigns.link_code("x" * 4000) == UNKNOWN
    assert await campaigns.link_code("") is None
