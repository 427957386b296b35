"""Questionnaire steps per second, and sealed case writes per second against the same writes
unsealed, measured in the same run (target: sealing costs under 25% of write throughput).

    .venv/bin/python bench/flow.py [--cases 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from haven import crypto
from haven.domain.reference import new_reference
from haven.flows import default_engine
from haven.flows.inputs import Choice, Command, Text
from haven.services.admin import prepare_database
from haven.store.db import Store
from haven.store.models import Case

CONVERSATION = [
    Command("start"),
    Choice("ko"),
    Choice("kpa"),
    Choice("group"),
    Text("3"),
    Choice("yes"),
    Text("쿠르스크 전선, 수드샤 근처"),
    Text("제94려단"),
    Command("skip"),
    Text("이 대화창으로, 저녁에"),
    Choice("yes"),
    Choice("confirm"),
]


def bench_steps(seconds: float = 2.0) -> float:
    engine = default_engine()
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        state = None
        for inp in CONVERSATION:
            state = engine.step(state, inp).state
            steps += 1
    return steps / (time.perf_counter() - start)


async def bench_writes(store: Store, keys: crypto.IntakeKeys, n: int, sealed: bool) -> float:
    engine = default_engine()
    state = None
    for inp in CONVERSATION[:-1]:
        state = engine.step(state, inp).state
    answers = engine.answers_for_case(state)
    start = time.perf_counter()
    for _ in range(n):
        if sealed:
            body = keys.seal_json(answers)
            phrase = keys.seal("소나무 제비".encode())
        else:
            body = json.dumps(answers, ensure_ascii=False).encode()
            phrase = "소나무 제비".encode()
        async with store.transaction() as session:
            session.add(
                Case(
                    reference=new_reference(),
                    state="submitted",
                    lang="ko",
                    channel="bench",
                    flow="surrender",
                    flow_version=1,
                    group_size=3,
                    wounded=True,
                    risk_flags="",
                    answers=body,
                    code_phrase=phrase,
                )
            )
    return n / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = crypto.init_keys(Path(tmp) / "keys", "benchmark passphrase", "interactive")
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        store = Store(url)
        await prepare_database(store, Path(tmp) / "keys")
        steps = bench_steps()
        # Warm up both paths, then alternate rounds so both see the same conditions.
        await bench_writes(store, keys, 100, True)
        await bench_writes(store, keys, 100, False)
        sealed, plain = [], []
        for _ in range(3):
            plain.append(await bench_writes(store, keys, args.cases // 3, False))
            sealed.append(await bench_writes(store, keys, args.cases // 3, True))
        await store.close()
    best_sealed, best_plain = max(sealed), max(plain)
    ratio = best_sealed / best_plain
    print(f"database: {store.dialect}")
    print(f"questionnaire steps per second: {steps:,.0f}")
    print(f"case writes per second, unsealed (baseline): {best_plain:,.0f}")
    print(f"case writes per second, sealed:              {best_sealed:,.0f}")
    print(
        f"ratio sealed/unsealed: {ratio:.2f} (sealing costs {100 * (1 - ratio):.0f}% "
        f"of write throughput; target under 25%)"
    )


if __name__ == "__main__":
    asyncio.run(main())
