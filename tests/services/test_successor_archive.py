"""A successor unit reads, lists and searches its predecessors' dossiers (decision 0010, "a successor's archive"),
on SQLite and PostgreSQL: after a merge the closed dossiers keep the closed wards as their units, and the new
ward's officers — the moved ones and new ones — open them (`get_dossier`, the API), find them in the "all"
lists (the API's and the web queue's with status "all" or a closed status), by a name typed without diacritics
and by procedure; through a chain of two merges too. An unrelated ward still gets 404, no one can act on the
archive, the open queues are unchanged, and a unit without predecessors runs the very SQL it always did."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import and_, event, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from motcua.api.app import create_app
from motcua.domain.errors import DomainError, NotFound
from motcua.domain.lifecycle import Action, Actor, ActorKind, Channel, Status
from motcua.domain.reorganization import parse_plan
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services import workspace
from motcua.services.reorganization import apply_plan
from motcua.services.runtime import Runtime
from motcua.store.schema.dossier_search import dossier_search
from motcua.store.schema.dossiers import dossiers
from tests.api.conftest import DossierApi
from tests.services import test_reorganization as base
from tests.services.test_reorganization import (
    KHAI_SINH,
    NEW,
    NEW_POLICE,
    OLD_A,
    OLD_B,
    OTHER,
    account,
    example_form,
    merge_plan,
    officer,
    row_of,
)

runtime = base.runtime  # the fixtures: a runtime on a seeded database (both), the dossiers of the two wards
city = base.city

CAP_LAI_GCN = "1.012786"  # received at a ward's desk; no dossier of it moves, so only the archive has it
HONG_NHUNG = {"full_name": "Lê Thị Hồng Nhung", "personal_id": "079185067890"}
THIRD = "phuong-ban-co"  # merged with the successor in the second plan
NEWEST, NEWEST_POLICE = "phuong-trung-tam-thu", "cong-an-phuong-trung-tam-thu"


def second_plan(rt: Runtime) -> str:
    """The successor of the first plan and a third ward merge again (with their police)."""
    return f"""
id: thu-sap-nhap-lan-hai
title: "Thử: sáp nhập lần hai"
legal_basis: "Nghị quyết thử số 2/NQ-TEST"
effective: {rt.clock.now().date().isoformat()}
operations:
  - merge:
      into: {{id: {NEWEST}, name: Phường Trung Tâm Thử, kind: phuong, agency_code: "170.00.70.H29",
              parent_id: thanh-pho-ho-chi-minh}}
      from: [{NEW}, {THIRD}]
  - merge:
      into: {{id: {NEWEST_POLICE}, name: Công an phường Trung Tâm Thử, kind: cong_an_xa,
              agency_code: "170.00.29.G01", parent_id: cong-an-thanh-pho, area_id: {NEWEST}}}
      from: [{NEW_POLICE}, cong-an-{THIRD}]
"""


@pytest.fixture
def archive(runtime: Runtime, city: dict[str, Any]) -> dict[str, Any]:
    """Before the merge: a closed dossier at each ward — withdrawn at OLD_A (the city fixture's), refused at
    OLD_B's desk (a procedure no moved dossier has, a name of its own) —, then the merge, applied today."""
    rt = runtime
    desk = officer(rt, "bt.tiepnhan", OLD_B, Role.RECEIVER)
    sub = dossier_service.Submission(
        CAP_LAI_GCN,
        OLD_B,
        Channel.DESK,
        example_form(rt, CAP_LAI_GCN),
        applicant=HONG_NHUNG,
        accept_now=False,
    )
    refused = str(dossier_service.submit_dossier(rt, desk, sub)["code"])
    dossier_service.act(rt, desk, refused, Action.REFUSE_RECEPTION, {"reason": "Thiếu giấy tờ"})
    assert Status(row_of(rt, refused).status) is Status.REJECTED
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))
    rt.clock.advance(timedelta(minutes=1))
    return {"withdrawn": city["withdrawn"], "refused": refused, "closed": {city["withdrawn"], refused}}


def listed(rt: Runtime, actor: Actor, **filters: Any) -> set[str]:
    items, total = dossier_service.list_dossiers(rt, actor, queue="all", limit=100, **filters)
    assert total == len(items)
    return {item["code"] for item in items}


def queued(rt: Runtime, actor: Actor, **query: Any) -> dict[str, Any]:
    result = workspace.officer_queue(rt, actor, workspace.QueueQuery(queue="unit", limit=100, **query))
    assert result["total"] == len(result["items"])
    return {"codes": {item["code"] for item in result["items"]}, "procedures": result["procedures"]}


def test_the_successors_officers_read_list_and_search_the_merged_wards_closed_dossiers(
    runtime: Runtime, city: dict[str, Any], archive: dict[str, Any]
) -> None:
    rt = runtime
    moved = account(rt, "bt.tiepnhan")  # OLD_B's receiver, moved to the successor by the plan
    assert moved.unit_id == NEW
    fresh = officer(rt, "tdbt.xuly", NEW, Role.PROCESSOR)
    for reader in (moved, fresh):
        for code in archive["closed"]:
            view = dossier_service.get_dossier(rt, reader, code)
            assert view["code"] == code and view["allowed_actions"] == []
        # "all" holds the archive and the moved open dossiers; the open queues only the latter
        assert listed(rt, reader) == archive["closed"] | set(city["open"])
        assert queued(rt, reader, status="all")["codes"] == archive["closed"] | set(city["open"])
        assert queued(rt, reader, status=str(int(Status.REJECTED)))["codes"] == {archive["refused"]}
        assert queued(rt, reader, status=str(int(Status.WITHDRAWN)))["codes"] == {archive["withdrawn"]}
        assert queued(rt, reader)["codes"] == set(city["open"])
        # a name typed without diacritics, in any case; a part of a code
        for typed in ("le thi hong nhung", "HONG NHUNG", "Hồng Nhung"):
            assert listed(rt, reader, search=typed) == {archive["refused"]}, typed
            assert queued(rt, reader, status="all", text=typed)["codes"] == {archive["refused"]}, typed
        assert listed(rt, reader, search=archive["withdrawn"][-9:].lower()) == {archive["withdrawn"]}
        # the procedure filter offers the archive's procedures and finds their dossiers
        procedures = queued(rt, reader, status="all")["procedures"]
        assert CAP_LAI_GCN in {p["code"] for p in procedures}
        assert len(procedures) == len({p["code"] for p in procedures})  # no duplicates across units
        assert listed(rt, reader, procedure=CAP_LAI_GCN) == {archive["refused"]}
        assert queued(rt, reader, status="all", procedure=CAP_LAI_GCN)["codes"] == {archive["refused"]}
    # reading is not acting: the archive is closed, its row unchanged
    before = row_of(rt, archive["withdrawn"]).version
    with pytest.raises(DomainError) as refused:
        dossier_service.act(rt, fresh, archive["withdrawn"], Action.ACCEPT, {})
    assert not isinstance(refused.value, NotFound)
    assert row_of(rt, archive["withdrawn"]).version == before
    # an officer of an unrelated ward: nothing of it
    stranger = account(rt, "sg.xuly")
    for code in archive["closed"]:
        with pytest.raises(NotFound):
            dossier_service.get_dossier(rt, stranger, code)
    assert not listed(rt, stranger) & archive["closed"]
    assert not queued(rt, stranger, status="all")["codes"] & archive["closed"]
    assert not listed(rt, stranger, search="hong nhung")


def test_through_the_api(runtime: Runtime, archive: dict[str, Any]) -> None:
    rt = runtime
    officer(rt, "tdbt.xuly", NEW, Role.PROCESSOR)
    with TestClient(app=create_app(rt)) as client:
        api = DossierApi(client, rt.clock, rt.db)
        for code in archive["closed"]:
            assert api.call("GET", f"/api/v1/dossiers/{code}", "tdbt.xuly", expect=200)["code"] == code
            api.call("GET", f"/api/v1/dossiers/{code}", "sg.xuly", expect=404)
        page = api.call("GET", "/api/v1/dossiers?queue=all&limit=100", "tdbt.xuly", expect=200)
        assert archive["closed"] <= {item["code"] for item in page["items"]}
        found = api.call("GET", "/api/v1/dossiers?queue=all&text=le%20thi%20hong", "tdbt.xuly", expect=200)
        assert [item["code"] for item in found["items"]] == [archive["refused"]]
        by_procedure = api.call(
            "GET", f"/api/v1/dossiers?queue=all&procedure={CAP_LAI_GCN}", "tdbt.xuly", expect=200
        )
        assert [item["code"] for item in by_procedure["items"]] == [archive["refused"]]
        other = api.call("GET", "/api/v1/dossiers?queue=all&text=le%20thi%20hong", "sg.xuly", expect=200)
        assert other["items"] == []


def test_a_chain_of_two_merges_reaches_the_first_wards(
    runtime: Runtime, city: dict[str, Any], archive: dict[str, Any]
) -> None:
    rt = runtime
    rt.clock.advance(timedelta(days=1))
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(second_plan(rt)))
    rt.clock.advance(timedelta(minutes=1))
    with rt.db.read() as conn:
        assert dossier_service.unit_predecessors(conn, rt, NEWEST) == tuple(
            sorted({NEW, OLD_A, OLD_B, THIRD})
        )
        assert dossier_service.unit_predecessors(conn, rt, OTHER) == ()
    reader = officer(rt, "ttt.xuly", NEWEST, Role.PROCESSOR)
    moved = account(rt, "bt.tiepnhan")  # moved twice
    assert moved.unit_id == NEWEST
    for who in (reader, moved):
        for code in archive["closed"]:
            assert dossier_service.get_dossier(rt, who, code)["code"] == code
        assert archive["closed"] | set(city["open"]) <= listed(rt, who)
        assert queued(rt, who, status="all")["codes"] == archive["closed"] | set(city["open"])
        assert listed(rt, who, search="hong nhung") == {archive["refused"]}
        assert queued(rt, who, status="all", procedure=CAP_LAI_GCN)["codes"] == {archive["refused"]}
    with pytest.raises(NotFound):
        dossier_service.get_dossier(rt, account(rt, "sg.xuly"), archive["withdrawn"])


# ---------------------------------------------------------------- a unit without predecessors: the same SQL


def _old_unit_arms(unit: str) -> Any:
    """The "all" scope as it was written before the archive (a frozen copy): what every unit without
    predecessors must still compile to."""
    return or_(
        dossiers.c.receiving_unit_id == unit,
        and_(
            dossiers.c.competent_unit_id == unit,
            dossiers.c.competent_unit_id != dossiers.c.receiving_unit_id,
        ),
        dossiers.c.step_unit_id == unit,
    )


def _old_unit_text_match(pattern: str, unit: str) -> Any:
    held = workspace._NotTrigramIndexed(dossier_search.c.search_text).like(pattern, escape="/")
    return dossiers.c.id.in_(
        select(dossier_search.c.dossier_id).where(dossier_search.c.unit_id == unit, held)
    )


def _sql(expression: Any) -> list[str]:
    return [str(expression.compile(dialect=d.dialect())) for d in (sqlite, postgresql)]


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = runtime.db.engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_unit_without_predecessors_runs_the_same_sql(
    runtime: Runtime, city: dict[str, Any], statements: list[str]
) -> None:
    rt = runtime
    stranger = account(rt, "sg.xuly")
    closed = str(int(Status.WITHDRAWN))

    def run() -> list[str]:
        statements.clear()
        dossier_service.list_dossiers(rt, stranger, queue="all")
        dossier_service.list_dossiers(rt, stranger, queue="all", search="nguyen", procedure=KHAI_SINH)
        for status in ("", "all", closed):
            workspace.officer_queue(rt, stranger, workspace.QueueQuery(queue="unit", status=status))
            workspace.officer_queue(
                rt, stranger, workspace.QueueQuery(queue="unit", status=status, text="an")
            )
        return list(statements)

    run()  # the directory of today cached, as the lists found it before the archive existed
    before = run()
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))
    run()  # the directory of today is read again once (the plan made the applying process forget it)
    assert run() == before  # nothing more, nothing else: no lineage read, no IN (…) of one unit

    # and the expressions are the ones written before the archive existed, on both dialects
    assert _sql(dossier_service._queue_filter(stranger, "all")) == _sql(_old_unit_arms(OTHER))
    with rt.db.read() as conn:
        for status in ("all", closed):
            scope = workspace._queue_scope(conn, rt, stranger, "unit", status)
            assert _sql(scope) == _sql(_old_unit_arms(OTHER))
    assert workspace._search_unit(stranger, "unit") == OTHER
    assert dossier_service._search_unit(stranger, "all") == OTHER
    assert _sql(workspace._text_match("nguyen", OTHER)) == _sql(_old_unit_text_match("%nguyen%", OTHER))
    # a successor's arms are each one IN over its unit and predecessors (an index search each)
    successor = Actor("x", ActorKind.OFFICER, frozenset({Role.PROCESSOR}), NEW)
    arms = _sql(dossier_service._queue_filter(successor, "all", (OLD_B, OLD_A)))
    assert all(sql.count(" IN (") == 3 for sql in arms), arms


def test_each_arm_of_a_successors_scope_stays_an_index_search(
    runtime: Runtime, archive: dict[str, Any]
) -> None:
    """`column IN (unit, predecessors…)` in each arm: still a search of each arm's index, on both databases —
    the API's "all" list and the web queue of a closed status (the status inside each arm)."""
    rt = runtime
    successor = Actor("x", ActorKind.OFFICER, frozenset({Role.PROCESSOR}), NEW)
    closed = workspace.QueueQuery(queue="unit", status=str(int(Status.REJECTED)))
    with rt.db.read() as conn:
        predecessors = dossier_service.unit_predecessors(conn, rt, NEW)
        assert predecessors == tuple(sorted({OLD_A, OLD_B}))
        scope = workspace._queue_scope(conn, rt, successor, "unit", closed.status)
        wheres = [
            dossier_service._queue_filter(successor, "all", predecessors),
            workspace._where(scope, closed, rt.clock.now(), rt.db.dialect),
        ]
        if rt.db.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for n, where in enumerate(wheres):
            query = select(dossiers.c.id).where(where)
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            if rt.db.dialect == "postgresql":
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
                assert "Seq Scan" not in plan, plan
            else:
                plan = "\n".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                assert "SCAN dossiers" not in plan, plan
            if n == 0:  # (with the status in each arm, PostgreSQL may factor it out of a table this small)
                assert "competent_unit_other" in plan, plan


# ---------------------------------------------------------------- the closure itself


NODES = [f"u{n}" for n in range(7)]


@given(
    links=st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)), max_size=14),
    open_units=st.sets(st.sampled_from(NODES), min_size=1),
    split=st.integers(0, 14),
)
def test_the_predecessors_are_every_unit_reached_back_through_the_links(
    links: list[tuple[str, str]], open_units: set[str], split: int
) -> None:
    """Whichever links the open units carry themselves and which come from the lineage table (closed units'),
    cycles included: each open unit gets every unit reachable backwards from it, itself excluded, sorted."""
    carried = links[:split]
    units = [
        SimpleNamespace(id=u, predecessors=tuple(before for before, after in carried if after == u))
        for u in sorted(open_units)
    ]
    carried_by_open = [(before, after) for before, after in carried if after in open_units]
    rest = [link for link in links if link not in carried_by_open]
    closure = dossier_service._predecessor_closure(units, rest)
    everything = set(carried_by_open) | set(rest)
    for unit in sorted(open_units):
        reach: set[str] = set()
        frontier = {unit}
        while frontier:
            step = {before for before, after in everything if after in frontier} - reach
            reach |= step
            frontier = step
        reach.discard(unit)
        assert closure.get(unit, ()) == tuple(sorted(reach))
    assert set(closure) <= open_units
