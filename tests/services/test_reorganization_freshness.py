"""Every process sees a reorganisation at once, and nothing lands at a closed unit (decision 0010, issue #6
follow-up), on SQLite and PostgreSQL: a second Runtime on the same database stands in for another server process
that cached the directory before the plan was applied by the first; on PostgreSQL, a submission or an action
whose transaction straddles the apply's commit (two threads, held at chosen points) never commits at a closed
unit."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from motcua.domain.errors import NotFound
from motcua.domain.lifecycle import Action, Channel, Status
from motcua.domain.reorganization import parse_plan
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services import legacy_import
from motcua.services import reorganization as reorg_service
from motcua.services.audit import verify_audit
from motcua.services.reorganization import apply_plan
from motcua.services.runtime import Runtime, units_token
from motcua.store.schema.dossiers import dossiers
from tests.services import test_reorganization as base
from tests.services.test_reorganization import (
    KHAI_SINH,
    NEW,
    OLD_A,
    OTHER,
    account,
    example_form,
    file,
    merge_plan,
    officer,
    row_of,
)

runtime = base.runtime  # a runtime on a seeded database (both), and the dossiers of the two wards
city = base.city


def another_process(rt: Runtime) -> Runtime:
    """A server process of its own (own caches) on the same database, with today's directory cached."""
    other = Runtime(db=rt.db, clock=rt.clock, calendar=rt.calendar, hooks=[])
    with other.db.read() as conn:
        assert OLD_A in other.directory(conn, rt.clock.now().date())
    return other


def apply_merge(rt: Runtime) -> dict[str, Any]:
    return apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))


def open_at(rt: Runtime, unit: str) -> int:
    with rt.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    dossiers.c.receiving_unit_id == unit,
                    dossiers.c.status.in_(reorg_service.OPEN_STATUSES),
                )
            ).scalar_one()
        )


def test_the_units_token_changes_with_every_registry_write(runtime: Runtime, city: dict[str, Any]) -> None:
    with runtime.db.read() as conn:
        before = units_token(conn)
    apply_merge(runtime)
    with runtime.db.read() as conn:
        after = units_token(conn)
    assert before and after and before != after


def test_another_process_sees_the_plan_at_its_next_request(runtime: Runtime, city: dict[str, Any]) -> None:
    other = another_process(runtime)
    today = runtime.clock.now().date()
    apply_merge(runtime)
    with other.db.read() as conn:  # at once, not after a minute
        units = other.directory(conn, today)
    assert OLD_A not in units and NEW in units
    assert other.cached_directory(today) is units


def test_a_stale_process_refuses_the_closed_ward_and_names_its_successor(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    other = another_process(runtime)
    today = runtime.clock.now().date()
    citizen = account(runtime, "congdan")
    file(other, citizen, KHAI_SINH, OLD_A)  # the write path uses (and confirms) the cached directory
    apply_merge(runtime)
    assert other._directories[today][2] is not None  # still holding the old directory: nothing told it
    with pytest.raises(NotFound) as refused:
        file(other, citizen, KHAI_SINH, OLD_A)
    assert refused.value.code == "unit.not_found"
    assert refused.value.details["successors"] == [NEW]
    assert "Phường Tân Định Bến Thành" in refused.value.message and "Tân Định" in refused.value.message
    assert open_at(runtime, OLD_A) == 0
    # the same stale process files at an open ward normally, on the new directory
    code = file(other, citizen, KHAI_SINH, OTHER)
    assert row_of(runtime, code).receiving_unit_id == OTHER
    assert NEW in other._directories[today][2]


def test_an_action_on_a_moved_dossier_works_at_its_new_unit_in_a_stale_process(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    other = another_process(runtime)
    apply_merge(runtime)
    receiver = officer(runtime, "tdbt.tiepnhan", NEW, Role.RECEIVER, Role.PROCESSOR, Role.UNIT_ADMIN)
    code = city["open"][0]
    view = dossier_service.act(other, receiver, code, Action.ACCEPT, {})
    assert view["status"]["code"] == int(Status.ACCEPTED)
    row = row_of(runtime, code)
    assert (row.receiving_unit_id, row.step_unit_id, row.status) == (NEW, NEW, int(Status.ACCEPTED))
    with runtime.db.read() as conn:
        assert verify_audit(conn).ok
        assert dossier_service.replay_check(conn, code)


# ---------------------------------------------------------------- PostgreSQL: transactions that straddle the apply


def _waiting_on_dossiers(rt: Runtime) -> int:
    with rt.db.read() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE relation = 'dossiers'::regclass AND NOT granted")
            ).scalar_one()
        )


def _until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _pg_only(rt: Runtime) -> None:
    if rt.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: a submission cannot straddle the apply's commit")


@pytest.mark.postgres
def test_a_submission_begun_before_the_apply_committed_does_not_commit_at_the_closed_ward(
    runtime: Runtime, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The apply holds its transaction open after taking its lock; a stale process's submission at the ward it
    closes begins meanwhile and reaches its write, which waits; the apply commits; the write then sees the new
    registry: nothing is written at the closed ward, and the citizen is told where to file."""
    rt = runtime
    _pg_only(rt)
    other = another_process(rt)
    citizen = account(rt, "congdan")
    form = example_form(rt, KHAI_SINH)
    holding, release = threading.Event(), threading.Event()
    original = reorg_service._check

    def held_check(conn: Any, plan: Any, today: Any) -> Any:
        holding.set()  # the lock is held: the registry is about to change
        assert release.wait(10)
        return original(conn, plan, today)

    monkeypatch.setattr(reorg_service, "_check", held_check)
    results: dict[str, Any] = {}

    def applying() -> None:
        results["apply"] = apply_merge(rt)

    def submitting() -> None:
        try:
            sub = dossier_service.Submission(KHAI_SINH, OLD_A, Channel.ONLINE, form)
            results["submission"] = dossier_service.submit_dossier(other, citizen, sub)
        except Exception as exc:  # the test inspects it
            results["submission"] = exc

    apply_thread = threading.Thread(target=applying)
    apply_thread.start()
    assert holding.wait(10)
    submit_thread = threading.Thread(target=submitting)
    submit_thread.start()
    _until(lambda: _waiting_on_dossiers(rt) >= 1)  # the submission's write waits for the apply
    assert submit_thread.is_alive()
    release.set()
    apply_thread.join(20)
    submit_thread.join(20)

    assert results["apply"]["changed"] is True
    refused = results["submission"]
    assert isinstance(refused, NotFound) and refused.code == "unit.not_found", refused
    assert refused.details["successors"] == [NEW]
    assert open_at(rt, OLD_A) == 0
    with rt.db.read() as conn:
        assert verify_audit(conn).ok


@pytest.mark.postgres
def test_a_submission_written_before_the_apply_took_its_lock_is_moved_with_the_others(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    """The other order: the stale submission has written its dossier and holds its transaction open (at an event
    hook); the apply waits for it, and then moves that dossier too."""
    rt = runtime
    _pg_only(rt)
    other = another_process(rt)
    citizen = account(rt, "congdan")
    form = example_form(rt, KHAI_SINH)
    written, release = threading.Event(), threading.Event()

    def held_hook(_ctx: Any) -> None:
        written.set()
        assert release.wait(10)

    other.hooks.append(held_hook)
    results: dict[str, Any] = {}

    def submitting() -> None:
        sub = dossier_service.Submission(KHAI_SINH, OLD_A, Channel.ONLINE, form)
        results["submission"] = dossier_service.submit_dossier(other, citizen, sub)

    def applying() -> None:
        results["apply"] = apply_merge(rt)

    submit_thread = threading.Thread(target=submitting)
    submit_thread.start()
    assert written.wait(10)
    apply_thread = threading.Thread(target=applying)
    apply_thread.start()
    _until(lambda: _waiting_on_dossiers(rt) >= 1)  # the apply waits for the submission
    release.set()
    submit_thread.join(20)
    apply_thread.join(20)

    code = results["submission"]["code"]
    assert results["apply"]["summary"]["moved"] == len(city["open"]) + 1
    row = row_of(rt, code)
    assert (row.receiving_unit_id, row.step_unit_id) == (NEW, NEW)
    assert open_at(rt, OLD_A) == 0
    with rt.db.read() as conn:
        assert [e.type.value for e in dossier_service.history(conn, row.id)][-1] == "reorganize"
        assert dossier_service.replay_check(conn, code)
        assert verify_audit(conn).ok


def _accept_while_the_apply_holds_its_lock(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, other: Runtime, receiver: Any, code: str
) -> dict[str, Any]:
    """The apply takes its lock and holds its transaction open; `receiver` accepts `code` in the stale process
    `other` meanwhile, until something of it waits on `dossiers`; then the apply commits. Both results (the
    action's may be its exception)."""
    holding, release = threading.Event(), threading.Event()
    original = reorg_service._check

    def held_check(conn: Any, plan: Any, today: Any) -> Any:
        holding.set()
        assert release.wait(10)
        return original(conn, plan, today)

    monkeypatch.setattr(reorg_service, "_check", held_check)
    results: dict[str, Any] = {}

    def applying() -> None:
        results["apply"] = apply_merge(rt)

    def acting() -> None:
        try:
            results["action"] = dossier_service.act(other, receiver, code, Action.ACCEPT, {})
        except Exception as exc:  # the test inspects it
            results["action"] = exc

    apply_thread = threading.Thread(target=applying)
    apply_thread.start()
    assert holding.wait(10)
    act_thread = threading.Thread(target=acting)
    act_thread.start()
    _until(lambda: _waiting_on_dossiers(rt) >= 1)  # the action (its read or its write) waits for the apply
    release.set()
    apply_thread.join(20)
    act_thread.join(20)
    return results


@pytest.mark.postgres
def test_an_action_begun_before_the_apply_committed_is_done_at_the_new_unit(
    runtime: Runtime, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An officer's action on an open dossier of the closing ward, in a stale process, reaches the row after the
    apply took its lock: it waits, then reads the moved row and acts on it at the new ward, on the new
    directory — never writes the old ward back."""
    rt = runtime
    _pg_only(rt)
    other = another_process(rt)
    # an officer of the new ward (its account made ahead of the day), acting in a process that knows no new ward
    receiver = officer(rt, "tdbt.tiepnhan", NEW, Role.RECEIVER, Role.PROCESSOR, Role.UNIT_ADMIN)
    code = city["open"][0]
    results = _accept_while_the_apply_holds_its_lock(rt, monkeypatch, other, receiver, code)

    assert not isinstance(results["action"], Exception), results["action"]
    row = row_of(rt, code)
    assert (row.receiving_unit_id, row.step_unit_id, row.status) == (NEW, NEW, int(Status.ACCEPTED))
    with rt.db.read() as conn:
        types = [e.type.value for e in dossier_service.history(conn, row.id)]
        assert types[-2:] == ["reorganize", "accept"]
        assert dossier_service.replay_check(conn, code)
        assert verify_audit(conn).ok


@pytest.mark.postgres
def test_an_action_on_an_unmoved_dossier_straddling_the_apply_is_written_once_on_the_new_directory(
    runtime: Runtime, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action's one statement (written outside a transaction, decision 0013) reaches the row while the apply
    holds its lock: it waits, then sees the new registry's token and writes nothing; the action runs again on the
    new directory and is recorded once — an autocommitted write cannot be rolled back, so the check must be in it."""
    rt = runtime
    _pg_only(rt)
    other = another_process(rt)
    receiver = officer(rt, "sg.tiepnhan2", OTHER, Role.RECEIVER)
    code = city["other"]
    results = _accept_while_the_apply_holds_its_lock(rt, monkeypatch, other, receiver, code)

    assert not isinstance(results["action"], Exception), results["action"]
    assert results["action"]["status"]["code"] == int(Status.ACCEPTED)
    with rt.db.read() as conn:
        row = conn.execute(select(dossiers).where(dossiers.c.code == code)).one()
        types = [e.type.value for e in dossier_service.history(conn, row.id)]
        assert types == ["submit", "accept"]
        assert dossier_service.replay_check(conn, code)
        assert verify_audit(conn).ok
        held, token = other.directory_to_write(
            conn, rt.clock.now().date()
        )  # what the process holds (no read)
        assert token == units_token(conn) and NEW in held  # it acted on the new registry
    assert (row.receiving_unit_id, row.status) == (OTHER, int(Status.ACCEPTED))


def test_the_migration_installs_the_token_and_its_triggers(empty_db: Any) -> None:
    """Revision a8c3e1f5d7b9 (a frozen copy of `store/schema/units_version.py`): a database built by the
    migrations renews the token on unit and lineage writes, as one built by `create_all` does."""
    from datetime import date

    from sqlalchemy import insert, update

    from motcua.store.migrate import upgrade
    from motcua.store.schema.units import unit_lineage, units

    upgrade(empty_db.engine.url.render_as_string(hide_password=False))
    tokens = []
    with empty_db.transaction() as conn:
        tokens.append(units_token(conn))
        conn.execute(
            insert(units).values(
                id="x", agency_code="000.00.00.X00", name="X", kind="phuong", valid_from=date(2026, 1, 1)
            )
        )
        tokens.append(units_token(conn))
        conn.execute(update(units).where(units.c.id == "x").values(valid_to=date(2026, 3, 2)))
        tokens.append(units_token(conn))
        conn.execute(
            insert(unit_lineage).values(predecessor_id="x", successor_id="y", effective=date(2026, 3, 2))
        )
        tokens.append(units_token(conn))
    assert None not in tokens and len(set(tokens)) == 4


@pytest.mark.postgres
def test_the_apply_waits_a_bounded_time_for_a_long_dossier_transaction(
    runtime: Runtime, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long transaction holding a dossier (an import, a stuck request) would otherwise queue every submission
    behind the apply's lock: the apply gives up after HOLD_TIMEOUT_SECONDS with a 409 and changes nothing."""
    from motcua.domain.errors import Conflict

    rt = runtime
    _pg_only(rt)
    monkeypatch.setattr(reorg_service, "HOLD_TIMEOUT_SECONDS", 1)
    before = base.counts(rt)
    with rt.db.transaction() as long_one:
        long_one.execute(select(dossiers.c.id).where(dossiers.c.code == city["other"]).with_for_update())
        with pytest.raises(Conflict) as busy:
            apply_merge(rt)
    assert busy.value.code == "reorg.busy"
    assert base.counts(rt) == before
    assert apply_merge(rt)["changed"] is True  # and applies once the dossiers are free


def test_an_import_running_across_a_reorganisation_lands_nothing_at_the_closed_ward(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    """`motcua import dossiers` validates batch by batch against the units of the day it started with; a plan
    applied between two batches closes a ward the next batch names: that batch is checked again against the
    new units before anything of it is written (its rows for the closed ward rejected, the others imported)."""
    rt = runtime
    now = rt.clock.now()
    with rt.db.read() as conn:
        units = rt.directory(conn, now.date())
    filed = (now - timedelta(days=1)).isoformat()

    def export_row(unit: str, seq: int) -> dict[str, Any]:
        return {
            "code": f"{units.get(unit).agency_code}-{now - timedelta(days=1):%y%m%d}-{9000 + seq:04d}",
            "procedure_code": KHAI_SINH,
            "receiving_unit": unit,
            "status": 1,
            "submitted_at": filed,
            "applicant_name": "Lê Thị Hoa",
            "applicant_personal_id": "079090004321",
        }

    # Two batches of four: two rows for a ward that stays, two for the ward the plan closes.
    rows = [export_row(unit, seq) for seq in range(2) for unit in (OTHER, OLD_A)]
    rows += [export_row(unit, seq) for seq in range(2, 4) for unit in (OTHER, OLD_A)]
    applied: list[dict[str, Any]] = []

    def after_batch(_report: legacy_import.ImportReport) -> None:
        if not applied:  # between the batches: the second is validated already, not yet written
            applied.append(apply_merge(rt))

    report = legacy_import.import_records(
        rt.db, list(enumerate(rows, start=2)), now=now, source="cu.csv", batch_size=4, on_batch=after_batch
    )

    assert applied
    assert open_at(rt, OLD_A) == 0  # the first batch's two were moved by the plan; the second's never landed
    assert [(r.line, r.reason) for r in report.rejected] == [(7, "unit.not_found"), (9, "unit.not_found")]
    assert report.imported == 6 and report.rows == 8
    assert report.units_reloaded == 1 and "sắp xếp lại" in report.summary()
    with rt.db.read() as conn:
        new_unit = conn.execute(
            select(func.count()).where(dossiers.c.code.like("%-9%"), dossiers.c.receiving_unit_id == NEW)
        ).scalar_one()
        assert verify_audit(conn).ok
    assert new_unit == 2
