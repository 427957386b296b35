"""Walk-ins, for front units and coordinators: the one-minute form on a phone (the leaflet's QR
scanned with the camera where the browser can, or its code typed), the walk-ins of one's
sectors, and the capture card of each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from haven.content import LANGS, LANGUAGE_NAMES
from haven.services.cases import BadText
from haven.services.identity import Principal, Role
from haven.services.walkins import GROUP_MAX, Walkins

from .deps import form_of, need_key, render, require, root, state

router = APIRouter()

Recorder = Annotated[Principal, Depends(require(Role.front, Role.coordinator))]
#: The zone the front gives and reads times in.
ZONE = ZoneInfo("Europe/Kyiv")
#: The form's page may use the camera (its own origin only) to scan a leaflet's QR code.
CAMERA_POLICY = "camera=(self), microphone=(), geolocation=()"
WalkinId = Annotated[int, Path(ge=1, le=2**62)]


def _local(value: datetime | None) -> str:
    """Naive UTC as the front reads it (Kyiv time)."""
    if value is None:
        return "–"
    return f"{value.replace(tzinfo=UTC).astimezone(ZONE):%Y-%m-%d %H:%M}"


def _utc(text: str) -> datetime:
    """A form's Kyiv date and time as naive UTC (BadText when malformed)."""
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadText("a date and time, like 2026-05-01T05:30") from None
    return local.replace(tzinfo=ZONE).astimezone(UTC).replace(tzinfo=None)


async def _page(
    request: Request, p: Principal, status: int = 200, error: str = "", **values: str
) -> Response:
    keyring = need_key(request, p)
    rows = await Walkins(state(request).store).list(p.viewer, keyring)
    now = datetime.now(ZONE)
    response = render(
        request,
        "walkins.html",
        p,
        status=status,
        error=error,
        rows=rows,
        local=_local,
        sectors=sorted(p.sectors) if p.sectors is not None else None,
        langs=[(code, LANGUAGE_NAMES.get(code, code)) for code in LANGS],
        group_max=GROUP_MAX,
        values={"arrived_at": f"{now:%Y-%m-%dT%H:%M}", "group_size": "1", "lang": "ko", **values},
    )
    response.headers["permissions-policy"] = CAMERA_POLICY
    return response


@router.get("/walkins")
async def walkins_page(request: Request, p: Recorder) -> Response:
    return await _page(request, p)


@router.post("/walkins")
async def walkin_record(request: Request, p: Recorder) -> Response:
    form = await form_of(request, p)
    keyring = need_key(request, p)
    fields = ("leaflet", "sector", "arrived_at", "group_size", "wounded", "lang")
    values: dict[str, Any] = {k: str(form.get(k, ""))[:400] for k in fields}
    try:
        try:
            group = int(values["group_size"])
        except ValueError:
            raise BadText(f"a group of 1 to {GROUP_MAX} people") from None
        row = await Walkins(state(request).store).record(
            p.viewer,
            sector=values["sector"],
            arrived_at=_utc(values["arrived_at"]),
            group_size=group,
            wounded=values["wounded"] == "yes",
            lang=values["lang"],
            leaflet=values["leaflet"],
            keyring=keyring,
        )
    except BadText as exc:
        return await _page(request, p, 400, str(exc), **values)
    return RedirectResponse(f"{root(request)}/walkins/{row.id}", status_code=303)


@router.get("/walkins/{walkin_id}")
async def walkin_page(request: Request, walkin_id: WalkinId, p: Recorder) -> Response:
    row = await Walkins(state(request).store).get(p.viewer, walkin_id, need_key(request, p))
    return render(
        request,
        "walkin.html",
        p,
        row=row,
        local=_local,
        lang_name=LANGUAGE_NAMES.get(row.lang, row.lang),
    )


@router.get("/walkins/{walkin_id}/pow")
async def walkin_pow(request: Request, walkin_id: WalkinId, p: Recorder) -> Response:
    record = await Walkins(state(request).store).pow_record(
        p.viewer, walkin_id, need_key(request, p)
    )
    return Response(
        json.dumps(record, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="capture-card-W{walkin_id:06d}.json"'
        },
    )
