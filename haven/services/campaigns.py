"""Campaigns: create and list them, channel posts, and the funnel aggregates of the report.

Each public method is one use case in one transaction. The funnel returns exact counts for the
report layer (``haven.campaigns.report``), which hides every count under 5 before anything is
shown: nothing here ever names or returns a single case.
"""

from __future__ import annotations

import builtins
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from haven.content import LANGS
from haven.domain.cases import CaseState, Channel
from haven.store import audit
from haven.store.db import Store
from haven.store.models import Campaign, Case, ChannelPost, LeafletBatch, utcnow

#: A campaign code: 2 to 32 of a-z, 0-9, '-' or '_', starting with a letter or digit.
CODE = re.compile(r"\A[a-z0-9][a-z0-9_-]{1,31}\Z")
#: A leaflet code, what a leaflet's QR link and its print carry: a campaign code, or one with
#: the number of its print batch after a '-' ("kursk-a1-3").
LEAFLET_CODE = re.compile(r"\A[a-z0-9][a-z0-9_-]{1,31}(?:-[1-9][0-9]{0,3})?\Z")
#: The highest print batch number of a campaign.
BATCH_MAX = 9999
#: The longest leaflet text a walk-in form takes (a QR's link, or the code typed).
LEAFLET_TEXT_MAX = 300
#: What a link's campaign is recorded as when no campaign has its code (kept apart in the
#: funnel, so that a misprinted or forged link is seen without inventing a campaign).
UNKNOWN = "unknown"
NO_CAMPAIGN = "(none)"
NO_SECTOR = "-"
NO_BATCH = "-"


class CampaignKind(StrEnum):
    leaflet = "leaflet"
    video = "video"
    post = "post"
    other = "other"


class CampaignError(ValueError):
    """A campaign (or post) is malformed, unknown or already exists; ``str()`` says which."""


@dataclass(frozen=True)
class CampaignSpec:
    code: str
    name: str
    kind: CampaignKind = CampaignKind.leaflet
    langs: tuple[str, ...] = ("ko",)
    sector: str = ""
    starts_on: date | None = None
    ends_on: date | None = None

    def validated(self) -> CampaignSpec:
        code = code_of(self.code)
        if code is None:
            raise CampaignError(
                f"campaign code {self.code!r}: 2 to 32 of a-z, 0-9, '-' or '_', "
                "starting with a letter or digit"
            )
        if code == UNKNOWN:
            raise CampaignError(f"{UNKNOWN!r} is what links of no campaign are counted as")
        name = " ".join(self.name.split())
        if not name or len(name) > 200:
            raise CampaignError("a campaign needs a name of 1 to 200 characters")
        try:
            kind = CampaignKind(self.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in CampaignKind)
            raise CampaignError(f"campaign kind {self.kind!r}: one of {kinds}") from None
        langs = tuple(dict.fromkeys(self.langs))
        if not langs or any(lang not in LANGS for lang in langs):
            raise CampaignError(f"campaign languages {langs!r}: some of {', '.join(LANGS)}")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise CampaignError("a campaign cannot end before it starts")
        sector = " ".join(self.sector.split())[:100]
        return CampaignSpec(code, name, kind, langs, sector, self.starts_on, self.ends_on)


def normalize_code(text: str) -> str:
    """A code as an applicant may type it (spaces, capitals) in the stored form."""
    return text.strip().lower()


def code_of(text: str) -> str | None:
    """``text`` as a campaign code in its stored form, or ``None`` if it cannot be one."""
    code = normalize_code(text[:64])
    return code if CODE.fullmatch(code) else None


def link_form(payload: str) -> str | None:
    """A link's payload before it is looked up: its leaflet code (a campaign's, or one of its
    print batches'), :data:`UNKNOWN` if it cannot be one, ``None`` if there is none
    (:meth:`Campaigns.link_code` looks it up)."""
    if not payload.strip():
        return None
    code = normalize_code(payload[:64])
    return code if LEAFLET_CODE.fullmatch(code) else UNKNOWN


def leaflet_code(campaign: str, batch: int) -> str:
    """The code of a campaign's print batch, as its QR link and its print carry it."""
    return f"{campaign}-{batch}"


def batch_mark(campaign: str, batch: int) -> str:
    """How a print batch is marked on its leaflets, beside the campaign code ("kursk-a1 · 3");
    :func:`leaflet_payload` reads it back."""
    return f"{campaign} \u00b7 {batch}"


def leaflet_payload(text: str) -> str | None:
    """What a walk-in's leaflet says, as a front unit gives it (the link its QR holds, or the
    code typed from the print, "KURSK-A1 3" or "kursk-a1 · 3"), as a link payload; ``None``
    for nothing. :class:`CampaignError` when it is longer than a leaflet could hold."""
    text = text.strip()
    if not text:
        return None
    if len(text) > LEAFLET_TEXT_MAX:
        raise CampaignError(f"a leaflet code or link of at most {LEAFLET_TEXT_MAX} characters")
    if "://" in text or text.lower().startswith("t.me/"):
        query = parse_qs(urlsplit(text if "://" in text else f"https://{text}").query)
        values = query.get("start") or query.get("c") or [""]
        return values[0] or UNKNOWN
    return re.sub(r"[\s\u00b7./]+", "-", text)


@dataclass(frozen=True)
class Leaflet:
    """Where a leaflet came from: the code a case records, its campaign and print batch."""

    code: str
    campaign: str
    batch: int | None = None


UNKNOWN_LEAFLET = Leaflet(UNKNOWN, UNKNOWN)


@dataclass(frozen=True)
class BatchRecord:
    campaign: str
    number: int
    code: str
    created_at: datetime


@dataclass(frozen=True)
class CampaignRecord:
    code: str
    name: str
    kind: CampaignKind
    langs: tuple[str, ...]
    sector: str
    starts_on: date | None
    ends_on: date | None
    created_at: datetime


def _record(row: Campaign) -> CampaignRecord:
    return CampaignRecord(
        code=row.code,
        name=row.name,
        kind=CampaignKind(row.kind),
        langs=tuple(lang for lang in row.langs.split(",") if lang),
        sector=row.sector,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        created_at=row.created_at,
    )


#: The funnel's stages, in order, and the case states that have reached each one; beside
#: them, the walk-ins: people who arrived with the leaflet and no contact before.
STAGES: tuple[str, ...] = ("contacts", "submitted", "verified", "scheduled", "arrived", "walk_ins")
_REACHED: dict[str, frozenset[str]] = {
    "verified": frozenset({CaseState.verified, CaseState.scheduled, CaseState.arrived}),
    "scheduled": frozenset({CaseState.scheduled, CaseState.arrived}),
    "arrived": frozenset({CaseState.arrived}),
}


@dataclass(frozen=True)
class FunnelKey:
    campaign: str
    batch: str  # the print batch's number, or NO_BATCH
    lang: str
    sector: str
    week: str  # ISO week of the first contact, "2026-W47"


@dataclass
class FunnelRow:
    key: FunnelKey
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class PostSpec:
    channel: str
    texts: dict[str, str]
    scheduled_at: datetime
    campaign: str | None = None
    media_path: str = ""
    media_kind: str = ""

    def validated(self) -> PostSpec:
        channel = self.channel.strip()
        if not re.match(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{5,20})$", channel):
            raise CampaignError(f"channel {channel!r}: a public @username or a -100… channel id")
        texts = {lang: text.strip() for lang, text in self.texts.items() if text.strip()}
        if not texts or any(lang not in LANGS for lang in texts):
            raise CampaignError(f"a post needs text in some of {', '.join(LANGS)}")
        if self.media_kind not in ("", "photo", "video") or bool(self.media_path) != bool(
            self.media_kind
        ):
            raise CampaignError("a post's media is a photo or a video file, or nothing")
        campaign = normalize_code(self.campaign) if self.campaign else None
        return PostSpec(
            channel, texts, self.scheduled_at, campaign, self.media_path, self.media_kind
        )


@dataclass(frozen=True)
class PostRecord:
    id: int
    campaign: str | None
    channel: str
    texts: dict[str, str]
    media_path: str
    media_kind: str
    status: str
    scheduled_at: datetime
    queued_at: datetime | None


def _post(row: ChannelPost) -> PostRecord:
    return PostRecord(
        id=row.id,
        campaign=row.campaign,
        channel=row.channel,
        texts=json.loads(row.texts),
        media_path=row.media_path,
        media_kind=row.media_kind,
        status=row.status,
        scheduled_at=row.scheduled_at,
        queued_at=row.queued_at,
    )


class Campaigns:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- campaigns ---------------------------------------------------------------------

    async def add(self, spec: CampaignSpec, actor: str = "cli") -> CampaignRecord:
        spec = spec.validated()
        try:
            async with self.store.transaction() as session:
                taken = select(LeafletBatch.id).where(LeafletBatch.code == spec.code)
                if await session.scalar(taken) is not None:
                    raise CampaignError(f"{spec.code!r} is the code of a leaflet print batch")
                row = Campaign(
                    code=spec.code,
                    name=spec.name,
                    kind=spec.kind.value,
                    langs=",".join(spec.langs),
                    sector=spec.sector,
                    starts_on=spec.starts_on,
                    ends_on=spec.ends_on,
                )
                session.add(row)
                await session.flush()
                await audit.append(session, actor, "campaign.add", None, {"code": spec.code})
                return _record(row)
        except IntegrityError:
            raise CampaignError(f"campaign {spec.code!r} exists already") from None

    async def list(self) -> list[CampaignRecord]:
        async with self.store.transaction() as session:
            rows = await session.scalars(select(Campaign).order_by(Campaign.code))
            return [_record(r) for r in rows]

    async def get(self, code: str) -> CampaignRecord:
        async with self.store.transaction() as session:
            row = await session.scalar(
                select(Campaign).where(Campaign.code == normalize_code(code))
            )
            if row is None:
                raise CampaignError(f"no campaign {code!r}")
            return _record(row)

    async def known_code(self, text: str) -> str | None:
        """The campaign code an applicant typed (``start`` parameter or a word), if it exists."""
        code = code_of(text)
        if code is None:
            return None
        async with self.store.transaction() as session:
            return await session.scalar(select(Campaign.code).where(Campaign.code == code))

    async def link_code(self, payload: str) -> str | None:
        """The campaign a link carried (a Telegram ``/start`` payload, the web's ``?c=``): its
        leaflet code if the campaign (or its print batch) exists, :data:`UNKNOWN` if not,
        ``None`` for no payload. Cases record this as their campaign."""
        found = await self.leaflet(payload)
        return found.code if found is not None else None

    async def leaflet(self, payload: str) -> Leaflet | None:
        """A link payload resolved (:func:`find_leaflet`)."""
        async with self.store.transaction() as session:
            return await find_leaflet(session, payload)

    # --- leaflet print batches ---------------------------------------------------------

    async def number_batch(self, campaign: str, actor: str = "cli") -> BatchRecord:
        """A new print batch of ``campaign``, numbered after its last one (1 for the first)."""
        code = normalize_code(campaign)
        try:
            async with self.store.transaction() as session:
                if await session.scalar(select(Campaign.id).where(Campaign.code == code)) is None:
                    raise CampaignError(f"no campaign {campaign!r}")
                last = await session.scalar(
                    select(func.max(LeafletBatch.number)).where(LeafletBatch.campaign == code)
                )
                number = int(last or 0) + 1
                if number > BATCH_MAX:
                    raise CampaignError(f"campaign {code!r} has {BATCH_MAX} print batches already")
                batch_code = leaflet_code(code, number)
                taken = select(Campaign.id).where(Campaign.code == batch_code)
                if await session.scalar(taken) is not None:
                    raise CampaignError(f"a campaign has the code {batch_code!r} of this batch")
                row = LeafletBatch(campaign=code, number=number, code=batch_code)
                session.add(row)
                await session.flush()
                await audit.append(
                    session, actor, "leaflet.batch", None, {"campaign": code, "batch": number}
                )
                return BatchRecord(row.campaign, row.number, row.code, row.created_at)
        except IntegrityError:
            raise CampaignError(f"another batch of {code!r} was numbered at once: again") from None

    async def batch(self, campaign: str, number: int) -> BatchRecord:
        """A print batch numbered before (to print it again)."""
        async with self.store.transaction() as session:
            row = await session.scalar(
                select(LeafletBatch).where(
                    LeafletBatch.campaign == normalize_code(campaign),
                    LeafletBatch.number == number,
                )
            )
            if row is None:
                raise CampaignError(f"campaign {campaign!r} has no print batch {number}")
            return BatchRecord(row.campaign, row.number, row.code, row.created_at)

    # --- the funnel --------------------------------------------------------------------

    # builtins.list: inside this class, `list` names the method above.
    async def funnel(self) -> builtins.list[FunnelRow]:
        """Exact counts per campaign, print batch, language, sector and week (the report hides
        small ones). Walk-ins count as walk-ins only, never as contacts."""
        day = func.date(Case.created_at)
        walk_in = Case.channel == Channel.walk_in.value
        query = (
            select(
                func.coalesce(LeafletBatch.campaign, Case.campaign),
                LeafletBatch.number,
                Case.lang,
                Campaign.sector,
                day,
                Case.state,
                Case.submitted_at.is_not(None),
                walk_in,
                func.count(),
            )
            .select_from(Case)
            .outerjoin(LeafletBatch, LeafletBatch.code == Case.campaign)
            .outerjoin(
                Campaign, Campaign.code == func.coalesce(LeafletBatch.campaign, Case.campaign)
            )
            .group_by(func.coalesce(LeafletBatch.campaign, Case.campaign), LeafletBatch.number)
            .group_by(Case.lang, Campaign.sector, day, Case.state)
            .group_by(Case.submitted_at.is_not(None), walk_in)
        )
        rows: dict[FunnelKey, FunnelRow] = {}
        async with self.store.transaction() as session:
            result = (await session.execute(query)).all()
        for campaign, batch, lang, sector, created, state, submitted, walked, count in result:
            when = created if isinstance(created, date) else date.fromisoformat(str(created))
            key = FunnelKey(
                campaign or NO_CAMPAIGN,
                str(batch) if batch is not None else NO_BATCH,
                lang or "-",
                sector or NO_SECTOR,
                iso_week(when),
            )
            row = rows.setdefault(key, FunnelRow(key))
            if walked:
                row.counts["walk_ins"] += count
                continue
            row.counts["contacts"] += count
            if submitted or state not in (CaseState.draft, CaseState.closed):
                row.counts["submitted"] += count
            for stage, states in _REACHED.items():
                if state in states:
                    row.counts[stage] += count
        return sorted(
            rows.values(),
            key=lambda r: (r.key.campaign, r.key.batch, r.key.lang, r.key.sector, r.key.week),
        )

    # --- channel posts -----------------------------------------------------------------

    async def schedule_post(self, spec: PostSpec, actor: str = "cli") -> PostRecord:
        spec = spec.validated()
        async with self.store.transaction() as session:
            if spec.campaign is not None:
                exists = await session.scalar(
                    select(Campaign.id).where(Campaign.code == spec.campaign)
                )
                if exists is None:
                    raise CampaignError(f"no campaign {spec.campaign!r}")
            row = ChannelPost(
                campaign=spec.campaign,
                channel=spec.channel,
                texts=json.dumps(spec.texts, ensure_ascii=False, sort_keys=True),
                media_path=spec.media_path,
                media_kind=spec.media_kind,
                status="scheduled",
                scheduled_at=spec.scheduled_at,
            )
            session.add(row)
            await session.flush()
            await audit.append(
                session, actor, "post.schedule", None, {"post": row.id, "campaign": spec.campaign}
            )
            return _post(row)

    async def posts(self) -> builtins.list[PostRecord]:
        async with self.store.transaction() as session:
            rows = await session.scalars(select(ChannelPost).order_by(ChannelPost.scheduled_at))
            return [_post(r) for r in rows]

    async def cancel_post(self, post_id: int, actor: str = "cli") -> PostRecord:
        async with self.store.transaction() as session:
            row = await session.get(ChannelPost, post_id)
            if row is None or row.status != "scheduled":
                raise CampaignError(f"no scheduled post {post_id}")
            row.status = "cancelled"
            await audit.append(session, actor, "post.cancel", None, {"post": post_id})
            return _post(row)

    async def due_posts(self, now: datetime | None = None) -> builtins.list[PostRecord]:
        moment = now or utcnow()
        async with self.store.transaction() as session:
            rows = await session.scalars(
                select(ChannelPost)
                .where(ChannelPost.status == "scheduled", ChannelPost.scheduled_at <= moment)
                .order_by(ChannelPost.scheduled_at)
            )
            return [_post(r) for r in rows]


def week_start(week: str) -> date:
    """Monday of an ISO week string ("2026-W47")."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def weeks_between(first: date, last: date) -> list[str]:
    out = []
    day = first - timedelta(days=first.weekday())
    while day <= last:
        out.append(iso_week(day))
        day += timedelta(days=7)
    return out


def by_campaign(rows: list[FunnelRow]) -> dict[str, dict[str, int]]:
    """Totals per campaign over every language, sector and week."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STAGES, 0))
    for row in rows:
        for stage, count in row.counts.items():
            totals[row.key.campaign][stage] += count
    return dict(totals)


def by_batch(rows: list[FunnelRow]) -> dict[tuple[str, str], dict[str, int]]:
    """Totals per campaign and print batch over every language, sector and week."""
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(STAGES, 0))
    for row in rows:
        for stage, count in row.counts.items():
            totals[(row.key.campaign, row.key.batch)][stage] += count
    return dict(totals)


async def find_leaflet(session: AsyncSession, payload: str) -> Leaflet | None:
    """A link payload resolved in the caller's transaction: the campaign and print batch it
    names, :data:`UNKNOWN_LEAFLET` for a code no campaign or batch has (misprinted, forged),
    ``None`` for no payload."""
    code = link_form(payload)
    if code is None:
        return None
    if code == UNKNOWN:
        return UNKNOWN_LEAFLET
    if await session.scalar(select(Campaign.code).where(Campaign.code == code)):
        return Leaflet(code, code)
    batch = await session.scalar(select(LeafletBatch).where(LeafletBatch.code == code))
    if batch is None:
        return UNKNOWN_LEAFLET
    return Leaflet(code, batch.campaign, batch.number)


class PostSink(Protocol):
    """Queues one language's message of a post, in the caller's transaction (the outbox)."""

    async def __call__(self, session: AsyncSession, post: PostRecord, lang: str) -> None: ...


async def publish_due(
    store: Store, sink: PostSink, now: datetime | None = None, actor: str = "cli"
) -> list[int]:
    """Hand every due post to ``sink`` (one message per language) and mark it queued.

    One transaction: a post is queued in the outbox exactly when it is marked ``queued``.
    """
    moment = now or utcnow()
    done: list[int] = []
    async with store.transaction() as session:
        query = (
            select(ChannelPost)
            .where(ChannelPost.status == "scheduled", ChannelPost.scheduled_at <= moment)
            .order_by(ChannelPost.scheduled_at)
            .with_for_update(skip_locked=True)
        )
        for row in (await session.scalars(query)).all():
            record = _post(row)
            for lang in sorted(record.texts):
                await sink(session, record, lang)
            row.status = "queued"
            row.queued_at = moment
            done.append(row.id)
            await audit.append(session, actor, "post.queue", None, {"post": row.id})
    return done
