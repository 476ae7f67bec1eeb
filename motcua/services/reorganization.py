"""Reorganisation plans (`motcua.domain.reorganization`): a dry-run report, and applying a plan in ONE transaction.

Applying a plan on its effective day stores, together: the new unit versions and successor links (closed
versions end that day and stay resolvable on earlier dates), the procedures' new competent units (new
city-layer versions, kept in `city_competent_overrides` so a reload of the layer does not undo them), every
open dossier of a closed unit moved to the successor — one `reorganize` event on its history and one audit
entry each, its code and deadlines unchanged —, an audit entry for the plan, and the plan itself with its
SHA-256 (`reorganizations`): applying the same file again changes nothing. Closed dossiers keep their units.
With them move: the closed units' officer accounts with their roles (`Plan.officer_moves`; an assignee whose
account moves to the dossier's new step unit stays assigned), the open linked-dossier bundles received there,
and the pending document jobs of that day signed in a closed unit's name (decision 0010 lists what stays).
The moves are set-based: one SELECT of the affected rows, one executemany UPDATE, one INSERT of the events, and
one INSERT of all their audit entries (`append_audit_many`) — not a round of statements per dossier.

Every process sees the plan at once, and nothing commits at a closed unit afterwards: the unit writes renew the
registry's version token (`units_version`), which each process's directory cache is keyed by and which every
dossier write checks in the statement that writes the row (`services/dossiers.py`). On PostgreSQL the apply holds
`dossiers` in EXCLUSIVE mode from before it reads the registry until it commits (`_hold_dossier_writes`): a
dossier write that began earlier ends first (and its dossier is then moved), one that comes later waits and its
statement sees the new token (it is rolled back and run again on the new directory). SQLite's writers are
serialised anyway.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from motcua.domain.catalog import CityProcedure
from motcua.domain.clock import to_vn
from motcua.domain.errors import Conflict, Forbidden, InvalidInput
from motcua.domain.lifecycle import TERMINAL, Actor, ActorKind, Status, state_from_dict, state_to_dict
from motcua.domain.reorganization import CheckedPlan, Plan, Reassignment, check_plan, move_dossier
from motcua.domain.workflow import Role
from motcua.services.audit import append_audit, append_audit_many
from motcua.services.catalog import city_row
from motcua.services.documents import DOCUMENTS_TOPIC
from motcua.services.identity import forget_actors
from motcua.services.runtime import Runtime
from motcua.services.units import add_lineage, directory, unit_as_dict, unit_attributes
from motcua.store.schema.catalog import city_procedures
from motcua.store.schema.dossiers import dossier_events, dossiers
from motcua.store.schema.identity import users
from motcua.store.schema.integrations import bundles
from motcua.store.schema.outbox import PENDING, outbox
from motcua.store.schema.reorganizations import (
    city_competent_overrides,
    reorganization_units,
    reorganizations,
)
from motcua.store.schema.units import units

OPEN_STATUSES = tuple(int(status) for status in Status if status not in TERMINAL)
_UNIT_COLUMNS = (dossiers.c.receiving_unit_id, dossiers.c.competent_unit_id, dossiers.c.step_unit_id)


def _city_admin(actor: Actor) -> None:
    if actor.kind is not ActorKind.OFFICER or Role.CITY_ADMIN not in actor.roles:
        raise Forbidden("reorg.city_admin_only", "Chỉ quản trị Thành phố mới được áp dụng phương án sắp xếp.")


# ---------------------------------------------------------------- the dry run


def plan_report(rt: Runtime, plan: Plan) -> dict[str, Any]:
    """What applying `plan` would do, as of now: unit versions closing and opening, lineage, procedures
    reassigned (explicitly or because their competent unit closes), the open dossiers that would move (per
    closed unit and status) and the closed ones that keep their units. Changes nothing. A plan already
    applied (same SHA-256) reports `applied: true` without checking it again."""
    today = rt.clock.now().date()
    with rt.db.read() as conn:
        applied = _applied(conn, plan)
        if applied is not None:
            return {"plan": _plan_header(plan), "applied": True, "summary": applied.summary}
        checked = _check(conn, plan, today)
        return {"plan": _plan_header(plan), "applied": False, **_report(conn, checked)}


def _plan_header(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "title": plan.title,
        "legal_basis": plan.legal_basis,
        "effective": plan.effective.isoformat(),
        "sha256": plan.sha256,
    }


def _applied(conn: Connection, plan: Plan) -> Any:
    """The stored row of a plan with this id: None if never applied; Conflict if applied with other content."""
    row = conn.execute(select(reorganizations).where(reorganizations.c.id == plan.id)).first()
    if row is not None and row.sha256 != plan.sha256:
        raise Conflict(
            "reorg.id_reused",
            f"Phương án «{plan.id}» đã được áp dụng ngày {row.applied_at:%d/%m/%Y} với nội dung khác; "
            "một phương án mới cần mã mới.",
        )
    return row


def _check(conn: Connection, plan: Plan, today: date) -> CheckedPlan:
    current = directory(conn, today)  # read afresh: never a cached directory for a plan
    known_ids = set(conn.scalars(select(units.c.id).distinct()))
    cp = city_procedures
    rows = conn.execute(select(cp.c.code, cp.c.data).where(cp.c.is_current.is_(True))).all()
    competent_of = {row.code: str(row.data["competent"]) for row in rows}
    return check_plan(plan, today=today, current=current, known_ids=known_ids, competent_of=competent_of)


def _affected(closing: list[str]) -> Any:
    return or_(*(column.in_(closing) for column in _UNIT_COLUMNS))


def _report(conn: Connection, checked: CheckedPlan) -> dict[str, Any]:
    plan = checked.plan
    successors = plan.successors
    closing = sorted(plan.closing)
    by_unit: dict[str, dict[str, int]] = {unit: {} for unit in closing}
    kept: dict[str, int] = dict.fromkeys(closing, 0)
    moving = 0
    if closing:
        query = (
            select(*_UNIT_COLUMNS, dossiers.c.status, func.count())
            .where(_affected(closing))
            .group_by(*_UNIT_COLUMNS, dossiers.c.status)
        )
        for receiving, competent, step, status, count in conn.execute(query):
            touched = {unit for unit in (receiving, competent, step) if unit in successors}
            if status in OPEN_STATUSES:
                moving += count
                for unit in touched:
                    by_unit[unit][str(status)] = by_unit[unit].get(str(status), 0) + count
            else:
                for unit in touched:
                    kept[unit] += count
    moves = plan.officer_moves
    accounts: dict[str, list[dict[str, Any]]] = {unit: [] for unit in closing}
    for row in _officers_of(conn, closing):
        accounts[row.unit_id].append(
            {
                "id": row.id,
                "username": row.username,
                "name": row.full_name,
                "active": bool(row.active),
                "roles": sorted(row.roles or []),
            }
        )
    return {
        "units": {
            "closing": [
                {
                    **unit_as_dict(unit),
                    "valid_to": plan.effective.isoformat(),
                    "successor": successors.get(unit.id),
                }
                for unit in checked.closing
            ],
            "opening": [unit_as_dict(unit) for unit in checked.opening],
            "lineage": [list(link) for link in plan.lineage],
        },
        "procedures": [
            {
                "code": ra.procedure,
                "from": ra.competent_from,
                "to": ra.competent_to,
                "implied": ra.path == "(kéo theo)",
            }
            for ra in checked.reassignments
        ],
        "dossiers": {"moving": moving, "by_unit_and_status": by_unit, "closed_kept": kept},
        "officers": {
            "moving": sum(len(accounts[unit]) for unit in closing if unit in moves),
            "staying": sum(len(accounts[unit]) for unit in closing if unit not in moves),
            "by_unit": {unit: {"to": moves.get(unit), "accounts": accounts[unit]} for unit in closing},
        },
        "bundles_moving": _count(conn, _open_bundles(closing)),
    }


def _officers_of(conn: Connection, closing: list[str], *, lock: bool = False) -> list[Any]:
    """The officer accounts (active or not) of the closing units, by unit then id."""
    query = (
        select(
            users.c.id, users.c.username, users.c.full_name, users.c.active, users.c.roles, users.c.unit_id
        )
        .where(users.c.unit_id.in_(closing), users.c.kind == ActorKind.OFFICER.value)
        .order_by(users.c.unit_id, users.c.id)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return list(conn.execute(query)) if closing else []


def _open_bundles(closing: list[str]) -> Any:
    return and_(bundles.c.status == "open", bundles.c.receiving_unit_id.in_(closing))


def _count(conn: Connection, where: Any) -> int:
    return int(conn.execute(select(func.count()).where(where)).scalar_one())


# ---------------------------------------------------------------- applying


def apply_plan(rt: Runtime, actor: Actor, plan: Plan) -> dict[str, Any]:
    """Apply `plan` on its effective day, in one transaction (see the module's docstring). Only the city
    administrator. Applying the same plan (same id, same SHA-256) again changes nothing: `changed: false`."""
    _city_admin(actor)
    now = rt.clock.now()
    today = now.date()
    with rt.db.transaction() as conn:
        applied = _applied(conn, plan)
        if applied is not None:
            return {"plan": _plan_header(plan), "applied": True, "changed": False, "summary": applied.summary}
        if plan.effective > today:
            raise InvalidInput(
                "reorg.not_yet_effective",
                f"Phương án có hiệu lực từ ngày {plan.effective:%d/%m/%Y}; chỉ áp dụng được vào đúng ngày đó.",
                path="effective",
            )
        _claim(conn, plan, actor, now)
        _hold_dossier_writes(conn)
        checked = _check(conn, plan, today)
        report = _report(conn, checked)
        _store_units(conn, checked)
        _reassign_procedures(conn, checked, actor, now)
        audits: list[dict[str, Any]] = []
        officers = _move_officers(conn, checked, actor, now, audits)
        moved = _move_dossiers(conn, checked, actor, now, officers, audits)
        bundles_moved = _move_bundles(conn, checked, actor, now, audits)
        jobs = _move_document_jobs(conn, checked)
        append_audit_many(conn, audits)  # the officers', dossiers' and bundles' entries: one statement
        summary = {
            **report,
            "moved": moved,
            "officers_moved": len(officers),
            "bundles_moved": bundles_moved,
            "document_jobs_moved": jobs,
        }
        conn.execute(update(reorganizations).where(reorganizations.c.id == plan.id).values(summary=summary))
        touched = {unit.id for unit in checked.opening} | set(plan.closing)
        conn.execute(
            insert(reorganization_units), [{"plan_id": plan.id, "unit_id": u} for u in sorted(touched)]
        )
        append_audit(
            conn,
            at=now,
            actor_id=actor.id,
            actor_role=Role.CITY_ADMIN.value,
            action="reorganization.applied",
            object_type="reorganization",
            object_id=plan.id,
            unit_id=actor.unit_id,
            data={
                "sha256": plan.sha256,
                "legal_basis": plan.legal_basis,
                "effective": plan.effective.isoformat(),
                "closed": sorted(plan.closing),
                "opened": [unit.id for unit in checked.opening],
                "procedures": [
                    [ra.procedure, ra.competent_from, ra.competent_to] for ra in checked.reassignments
                ],
                "dossiers_moved": moved,
                "officers_moved": len(officers),
                "bundles_moved": bundles_moved,
                "document_jobs_moved": jobs,
            },
        )
    forget_actors(
        officers
    )  # this process at once; other processes within ACTOR_CACHE_SECONDS (decision 0010)
    # This process at once; every other one by its next request (the `units_version` token: decision 0010).
    rt.forget_units()
    rt.forget_catalog()
    return {"plan": _plan_header(plan), "applied": True, "changed": True, "summary": summary}


# PostgreSQL: EXCLUSIVE conflicts with every dossier write (ROW EXCLUSIVE) and row lock (ROW SHARE), not with
# plain reads. A transaction that already holds a row lock on a dossier still gets its write through (PostgreSQL
# queues a request ahead of a waiter it conflicts with), so there is no deadlock with an action in flight. The
# wait for the lock is bounded: a long transaction on `dossiers` (an import) would otherwise hold every new
# submission queued behind the apply.
_HOLD_DOSSIER_WRITES = (
    "SET LOCAL lock_timeout = '{seconds}s'; LOCK TABLE dossiers IN EXCLUSIVE MODE; "
    "SET LOCAL lock_timeout TO DEFAULT"
)
HOLD_TIMEOUT_SECONDS = 10


def _hold_dossier_writes(conn: Connection) -> None:
    """Hold every other dossier write until this transaction ends (PostgreSQL; SQLite's writers are serialised):
    the writes that began before wait to be done (then the moves below see their dossiers), the later ones
    wait for the commit (then their statement reads the new `units_version` token and is refused)."""
    if conn.dialect.name != "postgresql":
        return
    try:
        conn.exec_driver_sql(_HOLD_DOSSIER_WRITES.format(seconds=HOLD_TIMEOUT_SECONDS))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise Conflict(
            "reorg.busy",
            f"Hồ sơ đang được ghi bởi một giao dịch dài (quá {HOLD_TIMEOUT_SECONDS} giây); "
            "phương án chưa được áp dụng, hãy thử lại sau ít phút.",
        ) from None


def _claim(conn: Connection, plan: Plan, actor: Actor, now: datetime) -> None:
    """Record the plan first: a concurrent apply of the same plan waits on this row, then fails cleanly."""
    try:
        conn.execute(
            insert(reorganizations).values(
                id=plan.id,
                sha256=plan.sha256,
                title=plan.title,
                legal_basis=plan.legal_basis,
                effective=plan.effective,
                applied_at=now,
                applied_by=actor.id,
                summary={},
            )
        )
    except IntegrityError:
        raise Conflict(
            "reorg.concurrent_apply", f"Phương án «{plan.id}» vừa được áp dụng bởi một phiên khác."
        ) from None


def _store_units(conn: Connection, checked: CheckedPlan) -> None:
    effective = checked.plan.effective
    for unit in checked.closing:
        if unit.valid_from >= effective:
            raise Conflict(
                "unit.version_conflict",
                f"Đơn vị «{unit.id}» có phiên bản bắt đầu từ {unit.valid_from}; không thể kết thúc nó ngày {effective}.",
                id=unit.id,
            )
    ended = [unit.id for unit in checked.closing]
    if ended:
        conn.execute(
            update(units).where(units.c.id.in_(ended), units.c.valid_to.is_(None)).values(valid_to=effective)
        )
    if checked.opening:
        conn.execute(
            insert(units),
            [
                {"id": unit.id, **unit_attributes(unit), "valid_from": effective, "valid_to": None}
                for unit in checked.opening
            ],
        )
    add_lineage(conn, ((before, after, effective, checked.plan.id) for before, after in checked.plan.lineage))


def _reassign_procedures(conn: Connection, checked: CheckedPlan, actor: Actor, now: datetime) -> None:
    plan = checked.plan
    for ra in checked.reassignments:
        version = _new_competent_version(conn, ra.procedure, ra.competent_to, plan.effective, now)
        _keep_override(conn, ra, plan.id, now)
        append_audit(
            conn,
            at=now,
            actor_id=actor.id,
            actor_role=Role.CITY_ADMIN.value,
            action="catalog.competent_changed",
            object_type="city_procedure",
            object_id=ra.procedure,
            unit_id=actor.unit_id,
            data={"from": ra.competent_from, "to": ra.competent_to, "version": version, "plan": plan.id},
        )


def _new_competent_version(
    conn: Connection, code: str, competent: str, valid_from: date, now: datetime
) -> int:
    """Close the current city-layer version of `code` and store the same entry with `competent` as the next."""
    cp = city_procedures
    query = select(cp).where(cp.c.code == code, cp.c.is_current.is_(True))
    row = conn.execute(query.with_for_update() if conn.dialect.name == "postgresql" else query).one()
    previous = CityProcedure.from_dict(row.data, version=row.version)
    starts = max(valid_from, row.valid_from)
    updated = dataclasses.replace(previous, competent=competent, valid_from=starts)
    version = int(conn.execute(select(func.max(cp.c.version)).where(cp.c.code == code)).scalar_one()) + 1
    conn.execute(update(cp).where(cp.c.row_id == row.row_id).values(is_current=False, valid_to=starts))
    conn.execute(cp.insert().values(city_row(updated, updated.content_hash(), version, starts, now)))
    return version


def _keep_override(conn: Connection, ra: Reassignment, plan_id: str, now: datetime) -> None:
    values = {"competent": ra.competent_to, "plan_id": plan_id, "set_at": now}
    table = city_competent_overrides
    if not conn.execute(update(table).where(table.c.code == ra.procedure).values(**values)).rowcount:
        conn.execute(insert(table).values(code=ra.procedure, **values))


def reapply_competent_overrides(conn: Connection, *, now: datetime) -> int:
    """After the city layer was (re)loaded from its data file: set again the competent units reorganisation
    plans set, where the current version differs. Returns how many new versions were stored."""
    cp = city_procedures
    applied = 0
    for override in conn.execute(select(city_competent_overrides)).all():
        row = conn.execute(
            select(cp.c.data).where(cp.c.code == override.code, cp.c.is_current.is_(True))
        ).first()
        if row is None or row.data["competent"] == override.competent:
            continue
        version = _new_competent_version(conn, override.code, override.competent, now.date(), now)
        append_audit(
            conn,
            at=now,
            actor_id="system",
            actor_role="system",
            action="catalog.competent_reapplied",
            object_type="city_procedure",
            object_id=override.code,
            unit_id=None,
            data={
                "from": row.data["competent"],
                "to": override.competent,
                "version": version,
                "plan": override.plan_id,
            },
        )
        applied += 1
    return applied


_MOVE_DOSSIER = update(dossiers).where(
    dossiers.c.id == bindparam("b_id"), dossiers.c.version == bindparam("b_version")
)  # SET: the columns named in each row's parameters


def _move_officers(
    conn: Connection, checked: CheckedPlan, actor: Actor, now: datetime, audits: list[dict[str, Any]]
) -> dict[str, str]:
    """The officer accounts of the closing units whose plan moves them → their new unit, roles unchanged (one
    executemany; rows locked on PostgreSQL), with one audit entry each appended to `audits`. Returns account
    id → new unit. Their tokens stay valid: a token's actor is read from the account (`actor_for_token`), so
    the next look-up after the cache has the new unit."""
    moves = checked.plan.officer_moves
    rows = _officers_of(conn, sorted(moves), lock=True)
    if not rows:
        return {}
    result = conn.execute(
        update(users)
        .where(users.c.id == bindparam("b_id"), users.c.unit_id == bindparam("b_from"))
        .values(unit_id=bindparam("b_to")),
        [{"b_id": row.id, "b_from": row.unit_id, "b_to": moves[row.unit_id]} for row in rows],
    )
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(rows):
        raise Conflict("reorg.concurrent_apply", "Tài khoản cán bộ vừa được thay đổi bởi một phiên khác.")
    for row in rows:
        audits.append(
            {
                "at": now,
                "actor_id": actor.id,
                "actor_role": Role.CITY_ADMIN.value,
                "action": "account.unit_changed",
                "object_type": "user",
                "object_id": row.id,
                "unit_id": actor.unit_id,
                "data": {
                    "from": row.unit_id,
                    "to": moves[row.unit_id],
                    "roles": sorted(row.roles or []),
                    "plan": checked.plan.id,
                },
            }
        )
    return {row.id: moves[row.unit_id] for row in rows}


def _move_bundles(
    conn: Connection, checked: CheckedPlan, actor: Actor, now: datetime, audits: list[dict[str, Any]]
) -> int:
    """Open linked-dossier bundles received at a closing unit → its successor: their waiting parts are filed
    relative to the bundle's receiving unit on the day they are advanced (`bundles._do_part`), which a closed
    unit could no longer resolve. Finished bundles keep their unit (history)."""
    successors = checked.plan.successors
    closing = sorted(successors)
    if not closing:
        return 0
    query = select(bundles.c.id, bundles.c.receiving_unit_id).where(_open_bundles(closing))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = conn.execute(query.order_by(bundles.c.id)).all()
    if not rows:
        return 0
    conn.execute(
        update(bundles)
        .where(bundles.c.id == bindparam("b_id"), bundles.c.receiving_unit_id == bindparam("b_from"))
        .values(receiving_unit_id=bindparam("b_to")),
        [
            {"b_id": r.id, "b_from": r.receiving_unit_id, "b_to": successors[r.receiving_unit_id]}
            for r in rows
        ],
    )
    audits.extend(
        {
            "at": now,
            "actor_id": actor.id,
            "actor_role": Role.CITY_ADMIN.value,
            "action": "bundle.reorganize",
            "object_type": "bundle",
            "object_id": r.id,
            "unit_id": actor.unit_id,
            "data": {
                "receiving_unit_id": [r.receiving_unit_id, successors[r.receiving_unit_id]],
                "plan": checked.plan.id,
            },
        }
        for r in rows
    )
    return len(rows)


def _move_document_jobs(conn: Connection, checked: CheckedPlan) -> int:
    """Pending document jobs to be signed in a closing unit's name for an event ON or after the effective day
    (e.g. a receipt of an online submission filed that morning, before the plan was applied) → the successor:
    the worker signs as the unit valid on the event's day (`documents._draft`), which the closed unit no longer
    is, so the job would die. Jobs of earlier events keep their unit: it was the legal unit that day."""
    plan = checked.plan
    successors = plan.successors
    if not successors:
        return 0
    query = select(outbox.c.id, outbox.c.payload).where(outbox.c.topic == DOCUMENTS_TOPIC, PENDING)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    changed = []
    for job_id, payload in conn.execute(query.order_by(outbox.c.id)):
        unit = payload.get("unit_id")
        if unit in successors and to_vn(datetime.fromisoformat(payload["at"])).date() >= plan.effective:
            changed.append({"b_id": job_id, "payload": {**payload, "unit_id": successors[unit]}})
    if changed:
        conn.execute(update(outbox).where(outbox.c.id == bindparam("b_id")), changed)
    return len(changed)


def _move_dossiers(
    conn: Connection,
    checked: CheckedPlan,
    actor: Actor,
    now: datetime,
    officers: dict[str, str],
    audits: list[dict[str, Any]],
) -> int:
    """Every open dossier with a closing unit → the successor: the rows (one executemany), their events (one
    insert); their audit entries are appended to `audits`. Rows are locked on PostgreSQL (SQLite's write
    transaction is exclusive). An assignee whose account moved to the new step unit stays assigned."""
    plan = checked.plan
    successors = plan.successors
    if not successors:
        return 0
    query = (
        select(dossiers.c.id, dossiers.c.code, dossiers.c.state)
        .where(and_(dossiers.c.status.in_(OPEN_STATUSES), _affected(sorted(successors))))
        .order_by(dossiers.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows, events = [], []
    for dossier_id, code, stored_state in conn.execute(query):
        state = state_from_dict(stored_state)
        moved = move_dossier(
            state,
            successors,
            plan_id=plan.id,
            legal_basis=plan.legal_basis,
            at=now,
            actor=actor,
            officers=officers,
        )
        if moved is None:  # pragma: no cover - the query selects only dossiers with a closing unit
            continue
        new_state, event = moved
        rows.append(
            {
                "b_id": dossier_id,
                "b_version": state.version,
                "receiving_unit_id": new_state.receiving_unit_id,
                "competent_unit_id": new_state.competent_unit_id,
                "step_unit_id": new_state.step_unit_id,
                "assignee_id": new_state.assignee_id,
                "version": new_state.version,
                "state": state_to_dict(new_state),
                "updated_at": now,
            }
        )
        events.append(
            {
                "dossier_id": dossier_id,
                "seq": event.seq,
                "type": event.type.value,
                "at": event.at,
                "actor_id": event.actor_id,
                "actor_kind": event.actor_kind.value,
                "actor_unit_id": event.actor_unit_id,
                "data": dict(event.data),
                "changes": dict(event.changes),
            }
        )
        audits.append(
            {
                "at": now,
                "actor_id": actor.id,
                "actor_role": Role.CITY_ADMIN.value,
                "action": f"dossier.{event.type.value}",
                "object_type": "dossier",
                "object_id": code,
                "unit_id": actor.unit_id,
                "data": {"seq": event.seq, "status": int(new_state.status), "changes": dict(event.changes)},
            }
        )
    if not rows:
        return 0
    result = conn.execute(_MOVE_DOSSIER, rows)
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(rows):
        raise Conflict("dossier.concurrent_update", "Hồ sơ vừa được người khác cập nhật; hãy áp dụng lại.")
    conn.execute(insert(dossier_events), events)
    return len(rows)


__all__ = ["apply_plan", "plan_report", "reapply_competent_overrides"]
