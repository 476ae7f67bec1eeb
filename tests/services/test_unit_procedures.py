"""The officer queue's procedure filter reads `unit_procedures`, which database triggers keep (revision
c7d2e9a1f4b3): every (unit, procedure) a dossier has or had at its receiving, competent or step unit, whoever
writes the dossiers (the lifecycle, the legacy import's COPY or executemany, SQL). On both databases."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from motcua.domain.clock import FixedClock
from motcua.domain.lifecycle import Action, Actor, ActorKind, Channel, Status
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services import workspace
from motcua.services.catalog import get_city_procedure
from motcua.services.identity import actor_from_row, get_user
from motcua.services.legacy_import import import_dossiers
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.unit_procedures import unit_procedures

BIRTH = "1.001193"  # Đăng ký khai sinh, received and decided by the ward
WARD = "phuong-sai-gon"
WARD_CODE = "068.00.70.H29"
OTHER_WARD = "phuong-ben-thanh"
CITIZEN = Actor(id="cd-079090001234", kind=ActorKind.CITIZEN, name="Nguyễn Văn An")
MONITOR = Actor(
    "giam-sat", ActorKind.OFFICER, frozenset({Role.MONITOR}), dossier_service.CITY_UNIT_ID, name="Giám sát"
)


def _officer(rt: Runtime, username: str) -> Actor:
    with rt.db.read() as conn:
        found = get_user(conn, username)
    assert found is not None
    return actor_from_row(found)


def _filter(rt: Runtime, actor: Actor, queue: str = "unit") -> list[dict[str, str]]:
    return workspace.officer_queue(rt, actor, workspace.QueueQuery(queue=queue))["procedures"]


def _file_birth(rt: Runtime) -> str:
    with rt.db.read() as conn:
        schema = get_city_procedure(conn, BIRTH).form_schema
    assert schema is not None
    submission = dossier_service.Submission(BIRTH, WARD, Channel.ONLINE, {**schema["examples"][0]})
    return str(dossier_service.submit_dossier(rt, CITIZEN, submission)["code"])


@pytest.fixture
def rt(seeded_db: Database, clock: FixedClock) -> Runtime:
    return Runtime(db=seeded_db, clock=clock, hooks=[])


def test_a_submission_puts_its_procedure_in_the_units_filter_at_once(rt: Runtime) -> None:
    receiver = _officer(rt, "sg.tiepnhan")
    assert receiver.unit_id == WARD
    assert _filter(rt, receiver) == []
    code = _file_birth(rt)
    (birth,) = _filter(rt, receiver)  # no cache to wait for
    assert birth["code"] == BIRTH and birth["name"]
    # Every action keeps it (the row trigger skips actions that keep the units), and adds no duplicate.
    dossier_service.act(rt, receiver, code, Action.ACCEPT, {})
    dossier_service.act(rt, _officer(rt, "sg.xuly"), code, Action.FORWARD, {})
    assert _filter(rt, receiver) == [birth]
    with rt.db.read() as conn:
        assert conn.execute(select(unit_procedures.c.unit_id)).scalars().all() == [WARD]
    # Another ward's officers do not see it; the city's monitor does.
    assert _filter(rt, Actor("bt", ActorKind.OFFICER, frozenset({Role.PROCESSOR}), OTHER_WARD)) == []
    assert _filter(rt, MONITOR) == [birth]


def test_a_dossier_moving_to_a_step_at_another_unit_adds_that_units_pair(rt: Runtime) -> None:
    code = _file_birth(rt)
    with rt.db.transaction() as conn:
        conn.execute(update(dossiers).where(dossiers.c.code == code).values(step_unit_id=OTHER_WARD))
    with rt.db.read() as conn:
        pairs = set(conn.execute(select(unit_procedures.c.unit_id, unit_procedures.c.procedure_code)).all())
    assert pairs == {(WARD, BIRTH), (OTHER_WARD, BIRTH)}
    # The dossier is in the other ward's "unit" queue, and so is its procedure; the first ward keeps the
    # pair (the table only grows: a superset of its dossiers' procedures).
    other = Actor("bt", ActorKind.OFFICER, frozenset({Role.PROCESSOR}), OTHER_WARD)
    assert [p["code"] for p in _filter(rt, other)] == [BIRTH]
    assert [p["code"] for p in _filter(rt, _officer(rt, "sg.tiepnhan"))] == [BIRTH]


def test_imported_dossiers_procedures_appear(rt: Runtime, tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    with export.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(
            out,
            [
                "code",
                "procedure_code",
                "receiving_unit",
                "status",
                "submitted_at",
                "applicant_name",
                "applicant_personal_id",
            ],
        )
        writer.writeheader()
        for n in range(1, 4):
            writer.writerow(
                {
                    "code": f"{WARD_CODE}-260223-{n:04d}",
                    "procedure_code": BIRTH,
                    "receiving_unit": WARD,
                    "status": 1,
                    "submitted_at": "2026-02-23T08:10:00+07:00",
                    "applicant_name": "Nguyễn Văn An",
                    "applicant_personal_id": "079090001234",
                }
            )
    report = import_dossiers(rt.db, export, now=rt.clock.now())
    assert report.imported == 3
    assert [p["code"] for p in _filter(rt, _officer(rt, "sg.tiepnhan"))] == [BIRTH]
    assert [p["code"] for p in _filter(rt, MONITOR)] == [BIRTH]


# ---------------------------------------------------------------- the table against its rule


UNITS = ("u-1", "u-2", "u-3", "u-4")
PROCEDURES = (("1.000002", "Bê"), ("1.000001", "An"), ("1.000003", "An"), ("1.000001", "An (cũ)"))
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

dossier_strategy = st.fixed_dictionaries(
    {
        "procedure": st.sampled_from(PROCEDURES),
        "receiving_unit_id": st.sampled_from(UNITS),
        "competent_unit_id": st.sampled_from(UNITS),
        "step_unit_id": st.sampled_from(UNITS),
    }
)
move_strategy = st.tuples(
    st.integers(min_value=0, max_value=99),
    st.sampled_from(("receiving_unit_id", "competent_unit_id", "step_unit_id")),
    st.sampled_from(UNITS),
)


def _values(n: int, row: dict[str, Any]) -> dict[str, Any]:
    code, name = row["procedure"]
    return {
        "code": f"T-{n:04d}",
        "procedure_code": code,
        "procedure_name": name,
        "city_procedure_version": 1,
        "workflow_id": "wf",
        "workflow_version": 1,
        "channel": "online",
        "applicant_id": "cd-1",
        "applicant_name": "Nguyễn Văn A",
        "submitted_by": "cd-1",
        "receiving_unit_id": row["receiving_unit_id"],
        "competent_unit_id": row["competent_unit_id"],
        "status": int(Status.SUBMITTED),
        "step": "buoc",
        "step_unit_id": row["step_unit_id"],
        "submitted_at": AT + timedelta(minutes=n),
        "version": 1,
        "state": {},
        "form_data": {},
        "updated_at": AT,
    }


def _current_pairs(conn: Any) -> set[tuple[str, str, str]]:
    """The DISTINCT the filter used to compute: each unit's dossiers by its three columns, now."""
    d = dossiers.c
    return {
        (unit, code, name)
        for column in (d.receiving_unit_id, d.competent_unit_id, d.step_unit_id)
        for unit, code, name in conn.execute(select(column, d.procedure_code, d.procedure_name))
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(dossier_strategy, max_size=12),
    moves=st.lists(move_strategy, max_size=8),
    one_statement=st.booleans(),
)
def test_the_table_holds_every_pair_ever_held(
    db: Database, rows: list[dict[str, Any]], moves: list[tuple[int, str, str]], one_statement: bool
) -> None:
    with db.transaction() as conn:
        conn.execute(delete(dossiers))
        conn.execute(delete(unit_procedures))
    values = [_values(n, row) for n, row in enumerate(rows)]
    ever: set[tuple[str, str, str]] = set()
    with db.transaction() as conn:
        if values and one_statement:  # one statement of many rows (as a COPY batch: one statement trigger)
            conn.execute(insert(dossiers), values)
        for value in values if not one_statement else ():
            conn.execute(insert(dossiers).values(value))
        ever |= _current_pairs(conn)
    with db.read() as conn:
        kept = set(conn.execute(select(unit_procedures)).all())
        kept = {(u, c, n) for u, n, c in kept}
    assert kept == ever  # nothing moved yet: exactly the DISTINCT over the current scopes
    for index, column, unit in moves:
        if not values:
            break
        with db.transaction() as conn:
            conn.execute(
                update(dossiers)
                .where(dossiers.c.code == values[index % len(values)]["code"])
                .values({column: unit})
            )
            ever |= _current_pairs(conn)
    with db.read() as conn:
        kept = {(u, c, n) for u, n, c in conn.execute(select(unit_procedures)).all()}
        current = _current_pairs(conn)
    assert kept == ever and kept >= current
    # The filter: each unit's pairs, by name then code, no duplicates; the monitor: the union.
    rt = Runtime(db=db, hooks=[])
    for unit in UNITS:
        officer = Actor("o-1", ActorKind.OFFICER, frozenset({Role.PROCESSOR}), unit)
        expected = sorted({(n, c) for u, c, n in kept if u == unit})
        assert [(p["name"], p["code"]) for p in _filter(rt, officer)] == expected
    assert [(p["name"], p["code"]) for p in _filter(rt, MONITOR)] == sorted({(n, c) for _, c, n in kept})


def test_a_changed_procedure_adds_its_pairs(db: Database) -> None:
    value = _values(
        0,
        {
            "procedure": PROCEDURES[0],
            "receiving_unit_id": "u-1",
            "competent_unit_id": "u-2",
            "step_unit_id": "u-1",
        },
    )
    with db.transaction() as conn:
        conn.execute(insert(dossiers).values(value))
        conn.execute(update(dossiers).values(procedure_name="Bê (mới)"))
    with db.read() as conn:
        kept = set(conn.execute(select(unit_procedures.c.unit_id, unit_procedures.c.procedure_name)).all())
    assert kept == {("u-1", "Bê"), ("u-2", "Bê"), ("u-1", "Bê (mới)"), ("u-2", "Bê (mới)")}
