"""The rest of what a reorganisation moves on the day (services/reorganization.py, decision 0010), on SQLite
and PostgreSQL: the closed units' officer accounts with their roles (their tokens follow them), open bundles,
the document jobs of that day; what stays (history) and what the triggers add for the successor; what the
national portal and the event hooks see; a concurrent apply of the same plan."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from motcua.domain.errors import Conflict
from motcua.domain.lifecycle import ActorKind, state_from_dict
from motcua.domain.reorganization import parse_plan
from motcua.domain.text import fold
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services import reorganization as reorg_service
from motcua.services.admin import set_online_level
from motcua.services.audit import audit_trail, verify_audit
from motcua.services.dossiers import NATIONAL_SYNC_TOPIC
from motcua.services.hooks import EventContext, default_hooks
from motcua.services.identity import actor_for_token, create_user, login
from motcua.services.outbox import Job, enqueue
from motcua.services.portal_sync import _status_sync
from motcua.services.reorganization import apply_plan, plan_report
from motcua.services.runtime import Runtime
from motcua.services.units import directory
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.identity import users
from motcua.store.schema.integrations import bundle_parts, bundles
from motcua.store.schema.online_overrides import city_online_overrides
from motcua.store.schema.outbox import outbox
from motcua.store.schema.unit_procedures import unit_procedures
from tests.services import test_reorganization as base
from tests.services.test_reorganization import (
    KHAI_SINH,
    LAND,
    NEW,
    OLD_A,
    OLD_B,
    account,
    merge_plan,
    officer,
    row_of,
)

runtime = base.runtime  # the fixtures: a runtime on a seeded database (both), the dossiers of the two wards
city = base.city

SPLIT_PART = "phuong-tan-dinh-bac"


def unit_of(rt: Runtime, user_id: str) -> Any:
    with rt.db.read() as conn:
        return conn.execute(select(users.c.unit_id, users.c.roles).where(users.c.id == user_id)).one()


def test_the_closed_wards_officers_move_with_their_roles_and_keep_their_dossiers(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    with rt.db.transaction() as conn:
        create_user(
            conn,
            user_id="bt.xuly",
            username="bt.xuly",
            password="mat-khau-thu-1",
            kind=ActorKind.OFFICER,
            full_name="Cán Bộ Bến Thành",
            now=rt.clock.now(),
            unit_id=OLD_B,
            roles=frozenset({Role.PROCESSOR, Role.UNIT_ADMIN}),
        )
        token = login(conn, username="bt.xuly", password="mat-khau-thu-1", now=rt.clock.now()).token
        assert actor_for_token(conn, token=token, now=rt.clock.now()).unit_id == OLD_B  # cached now
    officer(rt, "congan.td", "cong-an-phuong-tan-dinh", Role.PROCESSOR)
    report = plan_report(rt, parse_plan(merge_plan(rt.clock.now().date())))
    assert report["officers"]["moving"] == 3 and report["officers"]["by_unit"][OLD_B]["to"] == NEW

    result = apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))

    assert result["summary"]["officers_moved"] == 3
    assert unit_of(rt, "bt.xuly").unit_id == NEW
    assert sorted(unit_of(rt, "bt.xuly").roles) == ["processor", "unit_admin"]
    assert unit_of(rt, "td.tiepnhan").unit_id == NEW
    assert unit_of(rt, "congan.td").unit_id == "cong-an-phuong-moi"  # the police follow their own merge
    with rt.db.read() as conn:
        # the same token, no new login: its actor is read again with the new unit (this process at once)
        moved = actor_for_token(conn, token=token, now=rt.clock.now())
        trail = audit_trail(conn, "user", "bt.xuly")
        assert verify_audit(conn).ok
    assert moved.unit_id == NEW and Role.UNIT_ADMIN in moved.roles
    assert trail[-1]["action"] == "account.unit_changed"
    assert trail[-1]["data"]["from"] == OLD_B and trail[-1]["data"]["to"] == NEW
    rt.clock.advance(timedelta(minutes=1))
    # the moved unit admin manages the new ward; the assignee still has their dossier in "mine"
    page, _ = dossier_service.list_dossiers(rt, moved, queue="all")
    assert {item["code"] for item in page} == {*city["open"], city["withdrawn"]}  # with the archive
    mine, _ = dossier_service.list_dossiers(rt, account(rt, "td.tiepnhan"), queue="mine")
    assert [item["code"] for item in mine] == [city["accepted"]]


def test_officers_keep_leaves_the_accounts_on_the_closed_unit_and_clears_their_assignments(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    plan = parse_plan(merge_plan(rt.clock.now().date(), officers="keep"))
    report = plan_report(rt, plan)
    assert report["officers"]["by_unit"][OLD_A]["to"] is None and report["officers"]["staying"] == 1

    result = apply_plan(rt, account(rt, "tp.quantri"), plan)

    assert result["summary"]["officers_moved"] == 0
    assert unit_of(rt, "td.tiepnhan").unit_id == OLD_A
    assert row_of(rt, city["accepted"]).assignee_id is None  # their officer can no longer act on it


def test_a_split_moves_the_officers_to_the_part_it_names(runtime: Runtime, city: dict[str, Any]) -> None:
    rt = runtime
    text = f"""
id: thu-chia-tach
title: "Thử: chia tách Phường Tân Định"
legal_basis: "Nghị quyết thử số 2/NQ-TEST"
effective: {rt.clock.now().date().isoformat()}
operations:
  - split:
      unit: {OLD_A}
      into:
        - {OLD_B}
        - {{id: {SPLIT_PART}, name: Phường Tân Định Bắc, kind: phuong, agency_code: "170.00.70.H29",
            parent_id: thanh-pho-ho-chi-minh}}
      dossiers_to: {OLD_B}
      officers: {SPLIT_PART}
  - merge: {{into: cong-an-phuong-ben-thanh, from: [cong-an-phuong-tan-dinh]}}
"""
    result = apply_plan(rt, account(rt, "tp.quantri"), parse_plan(text))

    assert result["summary"]["officers_moved"] == 1
    assert unit_of(rt, "td.tiepnhan").unit_id == SPLIT_PART
    assert row_of(rt, city["accepted"]).step_unit_id == OLD_B
    assert row_of(rt, city["accepted"]).assignee_id is None  # their account went to the other part


# ---------------------------------------------------------------- other records naming a closed unit


def test_open_bundles_move_finished_ones_and_issued_history_stay(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        for bundle_id, status in (("b-mo", "open"), ("b-xong", "done")):
            conn.execute(
                insert(bundles).values(
                    id=bundle_id,
                    kind="birth",
                    applicant_id="congdan",
                    submitted_by="congdan",
                    receiving_unit_id=OLD_A,
                    request={},
                    status=status,
                    created_at=now,
                )
            )
        conn.execute(
            insert(bundle_parts).values(
                bundle_id="b-mo", key="bhyt", position=1, status="waiting", updated_at=now
            )
        )
    assert plan_report(rt, parse_plan(merge_plan(now.date())))["bundles_moving"] == 1

    result = apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(now.date())))

    assert result["summary"]["bundles_moved"] == 1
    with rt.db.read() as conn:
        moved = dict(conn.execute(select(bundles.c.id, bundles.c.receiving_unit_id)).all())
        trail = audit_trail(conn, "bundle", "b-mo")
        assert verify_audit(conn).ok
        # the waiting parts are filed relative to the bundle's receiving unit: it resolves today
        assert directory(conn, now.date()).get(moved["b-mo"]).id == NEW
    assert moved == {"b-mo": NEW, "b-xong": OLD_A}
    assert trail[-1]["action"] == "bundle.reorganize"


def test_document_jobs_of_the_effective_day_are_signed_by_the_successor_earlier_ones_by_their_unit(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    now = rt.clock.now()
    today = now.date()
    dossier_id = row_of(rt, city["open"][0]).id
    with rt.db.transaction() as conn:
        for at in (now - timedelta(days=1), now - timedelta(minutes=5)):  # yesterday; this morning
            payload = {"dossier_id": dossier_id, "kind": "bien-nhan", "unit_id": OLD_A, "actor_id": "congdan"}
            enqueue(
                conn,
                topic="documents.issue",
                key=city["open"][0],
                payload={**payload, "event_seq": 1, "at": at.isoformat()},
                now=at,
            )
    with rt.db.read() as conn:
        synced = conn.execute(select(outbox.c.payload).where(outbox.c.topic == NATIONAL_SYNC_TOPIC)).all()

    result = apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(today)))

    assert result["summary"]["document_jobs_moved"] == 1
    with rt.db.read() as conn:
        jobs = conn.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.id)).all()
        docs = [
            (payload["at"][:10], payload["unit_id"]) for topic, payload in jobs if topic == "documents.issue"
        ]
        # each signing unit resolves on its event's day: what the worker needs to sign
        for day, unit in docs:
            directory(conn, today if day == today.isoformat() else today - timedelta(days=1)).get(unit)
    assert [unit for _, unit in docs] == [OLD_A, NEW]
    # the status jobs name no unit (code, seq, status, instant): they are left as they were
    assert [(payload,) for topic, payload in jobs if topic == NATIONAL_SYNC_TOPIC] == [
        tuple(r) for r in synced
    ]


def test_the_successor_gets_the_moved_dossiers_procedures_and_name_search(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    with rt.db.read() as conn:
        assert not conn.execute(select(unit_procedures).where(unit_procedures.c.unit_id == NEW)).all()
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))
    receiver = officer(rt, "tdbt.tiepnhan", NEW, Role.RECEIVER, Role.PROCESSOR)
    rt.clock.advance(timedelta(minutes=1))

    with rt.db.read() as conn:
        pairs = conn.execute(
            select(unit_procedures.c.unit_id, unit_procedures.c.procedure_code).where(
                unit_procedures.c.unit_id.in_([NEW, OLD_A])
            )
        ).all()
        name = conn.execute(
            select(dossiers.c.applicant_name).where(dossiers.c.code == city["land"])
        ).scalar_one()
    assert {code for unit, code in pairs if unit == NEW} == {KHAI_SINH, LAND}
    assert (OLD_A, KHAI_SINH) in set(pairs)  # the former unit keeps its pairs (history: its closed dossiers)
    found, _ = dossier_service.list_dossiers(rt, receiver, queue="all", search=fold(name).upper())
    assert city["land"] in {item["code"] for item in found}
    filtered, _ = dossier_service.list_dossiers(rt, receiver, queue="all", procedure=LAND)
    assert [item["code"] for item in filtered] == [city["land"]]


def test_online_levels_are_per_procedure_and_survive_a_competent_change(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    admin = account(rt, "tp.quantri")
    set_online_level(rt, admin, LAND, "mot_phan")
    extra = f"""  - reassign_procedures:
      - {{procedure: "{LAND}", competent: {{from: so-nong-nghiep-va-moi-truong, to: so-tai-chinh}}}}
"""
    apply_plan(rt, admin, parse_plan(merge_plan(rt.clock.now().date(), extra=extra)))
    with rt.db.read() as conn:
        level = conn.execute(
            select(city_online_overrides.c.online).where(city_online_overrides.c.code == LAND)
        )
        assert level.scalar_one() == "mot_phan"
    from motcua.services.catalog import get_procedure

    with rt.db.read() as conn:
        entry = get_procedure(conn, LAND)["city"]
    assert entry["competent"] == "so-tai-chinh" and entry["online"] == "mot_phan"


# ---------------------------------------------------------------- the portal and the event hooks


def test_the_portal_receives_the_same_message_so_no_status_sync_is_queued(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    """The status sync carries the dossier's code, its agency-code prefix (kept: a legal reference),
    procedure, status and instant — not the handling unit: a move changes nothing the portal receives."""
    rt = runtime
    job = Job(id=0, topic=NATIONAL_SYNC_TOPIC, key="", payload={}, attempts=0)

    def message(code: str) -> dict[str, object]:
        payload = {"code": code, "seq": 1, "status": 1, "at": rt.clock.now().isoformat()}
        with rt.db.read() as conn:
            return _status_sync(conn, Job(**{**job.__dict__, "key": code, "payload": payload})).body()

    before = {code: message(code) for code in city["open"]}
    with rt.db.read() as conn:
        jobs_before = conn.execute(select(func.count()).select_from(outbox)).scalar_one()

    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))

    assert {code: message(code) for code in city["open"]} == before
    with rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == jobs_before


def test_reorganize_events_do_not_run_the_hooks_and_the_hooks_would_do_nothing(
    runtime: Runtime, city: dict[str, Any]
) -> None:
    rt = runtime
    seen: list[Any] = []
    rt.hooks.append(seen.append)
    apply_plan(rt, account(rt, "tp.quantri"), parse_plan(merge_plan(rt.clock.now().date())))
    assert seen == []  # a reorganisation is no step of the case: no document, bundle or prefill reacts

    def rows(conn: Any) -> tuple[int, ...]:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (outbox, bundles, bundle_parts)
        )

    with rt.db.transaction() as conn:  # guard: if a hook starts reacting to `reorganize`, decide again
        row = conn.execute(select(dossiers).where(dossiers.c.code == city["accepted"])).one()
        event = dossier_service.history(conn, row.id)[-1]
        before = rows(conn)
        for hook in default_hooks():
            hook(
                EventContext(
                    conn, rt, row.id, state_from_dict(row.state), event, account(rt, "tp.quantri"), {}
                )
            )
        assert rows(conn) == before


# ---------------------------------------------------------------- a concurrent apply


@pytest.mark.postgres
def test_a_concurrent_apply_of_the_same_plan_fails_cleanly(
    runtime: Runtime, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime
    if rt.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers are serialised: the second apply sees the first and is a no-op")
    plan = parse_plan(merge_plan(rt.clock.now().date()))
    admin = account(rt, "tp.quantri")
    first_claimed, second_started = threading.Event(), threading.Event()
    original = reorg_service._check

    def slow_check(conn: Any, plan: Any, today: Any) -> Any:
        if not first_claimed.is_set():  # the first apply: hold its claimed row until the second one waits
            first_claimed.set()
            second_started.wait(10)
            time.sleep(0.5)
        return original(conn, plan, today)

    monkeypatch.setattr(reorg_service, "_check", slow_check)
    results: dict[str, Any] = {}

    def first() -> None:
        results["first"] = apply_plan(rt, admin, plan)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_claimed.wait(10)
    second_started.set()
    with pytest.raises(Conflict) as second:
        apply_plan(rt, admin, plan)
    thread.join(10)

    assert second.value.code == "reorg.concurrent_apply" and second.value.kind == "conflict"
    assert results["first"]["changed"] is True and results["first"]["summary"]["moved"] == 3
    with rt.db.read() as conn:
        for code in city["open"]:
            types = [e.type.value for e in dossier_service.history(conn, row_of(rt, code).id)]
            assert types.count("reorganize") == 1
        assert verify_audit(conn).ok
