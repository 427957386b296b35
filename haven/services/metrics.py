"""Figures for those on call, aggregates only: never an identifier, a place or a text.

Two kinds, for two processes (docs/adr/0011-metrics.md):

* **Gauges** are computed from the database when the console is scraped: cases by state, how
  long the oldest submitted case has waited, the outbox's and the inbox's backlog.
* **Counters** (sends, 429s, intake inputs, flood-guard mutes, rate-limit refusals, errors)
  happen in the intake process. Each process counts them in memory (:func:`count`) and a
  :class:`Flusher` adds them to the ``metric_counters`` table every few seconds, so that the
  console, another process, reads the totals of every intake process there.

A counter's name and label come from the fixed lists below; anything else is refused
(:class:`UnknownMetric`) or, for a label, counted as ``other``, so no value that came from
outside can ever become a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from haven.domain.cases import CaseState, Channel, medium
from haven.store.db import Store
from haven.store.models import Case, InboxUpdate, MetricCounter, OutboxMessage, utcnow

log = logging.getLogger("haven.metrics")

CHANNELS = frozenset(c.value for c in Channel)
#: The rate limiters (:class:`haven.services.ratelimit.Limiter` names).
LIMITS = frozenset({"inbound", "web", "unlock", "telegram"})
#: The parts of haven whose logged errors are counted (``haven.<component>`` loggers).
COMPONENTS = frozenset(
    {
        "accounts",
        "applicant",
        "console",
        "intake",
        "metrics",
        "outbox",
        "retention",
        "store",
        "telegram",
        "web",
    }
)
OTHER = "other"


@dataclass(frozen=True)
class CounterSpec:
    help: str
    #: The label's name, and the values it may take (nothing else is ever stored).
    label: str = ""
    values: frozenset[str] = frozenset()


COUNTERS: dict[str, CounterSpec] = {
    "outbox_sent": CounterSpec("Messages the channel accepted.", "channel", CHANNELS),
    "outbox_throttled": CounterSpec(
        "Sends the channel refused with 429 (retry after).", "channel", CHANNELS
    ),
    "outbox_retried": CounterSpec(
        "Sends that failed for now (network) and are retried.", "channel", CHANNELS
    ),
    "outbox_failed": CounterSpec("Sends the channel refused for good.", "channel", CHANNELS),
    "outbox_unreachable": CounterSpec(
        "Sends to a contact who blocked the bot (403).", "channel", CHANNELS
    ),
    "intake_inputs": CounterSpec("Applicants' inputs run through the intake.", "channel", CHANNELS),
    "flood_mutes": CounterSpec("Chats muted for a while by the flood guard."),
    "rate_limit_refusals": CounterSpec("Inputs refused by a rate limit.", "limit", LIMITS),
    "errors": CounterSpec("Errors logged, by part of haven.", "component", COMPONENTS),
}


class UnknownMetric(ValueError):
    """A counter that is not in :data:`COUNTERS`."""


class Tally:
    """This process's counts since the last flush (thread-safe: the store's thread counts too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, name: str, label: str = "", n: int = 1) -> None:
        spec = COUNTERS.get(name)
        if spec is None:
            raise UnknownMetric(name)
        if not spec.label:
            label = ""
        elif spec.label == "channel":
            label = medium(label)  # every bot counts as Telegram
        if spec.label and label not in spec.values:
            label = OTHER
        with self._lock:
            self._counts[(name, label)] = self._counts.get((name, label), 0) + n

    def take(self) -> dict[tuple[str, str], int]:
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts

    def give_back(self, counts: dict[tuple[str, str], int]) -> None:
        with self._lock:
            for key, n in counts.items():
                self._counts[key] = self._counts.get(key, 0) + n


#: The process's tally: what :func:`count` adds to and a :class:`Flusher` writes.
TALLY = Tally()


def count(name: str, label: str = "", n: int = 1) -> None:
    """Count ``n`` events of counter ``name`` (one of :data:`COUNTERS`)."""
    TALLY.add(name, label, n)


_UPSERT = sa.text(
    "INSERT INTO metric_counters (name, label, value) VALUES (:name, :label, :n) "
    "ON CONFLICT (name, label) DO UPDATE SET value = metric_counters.value + excluded.value"
)


async def flush(store: Store, tally: Tally = TALLY) -> int:
    """Add the tally to the table, in one transaction; given back if that fails."""
    counts = tally.take()
    if not counts:
        return 0
    rows = [{"name": n, "label": lbl, "n": v} for (n, lbl), v in sorted(counts.items())]
    try:
        async with store.transaction() as session:
            await session.execute(_UPSERT, rows)
    except BaseException:
        tally.give_back(counts)
        raise
    return len(rows)


class ErrorCounter(logging.Handler):
    """Counts the errors haven's loggers write, by component (the logger's second name)."""

    def __init__(self, tally: Tally = TALLY) -> None:
        super().__init__(logging.ERROR)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        parts = record.name.split(".")
        if parts[0] == "haven":
            self.tally.add("errors", parts[1] if len(parts) > 1 else OTHER)


class Flusher:
    """Writes this process's counts to the table every ``every`` seconds while it runs, and
    once more when it stops; counts the errors haven logs meanwhile."""

    def __init__(self, store: Store, every: float = 5.0, tally: Tally = TALLY) -> None:
        self.store = store
        self.every = every
        self.tally = tally
        self.handler = ErrorCounter(tally)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        logging.getLogger("haven").addHandler(self.handler)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await flush(self.store, self.tally)
            except Exception as exc:  # a busy database: the next round will do
                log.warning("metrics event=flush_failed type=%s", type(exc).__name__)

    async def stop(self) -> None:
        logging.getLogger("haven").removeHandler(self.handler)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await flush(self.store, self.tally)


# --- reading them (the console) -------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every figure at one moment."""

    cases: dict[str, int]
    oldest_waiting_seconds: float
    outbox_backlog: int
    outbox_oldest_seconds: float
    inbox_backlog: int
    #: Counter name -> label -> total.
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    taken: float = 0.0

    def total(self, name: str) -> int:
        return sum(self.counters.get(name, {}).values())


async def snapshot(store: Store) -> Snapshot:
    """The figures, read in one transaction: counts and ages only."""
    now = utcnow()
    async with store.sessions() as session, session.begin():
        grouped = await session.execute(sa.select(Case.state, sa.func.count()).group_by(Case.state))
        by_state = {str(state): int(n) for state, n in grouped.all()}
        oldest = await session.scalar(
            sa.select(sa.func.min(Case.submitted_at)).where(Case.state == CaseState.submitted.value)
        )
        waiting = OutboxMessage.state.in_(("pending", "sending"))
        backlog, first = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(OutboxMessage.created_at)).where(waiting)
            )
        ).one()
        inbox = await session.scalar(sa.select(sa.func.count()).select_from(InboxUpdate))
        rows = (
            await session.execute(
                sa.select(MetricCounter.name, MetricCounter.label, MetricCounter.value)
            )
        ).all()
    counters: dict[str, dict[str, int]] = {name: {} for name in COUNTERS}
    for name, label, value in rows:
        spec = COUNTERS.get(name)
        if spec is None:
            continue  # not one of ours: never shown
        shown = label if (spec.values and label in spec.values) else (OTHER if spec.label else "")
        counters[name][shown] = counters[name].get(shown, 0) + int(value)
    return Snapshot(
        cases={s.value: int(by_state.get(s.value, 0)) for s in CaseState},
        oldest_waiting_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        outbox_backlog=int(backlog or 0),
        outbox_oldest_seconds=max(0.0, (now - first).total_seconds()) if first else 0.0,
        inbox_backlog=int(inbox or 0),
        counters=counters,
        taken=time.monotonic(),
    )


class _Figures(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        cases = GaugeMetricFamily("haven_cases", "Cases by state.", labels=["state"])
        for state, n in snap.cases.items():
            cases.add_metric([state], n)
        yield cases
        yield GaugeMetricFamily(
            "haven_oldest_waiting_seconds",
            "How long the oldest submitted case has waited for an operator.",
            value=snap.oldest_waiting_seconds,
        )
        yield GaugeMetricFamily(
            "haven_outbox_backlog", "Messages waiting to be sent.", value=snap.outbox_backlog
        )
        yield GaugeMetricFamily(
            "haven_outbox_oldest_seconds",
            "How long the oldest waiting message has waited.",
            value=snap.outbox_oldest_seconds,
        )
        yield GaugeMetricFamily(
            "haven_inbox_backlog", "Updates taken but not handled yet.", value=snap.inbox_backlog
        )
        for name, spec in COUNTERS.items():
            labels = [spec.label] if spec.label else []
            family = CounterMetricFamily(f"haven_{name}", spec.help, labels=labels)
            values = snap.counters.get(name, {})
            keys: Iterable[str] = sorted(spec.values) if spec.label else [""]
            for key in keys:
                family.add_metric([key] if spec.label else [], values.get(key, 0))
            if spec.label and OTHER in values:
                family.add_metric([OTHER], values[OTHER])
            yield family


def exposition(snap: Snapshot) -> bytes:
    """The figures in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(snap))
    return generate_latest(registry)


class Figures:
    """The console's view of the figures: read at most every ``ttl`` seconds however often
    they are asked for (a scraper, a start page), so that asking costs the database little."""

    def __init__(self, store: Store, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._last: Snapshot | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Snapshot:
        async with self._lock:
            last = self._last
            if last is None or time.monotonic() - last.taken >= self.ttl:
                last = self._last = await snapshot(self.store)
            return last
