"""The organisation registry in the database: load the shipped data, read the units valid on a day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from motcua.domain.errors import Conflict, InvalidInput
from motcua.domain.text import fold
from motcua.domain.units import Unit, UnitDirectory, UnitKind, load_registry
from motcua.store.schema.reorganizations import reorganization_units
from motcua.store.schema.units import unit_lineage, units

_ATTRIBUTES = ("agency_code", "name", "kind", "parent_id", "area_id", "gso_code")
_KIND_ORDER = {kind: index for index, kind in enumerate(UnitKind)}


def unit_attributes(unit: Unit) -> dict[str, Any]:
    """A unit version's stored attributes (not its id or validity)."""
    return {name: getattr(unit, name) for name in _ATTRIBUTES} | {"kind": unit.kind.value}


def load_units(conn: Connection, *, today: date, registry: Sequence[Unit] | None = None) -> int:
    """Bring the stored registry in line with the data files; returns the number of versions added.

    Idempotent. A unit whose attributes changed gets its open version closed (`valid_to = today`) and a new
    version from `today`; nothing is overwritten. Units absent from the data are left as they are (closing
    a unit is a reorganisation decision, not a data-file edit). Units a reorganisation plan closed, opened or
    revised (`reorganization_units`) are left as the plan made them: the data files describe the registry
    before it. `registry` defaults to `load_registry()`.
    """
    wanted = load_registry() if registry is None else registry
    open_rows = {row.id: row for row in conn.execute(select(units).where(units.c.valid_to.is_(None)))}
    known_ids = set(conn.scalars(select(units.c.id).distinct()))
    reorganized = set(conn.scalars(select(reorganization_units.c.unit_id)))
    new_rows: list[dict[str, Any]] = []
    for unit in wanted:
        if unit.id in reorganized:
            continue
        attributes = unit_attributes(unit)
        current = open_rows.get(unit.id)
        if current is None:
            valid_from = unit.valid_from if unit.id not in known_ids else today
            new_rows.append({"id": unit.id, **attributes, "valid_from": valid_from, "valid_to": None})
            continue
        if all(getattr(current, name) == value for name, value in attributes.items()):
            continue
        if current.valid_from >= today:
            raise Conflict(
                "unit.version_conflict",
                f"Đơn vị «{unit.id}» đã có phiên bản bắt đầu từ {current.valid_from}; "
                f"không thể thay đổi lần nữa với hiệu lực {today}.",
                id=unit.id,
            )
        conn.execute(update(units).where(units.c.row_id == current.row_id).values(valid_to=today))
        new_rows.append({"id": unit.id, **attributes, "valid_from": today, "valid_to": None})
    if new_rows:
        conn.execute(insert(units), new_rows)
    add_lineage(
        conn,
        (
            (predecessor, unit.id, unit.valid_from, None)
            for unit in wanted
            for predecessor in unit.predecessors
        ),
    )
    return len(new_rows)


def add_lineage(conn: Connection, links: Iterable[tuple[str, str, date, str | None]]) -> None:
    """Store the (predecessor, successor, effective, note) links whose pair is not stored yet."""
    stored = {(row.predecessor_id, row.successor_id) for row in conn.execute(select(unit_lineage))}
    rows = [
        {"predecessor_id": before, "successor_id": after, "effective": effective, "note": note}
        for before, after, effective, note in links
        if (before, after) not in stored
    ]
    if rows:
        conn.execute(insert(unit_lineage), rows)


def directory(conn: Connection, on: date) -> UnitDirectory:
    """The units valid on `on` (one query). Callers cache the result per date."""
    query = (
        select(units, unit_lineage.c.predecessor_id)
        .outerjoin(unit_lineage, unit_lineage.c.successor_id == units.c.id)
        .where(units.c.valid_from <= on, or_(units.c.valid_to.is_(None), units.c.valid_to > on))
        .order_by(units.c.row_id, unit_lineage.c.predecessor_id)
    )
    rows: dict[int, Any] = {}
    predecessors: dict[int, list[str]] = {}
    for row in conn.execute(query):
        rows.setdefault(row.row_id, row)
        predecessors.setdefault(row.row_id, [])
        if row.predecessor_id is not None:
            predecessors[row.row_id].append(row.predecessor_id)
    return UnitDirectory((_unit(row, tuple(predecessors[row_id])) for row_id, row in rows.items()), on)


def _unit(row: Any, predecessors: tuple[str, ...]) -> Unit:
    return Unit(
        id=row.id,
        agency_code=row.agency_code,
        name=row.name,
        kind=UnitKind(row.kind),
        parent_id=row.parent_id,
        area_id=row.area_id,
        gso_code=row.gso_code,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        predecessors=predecessors,
    )


def unit_as_dict(unit: Unit) -> dict[str, Any]:
    """A JSON-ready view of one unit version."""
    return {
        "id": unit.id,
        "agency_code": unit.agency_code,
        "name": unit.name,
        "kind": unit.kind.value,
        "parent_id": unit.parent_id,
        "area_id": unit.area_id,
        "gso_code": unit.gso_code,
        "valid_from": unit.valid_from.isoformat(),
        "valid_to": None if unit.valid_to is None else unit.valid_to.isoformat(),
        "predecessors": list(unit.predecessors),
    }


def list_units(
    conn: Connection,
    *,
    on: date,
    kind: str | None = None,
    parent_id: str | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    """Units valid on `on`, filtered by kind, parent and an accent-insensitive name search `q`.

    `q` also matches an exact id, agency code or GSO code. Ordered by kind, then name.
    """
    if kind is not None and kind not in _KIND_ORDER:
        raise InvalidInput(
            "unit.bad_kind",
            f"Loại đơn vị «{kind}» không hợp lệ; dùng một trong: {', '.join(_KIND_ORDER)}.",
            kind=kind,
        )
    needle = fold(q) if q else ""
    exact = q.strip() if q else ""
    found = [
        unit
        for unit in directory(conn, on)
        if (kind is None or unit.kind == kind)
        and (parent_id is None or unit.parent_id == parent_id)
        and (not needle or needle in fold(unit.name) or exact in (unit.id, unit.agency_code, unit.gso_code))
    ]
    found.sort(key=lambda unit: (_KIND_ORDER[unit.kind], fold(unit.name)))
    return [unit_as_dict(unit) for unit in found]
