"""The figures for those on call: ``/metrics`` in the Prometheus text format, and the summary
on the admins' start page. Aggregates only (:mod:`haven.services.metrics`).

``/metrics`` answers loopback only (docs/adr/0011-metrics.md): a scraper cannot log in with a
password and TOTP, so it runs on the console host (or reaches it over the same tunnel as the
operators). A request that came through a proxy (it carries a forwarding header) is refused
even from loopback, since a reverse proxy on the console host would make every visitor one.
Anything else is answered 404, as an unknown page.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException

from haven.services.metrics import Figures, Snapshot, exposition

from .deps import state

router = APIRouter()

#: Headers a reverse proxy adds: a request with one came from elsewhere.
FORWARDING = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def figures(request: Request) -> Figures:
    """The console's figures (read from the database at most every few seconds)."""
    extra = state(request).extra
    found = extra.get("figures")
    if not isinstance(found, Figures):
        found = extra["figures"] = Figures(state(request).store)
    return found


def from_loopback(request: Request) -> bool:
    client = request.client
    if client is None or any(name in request.headers for name in FORWARDING):
        return False
    try:
        return ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        return False


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if not from_loopback(request):
        raise HTTPException(404)
    snap = await figures(request).get()
    return Response(exposition(snap), media_type=CONTENT_TYPE_LATEST)


async def summary(request: Request) -> Snapshot:
    """The figures for the admins' start page."""
    return await figures(request).get()
