from __future__ import annotations

import asyncio
import time

from limits import parse

from haven.services import ratelimit
from tests.conftest import Env


def test_fixed_window_per_key() -> None:
    limiter = ratelimit.limiter()
    item = parse("3/second")
    assert [limiter.hit(item, "chat", "a") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(item, "chat", "b")  # another key has its own window
    stats = limiter.get_window_stats(item, "chat", "a")
    assert stats.remaining == 0 and 0 < stats.reset_time - time.time() <= 1
    time.sleep(1.05)
    assert limiter.hit(item, "chat", "a")  # the window has passed


def test_expired_keys_go_away_lazily_and_the_map_is_bounded() -> None:
    storage = ratelimit.LazyMemoryStorage(maxsize=1000)
    for n in range(5000):
        storage.incr(f"k{n}", expiry=60)
    assert len(storage._counters) == 1000  # the oldest were evicted, memory stays bounded
    assert storage.get("k4999") == 1 and storage.get("k0") == 0
    short = ratelimit.LazyMemoryStorage()
    short.incr("x", expiry=0)
    time.sleep(0.01)
    short.incr("y", expiry=60)  # any later write drops what has expired
    assert "x" not in short._counters and short.get("x") == 0


def counters(env: Env) -> ratelimit.Counters | None:
    """The counters the intake shares: memory on SQLite, the database on PostgreSQL."""
    return ratelimit.shared_counters(env.store, env.keys.lookup)


def limiter(env: Env, name: str = "t", **rules: str) -> ratelimit.Limiter:
    return ratelimit.Limiter(ratelimit.Rules.of(**rules), counters=counters(env), name=name)


async def test_a_refused_event_is_counted_against_no_limit(env: Env) -> None:
    limits = limiter(env, own="5/minute", shared="3/minute")
    for n in range(3):  # others fill the shared limit
        assert await limits.hit(f"other-{n}") == 0
    for _ in range(6):  # refused while the shared limit is full...
        assert 0 < await limits.hit("me") <= 60
    # ...and nothing of "me"'s own limit was used up by it
    alone = limiter(env, own="5/minute")
    alone.counters = limits.counters
    assert [await alone.hit("me") for _ in range(6)][:5] == [0] * 5


async def test_a_sender_ahead_goes_first_and_only_as_far_as_its_reserve(env: Env) -> None:
    limits = limiter(env, own="5/minute", shared="4/minute", reserve="3/minute")
    # Senders ahead take the shared limit's room first...
    for n in range(2):
        assert await limits.hit(f"ahead-{n}", ahead=True) == 0
    # ...so the others find only what is left of it.
    assert [await limits.hit(f"new-{n}") == 0 for n in range(3)] == [True, True, False]
    # With the shared limit full, the reserve still lets them through, up to its own size.
    assert await limits.hit("ahead-2", ahead=True) == 0
    assert await limits.hit("ahead-3", ahead=True) > 0
    # Their own limit stops them whatever room there is.
    fresh = limiter(env, "fresh", own="1/minute", shared="4/minute", reserve="3/minute")
    assert await fresh.hit("me", ahead=True) == 0
    assert await fresh.hit("me", ahead=True) > 0


async def test_without_a_reserve_one_ahead_is_stopped_by_its_own_limit_alone(env: Env) -> None:
    limits = limiter(env, own="2/minute", shared="1/minute")
    assert await limits.hit("other") == 0  # the shared limit is full
    assert await limits.hit("new") > 0
    assert [await limits.hit("proven", ahead=True) for _ in range(3)][:2] == [0, 0]
    assert await limits.hit("proven", ahead=True) > 0


async def test_own_only_and_shared_only(env: Env) -> None:
    """The bot counts a chat's own limit as an update arrives and the shared one as it is
    handled; the web counts a session's first answer against its new id alone."""
    limits = limiter(env, own="2/minute", shared="3/minute")
    assert [await limits.hit("a", own_only=True) for _ in range(3)][:2] == [0, 0]
    assert await limits.hit("a", own_only=True) > 0
    assert [await limits.hit() for _ in range(3)] == [0, 0, 0]  # "a"'s hits took none of it
    assert await limits.hit() > 0 and await limits.hit("b") > 0
    assert await ratelimit.Limiter(ratelimit.Rules()).hit("anyone") == 0  # no rule, no limit


async def test_two_processes_count_as_one(env: Env) -> None:
    """Two limiters on the same counters (two intake processes on one PostgreSQL) admit
    together what one would: a sender's own limit and the shared one, however the events
    are spread, also when they arrive at the same moment."""
    if env.store.dialect != "postgresql":
        return  # one intake process on SQLite: nothing shared to test
    one = limiter(env, "both", own="20/minute", shared="100/minute")
    two = limiter(env, "both", own="20/minute", shared="100/minute")
    waits = [await (one if n % 2 else two).hit("chat") for n in range(40)]
    assert waits[:20] == [0] * 20 and all(w > 0 for w in waits[20:])
    admitted = await asyncio.gather(*((one, two)[n % 2].hit(f"s{n}") for n in range(300)))
    # The chat took 20 of the shared 100 (its refused events none): 80 are left, for both.
    assert admitted.count(0) == 80
    # One sender's events at the same moment, in both (one statement holds several of them).
    burst = limiter(env, "burst", own="20/minute")
    other = limiter(env, "burst", own="20/minute")
    waits = await asyncio.gather(*((burst, other)[n % 3 == 0].hit("same") for n in range(35)))
    assert waits.count(0) == 20


async def test_a_chat_over_its_limit_is_told_once_whichever_process_sees_it(env: Env) -> None:
    from haven.channels.telegram.fairness import FloodGuard

    shared = counters(env)
    guards = [FloodGuard("5/minute", "1000/second", 600, shared) for _ in range(2)]
    if shared is None:
        guards = guards[:1]
    verdicts = [v for n in range(12) for v in await guards[n % len(guards)].check("c")]
    assert verdicts == ["ok"] * 5 + ["notice"] + ["ignore"] * 6
    # A batch of a chat's updates is counted at once, in order.
    assert await guards[0].check("d", 7) == ["ok"] * 5 + ["notice", "ignore"]
