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
    VALUES (:key, CAST(:amount AS bigint), {_NOW} + CAST(:window AS float8))
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN c.expires <= {_NOW} THEN excluded.count
                   ELSE c.count + excluded.count END,
      expires = CASE WHEN c.expires <= {_NOW} THEN excluded.expires ELSE c.expires END
    RETURNING c.count, c.expires - {_NOW}
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


async def add(store: Store, key: str, amount: int, window: float) -> tuple[int, float]:
    """Count ``amount`` under ``key`` in its window of ``window`` seconds (started now if it
    had expired): the count after it, and the seconds the window has left."""
    rows = await _run(store, _ADD, {"key": key, "amount": amount, "window": window})
    count, left = rows[0]
    return int(count), float(left)  # type: ignore[call-overload, arg-type]


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
