"""Steps many tests share: the ``haven`` command as a user runs it, and a whole Korean
conversation through the intake."""

from __future__ import annotations

import subprocess
import sys

from haven.flows.inputs import Choice, Command, Text
from haven.services.intake import Intake


def haven(environ: dict[str, str], *args: str, stdin: str = "", timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "haven", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
    )


MARKER = "ZQXMARKER7731"


def conversation(marker: str = MARKER) -> list:
    return [
        Command("start"),
        Choice("ko"),
        Choice("kpa"),
        Choice("group"),
        Text("3"),
        Choice("yes"),
        Text(f"수드샤 근처 {marker}"),
        Text(f"부대 {marker}"),
        Command("skip"),
        Text(f"저녁에 {marker}"),
        Choice("yes"),
        Choice("confirm"),
    ]


async def submit(intake: Intake, address: str, marker: str = MARKER, **kw: object):
    result = None
    for inp in conversation(marker):
        result = await intake.handle("telegram", address, inp, **kw)
    return result
