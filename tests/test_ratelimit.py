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
    from haven.services.applicant import Gate

    gate = Gate()
    own, shared = parse("5/minute"), parse("3/minute")
    for n in range(3):  # others fill the shared limit
        assert gate.hit([(own, f"other-{n}"), (shared, "all")]) == 0
    for _ in range(6):  # refused while the shared limit is full...
        assert gate.hit([(own, "me"), (shared, "all")]) > 0
    # ...and nothing of "me"'s own limit was used up by it
    assert gate.limiter.get_window_stats(own, "me").remaining == 5


def test_a_sender_ahead_goes_first_and_only_as_far_as_its_reserve() -> None:
    from haven.services.applicant import Gate

    gate = Gate()
    own, shared, reserve = parse("5/minute"), parse("4/minute"), parse("3/minute")
    ahead = [(reserve, "reserve")]
    # Senders ahead take the shared limit's room first...
    for n in range(2):
        assert gate.hit_ahead([(own, f"ahead-{n}")], [(shared, "all")], ahead) == 0
    # ...so the others find only what is left of it.
    assert [gate.hit([(own, f"new-{n}"), (shared, "all")]) == 0 for n in range(3)] == [
        True, True, False,
    ]  # fmt: skip
    # With the shared limit full, the reserve still lets them through, up to its own size.
    assert gate.hit_ahead([(own, "ahead-2")], [(shared, "all")], ahead) == 0
    assert gate.hit_ahead([(own, "ahead-3")], [(shared, "all")], ahead) > 0
    # Their own limit stops them whatever room there is.
    fresh = Gate()
    mine = [(parse("1/minute"), "me")]
    assert fresh.hit_ahead(mine, [(shared, "all")], ahead) == 0
    assert fresh.hit_ahead(mine, [(shared, "all")], ahead) > 0
