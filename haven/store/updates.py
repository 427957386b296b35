"""Channel updates already handled: each one is claimed once, in the transaction that handles it."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .models import ProcessedUpdate


def claim(session: Session, keys: Collection[str]) -> set[str]:
    """Record ``keys`` as handled in the caller's transaction; returns those that were new.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the session's connection (Core:
    a third of the ORM's cost): a key seen before (a redelivered update) is not returned. If
    the transaction rolls back, the claims go with it.
    """
    if not keys:
        return set()
    connection = session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(ProcessedUpdate).on_conflict_do_nothing().returning(ProcessedUpdate.key)
    return set(connection.execute(statement, [{"key": key} for key in keys]).scalars())
