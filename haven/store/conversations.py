"""Conversations (a contact and its case) read and written in bulk, as plain values.

The intake's hot path: one SELECT for every conversation of a batch, one INSERT for each
kind of new row, one ``executemany`` UPDATE per shape of change. Core statements on the
session's connection, no ORM object per row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from .models import Case, Contact


@dataclass(slots=True)
class CaseRow:
    """The columns of a case that a step reads; changes go back as UPDATEs (see
    :func:`write_changes`)."""

    id: int
    reference: str
    state: str
    lang: str
    channel: str
    campaign: str | None
    flow: str
    flow_version: int
    risk_flags: str


@dataclass(slots=True)
class Conv:
    """One conversation: its contact's columns (a :class:`ContactValues`) and its case's."""

    id: int
    channel: str
    lookup: str
    address: bytes
    flow_state: bytes | None
    lang: str | None
    unreachable: bool
    case_id: int | None
    case: CaseRow | None = None


_CONTACTS = cast(Table, Contact.__table__)
_CASES = cast(Table, Case.__table__)
_contacts, _cases = _CONTACTS.c, _CASES.c
_CONTACT_COLUMNS = (
    _contacts.id,
    _contacts.channel,
    _contacts.lookup,
    _contacts.address,
    _contacts.flow_state,
    _contacts.lang,
    _contacts.unreachable,
    _contacts.case_id,
)
_CASE_COLUMNS = (
    _cases.id,
    _cases.reference,
    _cases.state,
    _cases.lang,
    _cases.channel,
    _cases.campaign,
    _cases.flow,
    _cases.flow_version,
    _cases.risk_flags,
)
#: The columns a new case is inserted with (all of :class:`CaseRow` but its id).
_NEW_CASE_COLUMNS = tuple(column.key for column in _CASE_COLUMNS[1:])
#: Every conversation of a batch with its case, locked for the transaction (PostgreSQL).
_FIND = (
    select(*_CONTACT_COLUMNS, *_CASE_COLUMNS)
    .select_from(_CONTACTS.outerjoin(_CASES, _cases.id == _contacts.case_id))
    .where(_contacts.lookup.in_(bindparam("lookups", expanding=True)))
    .with_for_update(of=_CONTACTS)
)
_UPDATE_CONTACT = (
    update(_CONTACTS)
    .where(_contacts.id == bindparam("_id"))
    .values(
        flow_state=bindparam("v_flow_state"),
        lang=bindparam("v_lang"),
        unreachable=bindparam("v_unreachable"),
        updated_at=bindparam("v_updated_at"),
    )
)


def find(session: Session, lookups: Collection[str]) -> dict[str, Conv | None]:
    """The conversations of ``lookups``, locked for the transaction (``None``: none yet)."""
    convs: dict[str, Conv | None] = dict.fromkeys(lookups)
    found = session.connection().execute(_FIND, {"lookups": list(lookups)})
    width = len(_CONTACT_COLUMNS)
    for row in found:
        conv = Conv(*row[:width])
        if row[width] is not None:
            conv.case = CaseRow(*row[width:])
        convs[conv.lookup] = conv
    return convs


def insert_cases(session: Session, cases: Sequence[CaseRow]) -> None:
    """One INSERT for new cases, which get their ids."""
    if not cases:
        return
    rows = [{name: getattr(case, name) for name in _NEW_CASE_COLUMNS} for case in cases]
    ids = session.connection().execute(
        insert(_CASES).returning(_cases.id, sort_by_parameter_order=True), rows
    )
    for case, case_id in zip(cases, ids.scalars(), strict=True):
        case.id = case_id


def insert_contacts(session: Session, convs: Sequence[Conv]) -> None:
    """One INSERT for new contacts (of cases inserted before), which get their ids."""
    if not convs:
        return
    rows = [
        {
            "channel": c.channel,
            "lookup": c.lookup,
            "address": c.address,
            "lang": c.lang,
            "unreachable": c.unreachable,
            "case_id": c.case_id,
        }
        for c in convs
    ]
    ids = session.connection().execute(
        insert(_CONTACTS).returning(_contacts.id, sort_by_parameter_order=True), rows
    )
    for conv, contact_id in zip(convs, ids.scalars(), strict=True):
        conv.id = contact_id


def relink(session: Session, conv: Conv) -> None:
    """Point a contact at its (new) case."""
    session.execute(update(Contact).where(Contact.id == conv.id).values(case_id=conv.case_id))


def write_changes(
    session: Session,
    contacts: Sequence[Mapping[str, object]],
    cases: Mapping[int, Mapping[str, object]],
) -> None:
    """Pending changes: contacts' new states (rows of ``_id`` and ``v_flow_state``,
    ``v_lang``, ``v_unreachable``, ``v_updated_at``) in one statement, cases' changed columns
    (case id -> column -> value) in one statement per set of columns."""
    connection = session.connection()
    if contacts:
        connection.execute(_UPDATE_CONTACT, list(contacts))
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for case_id, values in cases.items():
        row = {"_id": case_id, **{f"v_{name}": value for name, value in values.items()}}
        shapes.setdefault(tuple(sorted(values)), []).append(row)
    for names, rows in shapes.items():
        statement = (
            update(_CASES)
            .where(_cases.id == bindparam("_id"))
            .values({name: bindparam(f"v_{name}") for name in names})
        )
        connection.execute(statement, rows)
