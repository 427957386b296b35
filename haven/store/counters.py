"""Fixed-window counters in the database (``rate_counters``), shared by every intake process.

Each call is one atomic statement on PostgreSQL, committed by itself (one round trip): an
``INSERT … ON CONFLICT … DO UPDATE … RETURNING`` that starts the window again once it has
expired. Times are the database's clock, so that processes on several hosts agree.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .db import Store

_NOW = "extract(epoch from clock_timestamp())::float8"

_ADD = text(
    f"""
    INSERT INTO rate_counters AS c (key, count, expires)
    SELECT k, a, {_NOW} + w
    FROM unnest(CAST(:keys AS text[]), CAST(:amounts AS bigint[]), CAST(:windows AS float8[]))
      AS t(k, a, w)
    ORDER BY k
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN c.expires <= {_NOW} THEN excluded.count
                   ELSE c.count + excluded.count END,
      expires = CASE WHEN c.expires <= {_NOW} THEN excluded.expires ELSE c.expires END
    RETURNING c.key, c.count, c.expires - {_NOW}
    """  # noqa: S608 - constant SQL, values bound
)

_SUB = text(
    f"UPDATE rate_counters SET count = count - CAST(:amount AS bigint) "  # noqa: S608 - constant SQL
    f"WHERE key = :key AND expires > {_NOW} AND count >= :amount"
)

_HOLD = text(
    f"UPDATE rate_counters SET expires = greatest(expires, {_NOW} + CAST(:seconds AS float8)) "  # noqa: S608
    "WHERE key = :key"
)

_PURGE = text(f"DELETE FROM rate_counters WHERE expires < {_NOW} - CAST(:grace AS float8)")  # noqa: S608


Row = tuple[object, ...]


async def _run(store: Store, statement: object, params: dict[str, object]) -> list[Row]:
    """One statement on the autocommit engine; tried once more on a connection that had gone
    (a restarted server): the pool has dropped it by then."""
    for attempt in (0, 1):
        try:
            async with store.autocommit().connect() as connection:
                result = await connection.execute(statement, params)  # type: ignore[call-overload]
                return [tuple(row) for row in result] if result.returns_rows else []
        except DBAPIError as exc:
            if attempt or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


Add = tuple[str, int, float]


async def add_many(store: Store, adds: list[Add]) -> list[tuple[int, float]]:
    """Count each ``(key, amount, window)`` in ``key``'s window (a new one of ``window``
    seconds once the last has expired), all in one statement: for each, the count after it
    (as if they had come one after the other, in order) and the seconds its window has left.
    Rows are locked in key order, so that two processes' batches never deadlock."""
    total: dict[str, int] = {}
    window: dict[str, float] = {}
    for key, amount, seconds in adds:
        total[key] = total.get(key, 0) + amount
        window.setdefault(key, seconds)
    keys = sorted(total)
    params = {
        "keys": keys,
        "amounts": [total[k] for k in keys],
        "windows": [window[k] for k in keys],
    }
    rows = {str(row[0]): row for row in await _run(store, _ADD, params)}
    done: dict[str, int] = {}  # counted so far of each key, in order
    out: list[tuple[int, float]] = []
    for key, amount, _seconds in adds:
        _key, count, left = rows[key]
        done[key] = done.get(key, 0) + amount
        before = int(count) - total[key]  # type: ignore[call-overload]
        out.append((before + done[key], float(left)))  # type: ignore[arg-type]
    return out


async def sub(store: Store, key: str, amount: int) -> None:
    """Take back ``amount`` counted in the window still running (a refused event)."""
    await _run(store, _SUB, {"key": key, "amount": amount})


async def hold(store: Store, key: str, seconds: float) -> None:
    """Keep ``key``'s window (and so its count) for at least ``seconds`` more."""
    await _run(store, _HOLD, {"key": key, "seconds": seconds})


async def purge(store: Store, grace: float = 60.0) -> int:
    """Delete counters whose window ended more than ``grace`` seconds ago."""
    async with store.autocommit().connect() as connection:
        result = await connection.execute(_PURGE, {"grace": grace})
        return int(result.rowcount or 0)
