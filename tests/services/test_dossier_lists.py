"""The lists written for partial indexes (revision f3b8d1e6a4c7) find exactly the rows their plain rule names,
and on PostgreSQL each arm of their OR is an index scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, true

from motcua.domain.lifecycle import TERMINAL, Actor, ActorKind, Status
from motcua.domain.workflow import Role
from motcua.services import dossiers as service
from motcua.services import workspace
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers

PEOPLE = ("cd-1", "cd-2", "cd-3")
UNITS = ("u-1", "u-2", "u-3")
OFFICERS = (None, "o-1", "o-2")
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "applicant_id": st.sampled_from(PEOPLE),
            "submitted_by": st.sampled_from(PEOPLE),
            "receiving_unit_id": st.sampled_from(UNITS),
            "competent_unit_id": st.sampled_from(UNITS),
            "step_unit_id": st.sampled_from(UNITS),
            "assignee_id": st.sampled_from(OFFICERS),
            "status": st.sampled_from([int(s) for s in Status]),
        }
    ),
    max_size=25,
)


def _store(db: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stored = []
    with db.transaction() as conn:
        conn.execute(delete(dossiers))
        for n, row in enumerate(rows):
            values = {
                **row,
                "code": f"T-{n:04d}",
                "procedure_code": "1.000001",
                "procedure_name": "Thủ tục thử",
                "city_procedure_version": 1,
                "workflow_id": "wf",
                "workflow_version": 1,
                "channel": "online",
                "applicant_name": "Nguyễn Văn A",
                "step": "buoc",
                "submitted_at": AT + timedelta(minutes=n),
                "version": 1,
                "state": {},
                "form_data": {},
                "updated_at": AT,
            }
            conn.execute(insert(dossiers).values(values))
            stored.append(values)
    return stored


def _codes(items: list[dict[str, Any]]) -> set[str]:
    return {item["code"] for item in items}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_the_lists_find_the_rows_of_their_plain_rule(db: Database, rows: list[dict[str, Any]]) -> None:
    stored = _store(db, rows)
    rt = Runtime(db=db, hooks=[])
    open_statuses = {int(s) for s in Status if s not in TERMINAL}
    for person in PEOPLE:
        items, total = service.list_dossiers(rt, Actor(person, ActorKind.CITIZEN), limit=100)
        expected = {r["code"] for r in stored if person in (r["applicant_id"], r["submitted_by"])}
        assert (_codes(items), total) == (expected, len(expected))
    for unit in UNITS:
        officer = Actor("o-1", ActorKind.OFFICER, frozenset({Role.RECEIVER}), unit)
        in_unit = {
            r["code"]
            for r in stored
            if unit in (r["receiving_unit_id"], r["competent_unit_id"], r["step_unit_id"])
        }
        items, _ = service.list_dossiers(rt, officer, queue="all", limit=100)
        assert _codes(items) == in_unit
        page = workspace.officer_queue(
            rt, officer, workspace.QueueQuery(queue="unit", status="all", limit=100)
        )
        assert (_codes(page["items"]), page["total"]) == (in_unit, len(in_unit))
        mine, total = service.list_dossiers(rt, officer, queue="mine", limit=100)
        expected = {r["code"] for r in stored if r["assignee_id"] == "o-1" and r["status"] in open_statuses}
        assert (_codes(mine), total) == (expected, len(expected))


@pytest.mark.postgres
def test_each_arm_is_an_index_scan_on_postgresql(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL plans")
    _store(
        db,
        [
            {
                "applicant_id": PEOPLE[n % 3],
                "submitted_by": PEOPLE[n % 2],
                "receiving_unit_id": UNITS[n % 3],
                "competent_unit_id": UNITS[n % 2],
                "step_unit_id": UNITS[n % 3],
                "assignee_id": OFFICERS[n % 3],
                "status": (n % 10) + 1,
            }
            for n in range(60)
        ],
    )
    citizen = Actor("cd-1", ActorKind.CITIZEN)
    officer = Actor("o-1", ActorKind.OFFICER, frozenset({Role.RECEIVER}), "u-1")
    expected = {  # the indexes a plan must use (one of them for "mine": both hold its rows)
        "citizen": ({"ix_dossiers_applicant", "ix_dossiers_submitted_by_other"}, all, citizen, "all"),
        "all": ({"ix_dossiers_competent_unit_other"}, all, officer, "all"),
        "mine": ({"ix_dossiers_assignee_open", "ix_dossiers_open_queue"}, any, officer, "mine"),
    }
    with db.read() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for name, (indexes, used, actor, queue) in expected.items():
            query = select(dossiers.c.id).where(service._queue_filter(actor, queue))
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "Seq Scan" not in plan, (name, plan)
            assert used(index in plan for index in indexes), (name, plan)


def test_mine_is_found_in_its_partial_index_on_sqlite(sqlite_db: Database) -> None:
    """SQLite uses a partial index only when the query's WHERE visibly implies its predicate: the open statuses
    must reach it as constants, not parameters (with parameters a commune's "mine" list scanned every row)."""
    officer = Actor("o-1", ActorKind.OFFICER, frozenset({Role.RECEIVER}), "u-1")
    query = select(dossiers.c.id).where(service._queue_filter(officer, "mine")).order_by(dossiers.c.due_at)
    with sqlite_db.read() as conn:
        compiled = query.compile(conn)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        plan = " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params))
    assert "ix_dossiers_assignee_open" in plan, plan


SEARCH_CODES = ("000.00.05.H29-261201-0001", "000.00.05.H29-261201-0002", "000.00.12.H29-261202-0001")
SEARCH_IDS = ("cd-079201000001", "cd-079201000002", "dn-0312345678")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    applicants=st.lists(st.sampled_from(SEARCH_IDS), min_size=3, max_size=3),
    text=st.sampled_from(
        [
            *SEARCH_CODES,
            "079201000001",
            "079201000002",
            "0312345678",
            "261201",
            "H29-261202",
            "Nguyễn",
            "nguyễn",
        ]
    ),
)
def test_an_officer_search_finds_what_it_names(db: Database, applicants: list[str], text: str) -> None:
    """A whole code or personal ID is looked up by equality (an index), a part by substring: either way the
    rows whose code, applicant ID or name hold the text."""
    rows = [
        {
            "applicant_id": applicant,
            "submitted_by": applicant,
            "receiving_unit_id": "u-1",
            "competent_unit_id": "u-1",
            "step_unit_id": "u-1",
            "assignee_id": None,
            "status": 2,
        }
        for applicant in applicants
    ]
    stored = _store(db, rows)
    with db.transaction() as conn:  # real codes and names
        for row, code in zip(stored, SEARCH_CODES, strict=True):
            conn.execute(dossiers.update().where(dossiers.c.code == row["code"]).values(code=code))
            row["code"] = code
    rt = Runtime(db=db, hooks=[])
    officer = Actor("o-1", ActorKind.OFFICER, frozenset({Role.RECEIVER}), "u-1")
    page = workspace.officer_queue(
        rt, officer, workspace.QueueQuery(queue="unit", status="all", text=text, limit=100)
    )
    expected = {
        r["code"]
        for r in stored
        if text.upper() in r["code"]
        or text in r["applicant_id"]
        or text.lower() in r["applicant_name"].lower()
    }
    assert _codes(page["items"]) == expected


@pytest.mark.postgres
def test_a_whole_code_or_id_is_found_in_its_index_on_postgresql(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL plans")
    with db.read() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for text, index in (
            (SEARCH_CODES[0], "uq_dossiers_code"),
            ("079201000001", "ix_dossiers_applicant"),
        ):
            query = select(dossiers.c.id).where(workspace._text_match(text))
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert index in plan, (text, plan)


def _city_rows() -> list[dict[str, Any]]:
    """Every status, due dates spread over a month and some without one, at three units."""
    return [
        {
            "applicant_id": PEOPLE[n % 3],
            "submitted_by": PEOPLE[n % 3],
            "receiving_unit_id": UNITS[n % 3],
            "competent_unit_id": UNITS[n % 3],
            "step_unit_id": UNITS[(n + 1) % 3],
            "assignee_id": OFFICERS[n % 3],
            "status": (n % 10) + 1,
            "due_at": None if n % 7 == 0 else AT + timedelta(hours=(n * 37) % 700),
        }
        for n in range(120)
    ]


def test_the_city_wide_open_queue_is_most_urgent_first(db: Database) -> None:
    """A city monitor's queue: every unit's open dossiers, the earliest legal due date first (none last); the
    page is read in that order from `ix_dossiers_open_due` at city scale instead of sorting them all."""
    stored = _store(db, _city_rows())
    rt = Runtime(db=db)
    monitor = Actor("m-1", ActorKind.OFFICER, frozenset({Role.MONITOR}), service.CITY_UNIT_ID)
    open_rows = [r for r in stored if Status(r["status"]) not in TERMINAL]
    expected = sorted(open_rows, key=lambda r: (r["due_at"] is None, r["due_at"] or AT, r["code"]))
    page = workspace.officer_queue(rt, monitor, workspace.QueueQuery(queue="unit", limit=15))
    assert [item["code"] for item in page["items"]] == [r["code"] for r in expected[:15]]
    assert page["total"] == len(open_rows)
    last = workspace.officer_queue(rt, monitor, workspace.QueueQuery(queue="unit", limit=15, offset=45))
    assert [item["code"] for item in last["items"]] == [r["code"] for r in expected[45:60]]


@pytest.mark.postgres
def test_the_city_wide_open_page_is_read_in_order_on_postgresql(db: Database) -> None:
    """The page's statement can walk `ix_dossiers_open_due` (its open statuses are constants, so the partial
    index's predicate is implied) and needs no sort."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL plans")
    _store(db, _city_rows())
    query = workspace.QueueQuery(queue="unit", limit=20)
    where = workspace._where(true(), query, AT, "postgresql", "")
    page = select(dossiers.c.id).where(where).order_by(*workspace._order("due", large=True)).limit(20)
    with db.read() as conn:
        conn.exec_driver_sql("ANALYZE dossiers")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        compiled = page.compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "ix_dossiers_open_due" in plan and "Sort" not in plan, plan


@pytest.mark.parametrize("sort", ["recent", "submitted"])
@pytest.mark.parametrize("cap", [5, 10_001])
def test_submission_order_is_the_same_sorted_or_read_in_order(
    db: Database, monkeypatch: pytest.MonkeyPatch, sort: str, cap: int
) -> None:
    """ "Newest first" / "oldest first": a list whose count reaches its cap is read in the order of
    `ix_dossiers_submitted_id`, a shorter one is sorted — the same rows in the same order either way, through
    the API's list and the officer's web queue, on every page."""
    stored = _store(db, _city_rows())
    monkeypatch.setattr(service, "LIST_COUNT_CAP", cap)
    monkeypatch.setattr(workspace, "QUEUE_COUNT_CAP", cap)
    rt = Runtime(db=db)
    monitor = Actor("m-1", ActorKind.OFFICER, frozenset({Role.MONITOR}), service.CITY_UNIT_ID)
    expected = [r["code"] for r in sorted(stored, key=lambda r: r["submitted_at"], reverse=sort == "recent")]
    for offset in (0, 20, 110):
        items, total = service.list_dossiers(rt, monitor, queue="all", sort=sort, limit=20, offset=offset)
        assert [item["code"] for item in items] == expected[offset : offset + 20]
        assert total == min(len(stored), cap)
        query = workspace.QueueQuery(queue="unit", status="all", sort=sort, limit=20, offset=offset)
        page = workspace.officer_queue(rt, monitor, query)
        assert [item["code"] for item in page["items"]] == expected[offset : offset + 20]


@pytest.mark.postgres
def test_submission_order_walks_its_index_only_for_a_long_list_on_postgresql(db: Database) -> None:
    """At the cap the page is read from `ix_dossiers_submitted_id` (backwards for "newest first"), no sort; below
    it the planner cannot use that index (a small unit's rows are far apart in it) and sorts."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL plans")
    _store(db, _city_rows())
    with db.read() as conn:
        conn.exec_driver_sql("ANALYZE dossiers")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plans = {}
        for many in (True, False):
            page = (
                select(dossiers.c.id).order_by(*workspace._order("recent", large=True, many=many)).limit(20)
            )
            compiled = page.compile(conn, compile_kwargs={"literal_binds": True})
            plans[many] = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN VERBOSE {compiled}"))
    assert "Scan Backward using ix_dossiers_submitted_id" in plans[True] and "Sort" not in plans[True]
    assert "Scan Backward" not in plans[False] and "Sort Key: ((submitted_at IS NULL))" in plans[
        False
    ].replace("dossiers.", "")
