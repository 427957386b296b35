"""The web half of the flood benchmark: an applicant several answers into the questionnaire
while fresh sessions flood the forms past the global limit.

    .venv/bin/python bench/web_flood.py [--seconds 20] [--flooders 48]

``haven serve`` runs as a subprocess on 127.0.0.1 with its default web limits (fresh keys and
SQLite database). The applicant takes a session, chooses his language and gives three
answers, and then, while ``--flooders`` connections each take a fresh session (the landing
page) and post its first answer as fast as the server answers, one after the other, he
goes on through the questionnaire, one step a second, to the end. The same applicant with
no flood is measured first, in the same run.

It prints, for both runs, the applicant's refused steps and his slowest step, and how many
of the flood's posts were answered and refused per second. Targets: no step refused, none
slower than 2 s. :func:`measure` is what bench/flood.py calls for the web figures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from fuzz import start_serve  # noqa: E402 - bench/fuzz.py

from tests.pg import free_port  # noqa: E402
from tests.processes import stop  # noqa: E402

#: A Korean application: the language and three answers before the flood, the rest during.
STEPS: list[dict[str, str]] = [
    {"choice": "ko"},
    {"choice": "kpa"},
    {"choice": "group"},
    {"text": "3"},
    {"choice": "yes"},
    {"text": "쿠르스크 근처 마을"},
    {"text": "제94독립여단"},
    {"choice": "skip"},
    {"text": "저녁마다 이 홈페지로"},
    {"choice": "yes"},
    {"choice": "confirm"},
]
BEFORE = 4
TARGET_SECONDS = 2.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    """One session: its cookie and the CSRF token of its last page."""

    http: aiohttp.ClientSession
    base: str
    cookie: str = ""
    csrf: str = ""

    async def send(self, method: str, path: str, data: dict[str, str] | None = None) -> int:
        headers = {"cookie": f"s={self.cookie}"} if self.cookie else {}
        if data is not None:
            data = {**data, "csrf": self.csrf}
        async with self.http.request(
            method, self.base + path, data=data, headers=headers
        ) as response:
            html = await response.text()
            for value in response.headers.getall("set-cookie", []):
                name, _, rest = value.partition("=")
                if name == "s":
                    self.cookie = rest.split(";", 1)[0]
            found = _CSRF.search(html)
            if found:
                self.csrf = found.group(1)
            return response.status


@dataclass
class Figures:
    steps: list[tuple[int, float]] = field(default_factory=list)
    flood: Counter[int] = field(default_factory=Counter)
    flood_seconds: float = 0.0

    @property
    def refused(self) -> int:
        return sum(1 for status, _ in self.steps if status != 200)

    @property
    def slowest(self) -> float:
        return max((seconds for _, seconds in self.steps), default=0.0)

    @property
    def holds(self) -> bool:
        return (
            len(self.steps) == len(STEPS) - BEFORE
            and not self.refused
            and (self.slowest <= TARGET_SECONDS)
        )


async def applicant(http: aiohttp.ClientSession, base: str, figures: Figures, ready: asyncio.Event,
                    go: asyncio.Event) -> None:  # fmt: skip
    me = Browser(http, base)
    await me.send("GET", "/")
    for step in STEPS[:BEFORE]:
        assert await me.send("POST", "/", step) == 200, "the applicant was refused before any flood"
    ready.set()
    await go.wait()
    for step in STEPS[BEFORE:]:
        await asyncio.sleep(1.0)
        started = time.monotonic()
        status = await me.send("POST", "/", step)
        figures.steps.append((status, time.monotonic() - started))


async def flooder(http: aiohttp.ClientSession, base: str, figures: Figures, until: float) -> None:
    while time.monotonic() < until:
        fresh = Browser(http, base)
        try:
            await fresh.send("GET", "/")
            figures.flood[await fresh.send("POST", "/", {"choice": "ru"})] += 1
        except aiohttp.ClientError:
            figures.flood[0] += 1


async def run_once(base: str, flooders: int) -> Figures:
    figures = Figures()
    connector = aiohttp.TCPConnector(limit=flooders + 4)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        ready, go = asyncio.Event(), asyncio.Event()
        person = asyncio.create_task(applicant(http, base, figures, ready, go))
        await ready.wait()
        started = time.monotonic()
        # The applicant's remaining steps take about a second each.
        until = started + (len(STEPS) - BEFORE) * 1.5 + 2
        floods = [asyncio.create_task(flooder(http, base, figures, until)) for _ in range(flooders)]
        await asyncio.sleep(1.0 if flooders else 0)  # the flood is under way first
        go.set()
        await person
        await asyncio.gather(*floods)
        figures.flood_seconds = time.monotonic() - started
    return figures


async def measure(
    flooders: int = 48, settings: dict[str, str] | None = None
) -> tuple[Figures, Figures]:
    """The applicant with no flood and with ``flooders`` flooding connections, against one
    ``haven serve`` with default limits (or ``settings``)."""
    tmp = Path(tempfile.mkdtemp(prefix="haven-webflood-"))
    port = free_port()
    try:
        proc, _log = await start_serve(tmp, port, settings or {})
        try:
            base = f"http://127.0.0.1:{port}"
            quiet = await run_once(base, 0)
            flooded = await run_once(base, flooders)
        finally:
            stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return quiet, flooded


def show(name: str, f: Figures) -> None:
    line = (
        f"{name:10} applicant: {f.refused} of {len(f.steps)} steps refused, "
        f"slowest {f.slowest:.3f} s"
    )
    if f.flood:
        answered = sum(n for status, n in f.flood.items() if status == 200)
        refused = f.flood.get(429, 0)
        seconds = f.flood_seconds or 1
        line += (
            f"; flood: {sum(f.flood.values()) / seconds:.0f} first posts/s, "
            f"{answered / seconds:.0f}/s answered, {refused / seconds:.0f}/s refused (429)"
        )
        others = {s: n for s, n in f.flood.items() if s not in (200, 429)}
        if others:
            line += f", other: {others}"
    print(line)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--flooders", type=int, default=48)
    args = parser.parse_args()
    quiet, flooded = await measure(args.flooders)
    show("no flood", quiet)
    show("flood", flooded)
    ok = quiet.holds and flooded.holds and flooded.flood.get(429, 0) > 0
    print(f"target (no step refused, none slower than {TARGET_SECONDS:g} s, the flood past the "
          f"global limit): {'holds' if ok else 'FAILS'}")  # fmt: skip
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
