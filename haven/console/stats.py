"""Numbers: the analysts' statistics and campaign funnel (aggregates only), and the admins'
campaign list, where campaigns are added."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from haven.campaigns import report
from haven.campaigns.links import links as campaign_links
from haven.content import LANGS, LANGUAGE_NAMES
from haven.domain.cases import CaseState
from haven.services.auditlog import record
from haven.services.campaigns import (
    CampaignError,
    CampaignKind,
    Campaigns,
    CampaignSpec,
    by_campaign,
)
from haven.services.identity import Principal
from haven.services.stats import case_counts

from .deps import Admin, Analyst, bad, form_of, render, state

router = APIRouter()

#: Aggregates below this are shown as "<5" on the analyst's page (no person stands out).
SMALL_COUNT = 5


@router.get("/stats")
async def stats(request: Request, p: Analyst) -> Response:
    store = state(request).store
    counts = await case_counts(store=store)
    funnel = await Campaigns(store).funnel()
    totals = by_campaign(funnel)
    charts = [  # funnel_svg escapes every text it draws
        (code, Markup(report.funnel_svg(code, totals[code])))  # noqa: S704
        for code in sorted(totals)
    ]
    return render(
        request,
        "stats.html",
        p,
        states=[s.value for s in CaseState],
        langs=counts.langs,
        table=counts.by_state_lang,
        channels=counts.by_channel,
        charts=charts,
        funnel=report.table(funnel),
        batches=report.batch_table(funnel),
        shown=shown,
    )


@router.get("/stats.csv")
async def stats_csv(request: Request, p: Analyst) -> Response:
    store = state(request).store
    body = report.to_csv(await Campaigns(store).funnel())
    await record(
        store=store, actor=p.viewer.actor, action="report.exported", detail={"format": "csv"}
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="haven-funnel.csv"'},
    )


@router.get("/campaigns")
async def campaigns_page(request: Request, p: Admin) -> Response:
    return await render_campaigns(request, p)


async def render_campaigns(request: Request, p: Principal, added: str = "") -> Response:
    st = state(request)
    records = await Campaigns(st.store).list()
    return render(
        request,
        "campaigns.html",
        p,
        campaigns=[(r, campaign_links(st.settings, r.code).all) for r in records],
        kinds=[k.value for k in CampaignKind],
        langs=LANGS,
        language_names=LANGUAGE_NAMES,
        added=added,
    )


@router.post("/campaigns")
async def campaigns_add(request: Request, p: Admin) -> Response:
    form = await form_of(request, p)
    try:
        spec = CampaignSpec(
            code=str(form.get("code", "")),
            name=str(form.get("name", "")),
            kind=CampaignKind(str(form.get("kind", "leaflet"))),
            langs=tuple(str(v) for v in form.getlist("langs")),
            sector=str(form.get("sector", "")),
            starts_on=day(form.get("starts")),
            ends_on=day(form.get("ends")),
        )
        added = await Campaigns(state(request).store).add(spec, p.viewer.actor)
    except (CampaignError, ValueError) as exc:
        return bad(request, p, exc)
    return await render_campaigns(request, p, added=added.code)


def day(value: object) -> date | None:
    """A YYYY-MM-DD form field, or None when empty (ValueError when malformed)."""
    text = str(value or "").strip()
    return date.fromisoformat(text) if text else None


def shown(n: int | None) -> str:
    """A count as the analysts see it: small ones are not told exactly."""
    if not n:
        return "0"
    return f"<{SMALL_COUNT}" if n < SMALL_COUNT else str(n)
