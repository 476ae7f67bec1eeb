"""Applying a reorganisation plan (services/reorganization.py), on SQLite and PostgreSQL: open dossiers follow
their closed units to the successor — with an event, an audit entry, code and deadlines unchanged —, closed
ones keep their units, old units stay resolvable on past dates, procedures get their new competent unit, and
applying twice, as a non-admin or a bad plan changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import FixedClock
from motcua.domain.errors import Forbidden, InvalidInput
from motcua.domain.lifecycle import Action, Actor, ActorKind, Channel, Status
from motcua.domain.reorganization import parse_plan
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services.audit import audit_trail, verify_audit
from motcua.services.catalog import get_procedure
from motcua.services.identity import actor_from_row, create_user
from motcua.services.reorganization import apply_plan, plan_report
from motcua.services.runtime import Runtime
from motcua.services.seed import setup_reference_data
from motcua.services.units import directory
from motcua.store.db import Database
from motcua.store.schema.audit import audit_log
from motcua.store.schema.dossiers import dossier_events, dossiers
from motcua.store.schema.identity import users
from motcua.store.schema.units import unit_lineage, units

KHAI_SINH = "1.001193"
LAND = "1.013831"  # received by wards, competent: so-nong-nghiep-va-moi-truong
OLD_A, OLD_B, NEW = "phuong-tan-dinh", "phuong-ben-thanh", "phuong-tan-dinh-ben-thanh"
POLICE_A, POLICE_B, NEW_POLICE = "cong-an-phuong-tan-dinh", "cong-an-phuong-ben-thanh", "cong-an-phuong-moi"
OTHER = "phuong-sai-gon"


def merge_plan(effective: date, *, extra: str = "", plan_id: str = "thu-sap-nhap", officers: str = "") -> str:
    """The two wards and their police merge; `officers`: the wards' merge's `officers:` (default: move)."""
    return f"""
id: {plan_id}
title: "Thử: sáp nhập Phường Tân Định và Phường Bến Thành"
legal_basis: "Nghị quyết thử số 1/NQ-TEST ngày 01/02/2026"
effective: {effective.isoformat()}
operations:
  - merge:
      into: {{id: {NEW}, name: Phường Tân Định Bến Thành, kind: phuong, agency_code: "169.00.70.H29",
              parent_id: thanh-pho-ho-chi-minh}}
      from: [{OLD_A}, {OLD_B}]{f"{chr(10)}      officers: {officers}" if officers else ""}
  - merge:
      into: {{id: {NEW_POLICE}, name: Công an phường Tân Định Bến Thành, kind: cong_an_xa,
              agency_code: "169.00.29.G01", parent_id: cong-an-thanh-pho, area_id: {NEW}}}
      from: [{POLICE_A}, {POLICE_B}]
{extra}"""


@pytest.fixture
def runtime(seeded_db: Database, clock: FixedClock, tmp_path: Path) -> Runtime:
    return Runtime(db=seeded_db, clock=clock, calendar=BusinessCalendar.vietnam(), hooks=[])


def account(rt: Runtime, username: str) -> Actor:
    with rt.db.read() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().one()
    return actor_from_row(dict(row))


def officer(rt: Runtime, username: str, unit: str, *roles: Role) -> Actor:
    with rt.db.transaction() as conn:
        create_user(
            conn,
            user_id=username,
            username=username,
            password=None,
            kind=ActorKind.OFFICER,
            full_name="Cán Bộ Thử",
            now=rt.clock.now(),
            unit_id=unit,
            roles=frozenset(roles),
        )
    return Actor(username, ActorKind.OFFICER, frozenset(roles), unit, "Cán Bộ Thử")


def example_form(rt: Runtime, code: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        form: dict[str, Any] = get_procedure(conn, code)["city"]["form_schema"]["examples"][0]
    return form


def file(rt: Runtime, citizen: Actor, code: str, unit: str) -> str:
    sub = dossier_service.Submission(code, unit, Channel.ONLINE, example_form(rt, code))
    return str(dossier_service.submit_dossier(rt, citizen, sub)["code"])


def row_of(rt: Runtime, code: str) -> Any:
    with rt.db.read() as conn:
        return conn.execute(select(dossiers).where(dossiers.c.code == code)).one()


def counts(rt: Runtime) -> tuple[int, int, int, int]:
    with rt.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(units)).scalar_one(),
            conn.execute(select(func.count()).select_from(dossier_events)).scalar_one(),
            conn.execute(select(func.count()).select_from(audit_log)).scalar_one(),
            conn.execute(select(func.count()).select_from(unit_lineage)).scalar_one(),
        )


@pytest.fixture
def city(runtime: Runtime) -> dict[str, Any]:
    """Dossiers at the two wards to merge (open, assigned, closed) and one at another ward."""
    rt = runtime
    citizen = account(rt, "congdan")
    receiver = officer(rt, "td.tiepnhan", OLD_A, Role.RECEIVER, Role.PROCESSOR, Role.UNIT_ADMIN)
    open_a = file(rt, citizen, KHAI_SINH, OLD_A)
    accepted_a = file(rt, citizen, KHAI_SINH, OLD_A)
    dossier_service.act(rt, receiver, accepted_a, Action.ACCEPT, {})
    dossier_service.act(rt, receiver, accepted_a, Action.ASSIGN, {"assignee_id": "td.tiepnhan"})
    withdrawn_a = file(rt, citizen, KHAI_SINH, OLD_A)
    dossier_service.act(rt, citizen, withdrawn_a, Action.WITHDRAW, {"reason": "Nộp nhầm"})
    land_b = file(rt, citizen, LAND, OLD_B)
    other = file(rt, citizen, KHAI_SINH, OTHER)
    return {
        "open": [open_a, accepted_a, land_b],
        "withdrawn": withdrawn_a,
        "other": other,
        "accepted": accepted_a,
        "land": land_b,
    }


def test_the_dry_run_reports_what_would_move_and_changes_nothing(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    before = counts(runtime)
    report = plan_report(runtime, parse_plan(merge_plan(runtime.clock.now().date())))
    assert counts(runtime) == before
    assert report["applied"] is False
    assert report["dossiers"]["moving"] == 3
    assert report["dossiers"]["by_unit_and_status"][OLD_A] == {
        "1": 1,
        "4": 1,
    }  # submitted; accepted then assigned (in process)
    assert report["dossiers"]["by_unit_and_status"][OLD_B] == {"1": 1}
    assert report["dossiers"]["closed_kept"][OLD_A] == 1
    assert {u["id"] for u in report["units"]["closing"]} == {OLD_A, OLD_B, POLICE_A, POLICE_B}
    assert {u["id"] for u in report["units"]["opening"]} == {NEW, NEW_POLICE}
    assert report["officers"]["by_unit"][OLD_A]["to"] == NEW
    assert [a["username"] for a in report["officers"]["by_unit"][OLD_A]["accounts"]] == ["td.tiepnhan"]
    assert report["officers"]["moving"] == 1 and report["officers"]["staying"] == 0


def test_a_merge_moves_the_open_dossiers_with_an_event_and_an_audit_entry(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    today = rt.clock.now().date()
    before = {code: row_of(rt, code) for code in [*city["open"], city["withdrawn"], city["other"]]}
    admin = account(rt, "tp.quantri")

    result = apply_plan(rt, admin, parse_plan(merge_plan(today)))

    assert result["changed"] is True and result["summary"]["moved"] == 3
    for code in city["open"]:
        old, new = before[code], row_of(rt, code)
        assert new.receiving_unit_id == NEW
        assert new.code == old.code and new.due_at == old.due_at and new.step_due_at == old.step_due_at
        assert new.state["legal_due_at"] == old.state["legal_due_at"]
        assert new.step_unit_id == NEW and new.version == old.version + 1
        with rt.db.read() as conn:
            assert dossier_service.replay_check(conn, code)
            history = dossier_service.history(conn, new.id)
            trail = audit_trail(conn, "dossier", code)
        assert history[-1].type is Action.REORGANIZE
        assert history[-1].data["plan"] == "thu-sap-nhap"
        assert trail[-1]["action"] == "dossier.reorganize" and trail[-1]["actor_id"] == admin.id
    # the assignee's account moved with the ward to the step's new unit: the dossier stays assigned to them
    assert row_of(rt, city["accepted"]).assignee_id == "td.tiepnhan"
    land = row_of(rt, city["land"])
    assert land.competent_unit_id == "so-nong-nghiep-va-moi-truong"  # the department did not close
    for code in (city["withdrawn"], city["other"]):  # closed dossiers and other units: untouched
        assert row_of(rt, code).version == before[code].version
        assert row_of(rt, code).receiving_unit_id == before[code].receiving_unit_id
    with rt.db.read() as conn:
        assert verify_audit(conn).ok
        past = directory(conn, today - timedelta(days=1))
        now = directory(conn, today)
    assert past.get(OLD_A).name == "Phường Tân Định" and OLD_A not in now
    assert now.get(NEW).predecessors == (OLD_B, OLD_A) or set(now.get(NEW).predecessors) == {OLD_A, OLD_B}
    assert now.get(NEW_POLICE).area_id == NEW


def test_the_successors_officers_see_and_handle_the_moved_dossiers(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))
    receiver = officer(rt, "tdbt.tiepnhan", NEW, Role.RECEIVER, Role.PROCESSOR)
    rt.clock.advance(timedelta(minutes=5))

    page, _ = dossier_service.list_dossiers(rt, receiver, queue="all")

    # the moved open dossiers, and the closed ward's archive (decision 0010: a successor reads it)
    assert {item["code"] for item in page} == {*city["open"], city["withdrawn"]}
    accepted = dossier_service.act(rt, receiver, city["open"][0], Action.ACCEPT, {})
    assert accepted["status"]["code"] == int(Status.ACCEPTED)
    with rt.db.read() as conn:
        assert dossier_service.replay_check(conn, city["open"][0])


def test_applying_twice_is_a_no_op(runtime: Runtime, city: dict[str, Any]) -> None:
    rt = runtime
    plan = parse_plan(merge_plan(rt.clock.now().date()))
    first = apply_plan(rt, account(rt, "tp.quantri"), plan)
    before = counts(rt)
    rt.clock.advance(timedelta(days=1))  # even on a later day: recognised by its SHA-256 before any check

    again = apply_plan(rt, account(rt, "tp.quantri"), plan)

    assert again["changed"] is False and again["summary"]["moved"] == first["summary"]["moved"]
    assert counts(rt) == before
    assert plan_report(rt, plan)["applied"] is True


def test_a_non_admin_and_a_bad_plan_change_nothing(runtime: Runtime, city: dict[str, Any]) -> None:
    rt = runtime
    today = rt.clock.now().date()
    before = counts(rt)
    with pytest.raises(Forbidden) as refused:
        apply_plan(rt, account(rt, "sg.quantri"), parse_plan(merge_plan(today)))
    assert refused.value.code == "reorg.city_admin_only"
    bad = merge_plan(today).replace(f"from: [{OLD_A}, {OLD_B}]", f"from: [{OLD_A}, phuong-khong-co]")
    with pytest.raises(InvalidInput) as invalid:
        apply_plan(rt, account(rt, "tp.quantri"), parse_plan(bad))
    assert invalid.value.code == "reorg.unknown_unit"
    assert invalid.value.details["path"] == "operations[0].merge.from[1]"
    dangling = merge_plan(today).split("  - merge:\n      into: {id: cong-an")[0]  # the police left behind
    with pytest.raises(InvalidInput) as left:
        apply_plan(rt, account(rt, "tp.quantri"), parse_plan(dangling))
    assert left.value.code == "reorg.dangling_reference"
    with pytest.raises(InvalidInput) as early:
        apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(today + timedelta(days=3))))
    assert early.value.code == "reorg.not_yet_effective"
    assert counts(rt) == before
    assert row_of(rt, city["open"][0]).receiving_unit_id == OLD_A


def test_a_procedure_reassignment_routes_new_submissions_and_survives_a_reload(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    extra = f"""  - reassign_procedures:
      - {{procedure: "{LAND}", competent: {{from: so-nong-nghiep-va-moi-truong, to: so-tai-chinh}}}}
"""
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date(), extra=extra)))
    rt.clock.advance(timedelta(minutes=1))
    citizen = account(rt, "congdan")

    filed = file(rt, citizen, LAND, OTHER)

    assert row_of(rt, filed).competent_unit_id == "so-tai-chinh"
    assert row_of(rt, city["land"]).competent_unit_id == "so-nong-nghiep-va-moi-truong"  # in flight: kept
    with pytest.raises(Exception) as closed:  # the closed ward receives nothing any more
        file(rt, citizen, KHAI_SINH, OLD_A)
    assert getattr(closed.value, "code", "") == "unit.not_found"

    rt.clock.advance(timedelta(days=1))
    setup_reference_data(rt.db, now=rt.clock.now())  # `motcua db setup` again: reloads units and the layer
    rt.forget_units()
    rt.forget_catalog()
    with rt.db.read() as conn:
        today = directory(conn, rt.clock.now().date())
        assert OLD_A not in today and NEW in today
    assert row_of(rt, file(rt, citizen, LAND, OTHER)).competent_unit_id == "so-tai-chinh"
    with rt.db.read() as conn:
        assert verify_audit(conn).ok


# ---------------------------------------------------------------- the command line


def test_the_cli_checks_then_applies_as_the_named_city_admin(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from motcua.cli.main import cli
    from motcua.domain.clock import SystemClock

    monkeypatch.setenv("MOTCUA_DATABASE_URL", seeded_db.engine.url.render_as_string(hide_password=False))
    plan = tmp_path / "plan.yaml"
    plan.write_text(merge_plan(SystemClock().now().date()), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(merge_plan(SystemClock().now().date()).replace(OLD_B, "phuong-khong-co"), encoding="utf-8")
    runner = CliRunner()

    checked = runner.invoke(cli, ["reorganize", "check", str(plan)])
    assert checked.exit_code == 0, checked.output
    assert (
        "đóng" in checked.output
        and NEW in checked.output
        and "Hồ sơ đang giải quyết sẽ chuyển: 0" in checked.output
    )

    refused = runner.invoke(cli, ["reorganize", "apply", str(plan), "--as", "sg.quantri"])
    assert refused.exit_code == 1 and "Lỗi [reorg.city_admin_only]" in refused.output
    invalid = runner.invoke(cli, ["reorganize", "check", str(bad)])
    assert invalid.exit_code == 1 and "Lỗi [reorg.unknown_unit]" in invalid.output
    assert "operations[0].merge.from[1]" in invalid.output

    applied = runner.invoke(cli, ["reorganize", "apply", str(plan), "--as", "tp.quantri"])
    assert applied.exit_code == 0, applied.output
    again = runner.invoke(cli, ["reorganize", "apply", str(plan), "--as", "tp.quantri"])
    assert again.exit_code == 0 and "không thay đổi gì" in again.output
    with seeded_db.read() as conn:
        assert NEW in directory(conn, SystemClock().now().date())


def test_the_moves_are_set_based_the_statements_do_not_grow_with_the_dossiers(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    """Moving 3 or 43 open dossiers runs the same statements (a commune moves thousands: measured 3,003 in
    0.6-0.75 s of CPU, 28-30 statements with the officers, bundles and document jobs — decision 0010)."""
    from sqlalchemy import event, insert

    rt = runtime
    template = row_of(rt, city["open"][0])
    with rt.db.transaction() as conn:
        history = conn.execute(select(dossier_events).where(dossier_events.c.dossier_id == template.id)).all()
        for n in range(40):
            values = {**template._asdict(), "code": f"{template.code[:-4]}{n + 100:04d}"}
            values["state"] = {**template.state, "code": values["code"]}
            del values["id"]
            new_id = conn.execute(insert(dossiers).values(values).returning(dossiers.c.id)).scalar_one()
            events = [{**e._asdict(), "dossier_id": new_id} for e in history]
            for e in events:  # the submission event names the code
                e["changes"] = (
                    {**e["changes"], "code": values["code"]} if "code" in e["changes"] else e["changes"]
                )
            conn.execute(insert(dossier_events), [{k: v for k, v in e.items() if k != "id"} for e in events])
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        result = apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)
    assert result["summary"]["moved"] == 43
    # not one round of statements per dossier (or officer, bundle, job): 28-30 in all, whatever their number
    assert len(statements) < 36
    with rt.db.read() as conn:
        assert verify_audit(conn).ok
        assert dossier_service.replay_check(conn, f"{template.code[:-4]}0139")


def test_other_processes_see_the_new_units_at_their_next_request(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    """No minute of staleness any more: the directory cache is keyed by the registry's version token (decision
    0010; more in test_reorganization_freshness.py)."""
    other = Runtime(db=runtime.db, clock=runtime.clock, hooks=[])  # another server process
    today = runtime.clock.now().date()
    with runtime.db.read() as conn:
        assert OLD_A in other.directory(conn, today)
    apply_plan(runtime, account(runtime, "tp.quantri"), parse_plan(merge_plan(today)))
    with runtime.db.read() as conn:
        assert OLD_A not in other.directory(conn, today) and NEW in other.directory(conn, today)
