from __future__ import annotations

import time

from limits import parse

from haven.services import ratelimit


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


def test_a_refused_event_is_counted_against_no_limit() -> None:
    limits = ratelimit.Limiter(ratelimit.Rules.of(own="5/minute", shared="3/minute"))
    own = limits.rules.own
    for n in range(3):  # others fill the shared limit
        assert limits.hit(f"other-{n}") == 0
    for _ in range(6):  # refused while the shared limit is full...
        assert 0 < limits.hit("me") <= 60
    # ...and nothing of "me"'s own limit was used up by it
    assert own is not None and limits.limiter.get_window_stats(own, "me").remaining == 5


def test_a_sender_ahead_goes_first_and_only_as_far_as_its_reserve() -> None:
    rules = ratelimit.Rules.of(own="5/minute", shared="4/minute", reserve="3/minute")
    limits = ratelimit.Limiter(rules)
    # Senders ahead take the shared limit's room first...
    for n in range(2):
        assert limits.hit(f"ahead-{n}", ahead=True) == 0
    # ...so the others find only what is left of it.
    assert [limits.hit(f"new-{n}") == 0 for n in range(3)] == [True, True, False]
    # With the shared limit full, the reserve still lets them through, up to its own size.
    assert limits.hit("ahead-2", ahead=True) == 0
    assert limits.hit("ahead-3", ahead=True) > 0
    # Their own limit stops them whatever room there is.
    fresh = ratelimit.Limiter(
        ratelimit.Rules.of(own="1/minute", shared="4/minute", reserve="3/minute")
    )
    assert fresh.hit("me", ahead=True) == 0
    assert fresh.hit("me", ahead=True) > 0


def test_without_a_reserve_one_ahead_is_stopped_by_its_own_limit_alone() -> None:
    limits = ratelimit.Limiter(ratelimit.Rules.of(own="2/minute", shared="1/minute"))
    assert limits.hit("other") == 0  # the shared limit is full
    assert limits.hit("new") > 0
    assert [limits.hit("proven", ahead=True) for _ in range(3)][:2] == [0, 0]
    assert limits.hit("proven", ahead=True) > 0


def test_own_only_and_shared_only() -> None:
    """The bot counts a chat's own limit as an update arrives and the shared one as it is
    handled; the web counts a session's first answer against its new id alone."""
    limits = ratelimit.Limiter(ratelimit.Rules.of(own="2/minute", shared="3/minute"))
    assert [limits.hit("a", own_only=True) for _ in range(3)][:2] == [0, 0]
    assert limits.hit("a", own_only=True) > 0
    assert [limits.hit() for _ in range(3)] == [0, 0, 0]  # "a"'s hits took none of it
    assert limits.hit() > 0 and limits.hit("b") > 0
    assert ratelimit.Limiter(ratelimit.Rules()).hit("anyone") == 0  # no rule, no limit
