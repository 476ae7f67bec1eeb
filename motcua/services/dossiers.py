"""Dossier use cases: submit, act, read, list and track — each in one transaction.

The engine (`motcua.domain.lifecycle`) decides; this module loads what it needs, stores the projection row
and the events in the same transaction as the audit entry, and refuses a concurrent change of the same
dossier (optimistic version check) instead of overwriting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from motcua.domain.calendar import classify
from motcua.domain.catalog import CityProcedure, OnlineLevel, SubmissionChannel
from motcua.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from motcua.domain.identifiers import format_dossier_code, parse_cccd, parse_dossier_code, parse_mst
from motcua.domain.lifecycle import (
    DESK_RECORDABLE,
    TERMINAL,
    Action,
    Actor,
    ActorKind,
    Channel,
    Command,
    Context,
    DossierState,
    Event,
    ProcedureTerms,
    Status,
    allowed_actions,
    decide,
    state_from_dict,
    state_to_dict,
    submit,
)
from motcua.domain.units import UnitDirectory
from motcua.domain.workflow import Role, Workflow
from motcua.services.audit import append_audit
from motcua.services.catalog import get_city_procedure
from motcua.services.files import attach, check_upload, dossier_file_list, store_file
from motcua.services.forms import validate_form
from motcua.services.hooks import EventContext
from motcua.services.identity import applicant_user_id, create_user, get_user
from motcua.services.outbox import enqueue
from motcua.services.runtime import Runtime
from motcua.store.schema.dossiers import dossier_counters, dossier_events, dossiers

CITY_UNIT_ID = "thanh-pho-ho-chi-minh"
# Dossiers closed without a result are not judged early / on time / late.
UNJUDGED = frozenset({Status.REJECTED, Status.WITHDRAWN, Status.STOPPED})
# Every status change is queued for the National Public Service Portal (sent by `motcua worker`).
NATIONAL_SYNC_TOPIC = "national_portal.status"
_CHANNEL_OFFER = {
    Channel.ONLINE: SubmissionChannel.ONLINE,
    Channel.DESK: SubmissionChannel.DESK,
    Channel.POST: SubmissionChannel.POST,
}


@dataclass(frozen=True)
class Submission:
    procedure_code: str
    receiving_unit_id: str
    channel: Channel
    form_data: Mapping[str, Any]
    applicant: Mapping[str, Any] | None = (
        None  # for desk / post / agent filings: full_name + personal_id|tax_code
    )
    accept_now: bool = True  # a desk filing is accepted at the desk in the same transaction


# ---------------------------------------------------------------- submit


def submit_dossier(rt: Runtime, actor: Actor, sub: Submission) -> dict[str, Any]:
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        units = rt.directory(conn, now.date())
        procedure = get_city_procedure(conn, sub.procedure_code, on=now.date())
        _check_channel(procedure, sub.channel)
        receiving = units.get(sub.receiving_unit_id)
        if receiving.kind.value not in procedure.receiving_kinds:
            raise InvalidInput(
                "dossier.wrong_receiving_unit",
                f"«{receiving.name}» không tiếp nhận thủ tục «{procedure.name}».",
            )
        if procedure.form_schema is None:
            raise InvalidInput("dossier.no_form", f"Thủ tục «{procedure.name}» chưa có biểu mẫu điện tử.")
        validate_form(procedure.form_schema, sub.form_data)
        applicant_id, applicant_name = _applicant(conn, rt, actor, sub, now)
        competent_id = _competent_unit(units, procedure, receiving.id)
        workflow = rt.workflows.latest(conn, procedure.workflow)
        ctx = _context(rt, units, workflow, receiving.id, competent_id)
        code = _next_code(conn, receiving.agency_code, now.date())
        terms = ProcedureTerms(procedure.code, procedure.time.amount, procedure.time.unit, procedure.cutoff)
        state, events = submit(
            ctx,
            code=code,
            terms=terms,
            channel=sub.channel,
            actor=actor,
            applicant_id=applicant_id,
            receiving_unit_id=receiving.id,
            competent_unit_id=competent_id,
            at=now,
            data={"procedure_version": procedure.version},
        )
        if sub.channel is Channel.DESK and sub.accept_now:
            state, more = decide(state, Command(Action.ACCEPT, actor, now), ctx)
            events += more
        dossier_id = _insert(conn, state, procedure, applicant_name, dict(sub.form_data), now)
        _record(conn, rt, dossier_id, state, events, actor, workflow.start.role, sub.form_data)
        return _view(conn, rt, units, workflow, dossier_id, actor)


def _check_channel(procedure: CityProcedure, channel: Channel) -> None:
    if channel is Channel.AGENT:
        return
    if channel is Channel.ONLINE and procedure.online is OnlineLevel.NONE:
        raise InvalidInput(
            "dossier.not_online", f"Thủ tục «{procedure.name}» chưa được cung cấp trực tuyến tại Thành phố."
        )
    if _CHANNEL_OFFER[channel] not in procedure.channels:
        raise InvalidInput(
            "dossier.channel_not_offered",
            f"Thủ tục «{procedure.name}» không nhận hồ sơ qua kênh {channel.label_vi}.",
        )


def _applicant(
    conn: Connection, rt: Runtime, actor: Actor, sub: Submission, now: datetime
) -> tuple[str, str]:
    """Who the dossier is for: the logged-in citizen online, or the person named by the desk/agent."""
    if sub.channel is Channel.ONLINE and actor.kind in (ActorKind.CITIZEN, ActorKind.BUSINESS):
        return actor.id, actor.name
    data = sub.applicant or {}
    name = " ".join(str(data.get("full_name") or "").split())
    if len(name) < 2:
        raise InvalidInput("applicant.name_required", "Cần họ tên người yêu cầu.")
    personal_id = str(data.get("personal_id") or "").strip() or None
    tax_code = str(data.get("tax_code") or "").strip() or None
    if personal_id:
        parse_cccd(personal_id, today=now.date())
    elif tax_code:
        tax_code = parse_mst(tax_code).normalized
    user_id = applicant_user_id(personal_id=personal_id, tax_code=tax_code)
    if get_user(conn, user_id) is None:
        create_user(
            conn,
            user_id=user_id,
            username=user_id,
            password=None,
            kind=ActorKind.CITIZEN if personal_id else ActorKind.BUSINESS,
            full_name=name,
            now=now,
            personal_id=personal_id,
            tax_code=tax_code,
            phone=str(data.get("phone") or "") or None,
        )
    return user_id, name


def _competent_unit(units: UnitDirectory, procedure: CityProcedure, receiving_id: str) -> str:
    competent = procedure.competent
    if competent == "receiving":
        return receiving_id
    selector = competent if competent.startswith("kind:") else f"unit:{competent}"
    return units.resolve(selector, receiving_id=receiving_id, competent_id=None).id


def _context(
    rt: Runtime, units: UnitDirectory, wf: Workflow, receiving_id: str, competent_id: str
) -> Context:
    def resolve(selector: str) -> str:
        return units.resolve(selector, receiving_id=receiving_id, competent_id=competent_id).id

    return Context(workflow=wf, calendar=rt.calendar, resolve_unit=resolve)


def _next_code(conn: Connection, agency_code: str, day: date) -> str:
    """Next daily sequence for the agency: an atomic upsert, serialised per (agency, day) row."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    insert = dialect_insert(dossier_counters).values(agency_code=agency_code, day=day, last_seq=1)
    stmt = insert.on_conflict_do_update(
        index_elements=[dossier_counters.c.agency_code, dossier_counters.c.day],
        set_={"last_seq": dossier_counters.c.last_seq + 1},
    ).returning(dossier_counters.c.last_seq)
    seq = int(conn.execute(stmt).scalar_one())
    return format_dossier_code(agency_code, day, seq)


def _row_values(state: DossierState) -> dict[str, Any]:
    return {
        "status": int(state.status),
        "step": state.step,
        "step_unit_id": state.step_unit_id,
        "assignee_id": state.assignee_id,
        "accepted_at": state.accepted_at,
        "due_at": state.due_at,
        "step_due_at": state.step_due_at,
        "resolved_at": state.resolved_at,
        "closed_at": state.closed_at,
        "outcome": state.outcome,
        "version": state.version,
        "state": state_to_dict(state),
    }


def _insert(
    conn: Connection,
    state: DossierState,
    procedure: CityProcedure,
    applicant_name: str,
    form_data: dict[str, Any],
    now: datetime,
) -> int:
    result = conn.execute(
        dossiers.insert().values(
            code=state.code,
            procedure_code=procedure.code,
            procedure_name=procedure.name,
            city_procedure_version=procedure.version or 1,
            workflow_id=state.workflow_id,
            workflow_version=state.workflow_version,
            channel=state.channel.value,
            applicant_id=state.applicant_id,
            applicant_name=applicant_name,
            submitted_by=state.submitted_by,
            receiving_unit_id=state.receiving_unit_id,
            competent_unit_id=state.competent_unit_id,
            submitted_at=state.submitted_at,
            form_data=form_data,
            updated_at=now,
            **_row_values(state),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _acting_role(actor: Actor, action: Action, step_role: Role) -> str:
    """The role an event was authorised under, for the audit log. Fix: all the actor's roles were joined,
    which overflowed the 32-character column for a many-role officer (a 500 on PostgreSQL)."""
    if actor.kind is not ActorKind.OFFICER:
        return actor.kind.value
    if action in DESK_RECORDABLE:
        return Role.RECEIVER.value
    if action is Action.ASSIGN and step_role not in actor.roles:
        return Role.UNIT_ADMIN.value
    return step_role.value


def _record(
    conn: Connection,
    rt: Runtime,
    dossier_id: int,
    state: DossierState,
    events: list[Event],
    actor: Actor,
    step_role: Role,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Append the events, one audit entry per event and the outbox jobs, then run the event hooks — all in the
    caller's transaction. `step_role` is the role of the step the dossier was at when the action was taken."""
    conn.execute(
        dossier_events.insert(),
        [
            {
                "dossier_id": dossier_id,
                "seq": e.seq,
                "type": e.type.value,
                "at": e.at,
                "actor_id": e.actor_id,
                "actor_kind": e.actor_kind.value,
                "actor_unit_id": e.actor_unit_id,
                "data": dict(e.data),
                "changes": dict(e.changes),
            }
            for e in events
        ],
    )
    for e in events:
        if "status" in e.changes:
            enqueue(
                conn,
                topic=NATIONAL_SYNC_TOPIC,
                key=state.code,
                payload={
                    "code": state.code,
                    "seq": e.seq,
                    "status": e.changes["status"],
                    "at": e.at.isoformat(),
                },
                now=e.at,
            )
        append_audit(
            conn,
            at=e.at,
            actor_id=e.actor_id,
            actor_role=_acting_role(actor, e.type, step_role),
            action=f"dossier.{e.type.value}",
            object_type="dossier",
            object_id=state.code,
            unit_id=e.actor_unit_id,
            data={"seq": e.seq, "status": int(state.status), "changes": dict(e.changes)},
        )
    for e in events:
        for hook in rt.hooks:
            hook(EventContext(conn, rt, dossier_id, state, e, actor, dict(payload or {})))


# ---------------------------------------------------------------- act


def act(
    rt: Runtime, actor: Actor, code: str, action: Action, payload: Mapping[str, Any], *, summary: bool = False
) -> dict[str, Any]:
    """Apply one action to a dossier; Conflict if someone changed it in between. `summary`: answer without
    form data, files and history (two queries and most of the response less; bench/README.md)."""
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        row = _load_row(conn, code, for_update=True)
        state = state_from_dict(row["state"])
        if not _can_read(conn, actor, row):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        units = rt.directory(conn, now.date())
        workflow = rt.workflows.get(conn, state.workflow_id, state.workflow_version)
        ctx = _context(rt, units, workflow, state.receiving_unit_id, state.competent_unit_id)
        new_state, events = decide(state, Command(action, actor, now, payload), ctx)
        if action is Action.ASSIGN:  # fix: checked before `decide`, so anyone learnt who may be assigned
            _check_assignee(conn, state, workflow, payload)
        changed = conn.execute(
            update(dossiers)
            .where(dossiers.c.id == row["id"], dossiers.c.version == state.version)
            .values(updated_at=now, **_row_values(new_state))
        ).rowcount
        if changed != 1:
            raise Conflict(
                "dossier.concurrent_update", "Hồ sơ vừa được người khác cập nhật; hãy tải lại và thử lại."
            )
        _record(conn, rt, row["id"], new_state, events, actor, workflow.step(state.step).role, payload)
        return _view(conn, rt, units, workflow, row["id"], actor, summary=summary)


def _check_assignee(conn: Connection, state: DossierState, wf: Workflow, payload: Mapping[str, Any]) -> None:
    user = get_user(conn, str(payload.get("assignee_id") or ""))
    role = wf.step(state.step).role
    if (
        user is None
        or user["kind"] != ActorKind.OFFICER.value
        or user["unit_id"] != state.step_unit_id
        or role.value not in (user["roles"] or [])
    ):
        raise InvalidInput(
            "dossier.bad_assignee",
            f"Cán bộ được phân công phải có vai trò {role.label_vi} của đơn vị đang xử lý.",
        )


def _load_row(conn: Connection, code: str, *, for_update: bool = False) -> dict[str, Any]:
    stmt = select(dossiers).where(dossiers.c.code == code.strip())
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
    return dict(row)


# ---------------------------------------------------------------- files


def add_file(
    rt: Runtime,
    actor: Actor,
    code: str,
    *,
    data: bytes,
    filename: str,
    label: str | None,
    kind: str = "upload",
) -> dict[str, Any]:
    """Attach an uploaded document to an open dossier (the applicant, or an officer of a unit handling it)."""
    if kind not in ("upload", "supplement", "result"):
        raise InvalidInput("file.bad_kind", "Loại tệp phải là upload, supplement hoặc result.")
    media_type = check_upload(data)
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        row = _load_row(conn, code, for_update=True)
        if not _can_read(conn, actor, row):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        if Status(row["status"]) in TERMINAL:
            raise Conflict("file.dossier_closed", "Hồ sơ đã kết thúc; không thể bổ sung tệp.")
        if kind == "result" and actor.kind is not ActorKind.OFFICER:
            raise Forbidden("file.result_by_officer", "Chỉ cán bộ xử lý mới được đính kèm kết quả.")
        stored = store_file(conn, rt.blobs, data, media_type=media_type, now=now)
        file_id = attach(
            conn,
            dossier_id=row["id"],
            stored=stored,
            kind=kind,
            name=filename or "tep-dinh-kem",
            label=label,
            added_by=actor.id,
            now=now,
        )
        append_audit(
            conn,
            at=now,
            actor_id=actor.id,
            actor_role=actor.kind.value,  # one short word: the column holds a role, not a list of roles
            action="dossier.file_added",
            object_type="dossier",
            object_id=row["code"],
            unit_id=actor.unit_id,
            data={"file_id": file_id, "sha256": stored.sha256, "kind": kind, "size": stored.size},
        )
        return {
            "id": file_id,
            "sha256": stored.sha256,
            "size": stored.size,
            "media_type": media_type,
            "kind": kind,
        }


def get_file(rt: Runtime, actor: Actor, code: str, file_id: int) -> tuple[bytes, dict[str, Any]]:
    """A dossier's file, for someone allowed to read the dossier (NotFound otherwise, to leak nothing)."""
    with rt.db.read() as conn:
        row = _load_row(conn, code)
        if not _can_read(conn, actor, row):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        meta = next((f for f in dossier_file_list(conn, row["id"]) if f["id"] == file_id), None)
    if meta is None:
        raise NotFound("file.not_found", "Không tìm thấy tệp.")
    return rt.blobs.get(meta["sha256"]), meta


# ---------------------------------------------------------------- read


def _is_city_wide(actor: Actor) -> bool:
    return actor.unit_id == CITY_UNIT_ID and bool(actor.roles & {Role.CITY_ADMIN, Role.MONITOR})


def _can_read(conn: Connection, actor: Actor, row: Mapping[str, Any]) -> bool:
    if actor.id in (row["applicant_id"], row["submitted_by"]):
        return True
    if actor.kind is not ActorKind.OFFICER:
        return False
    if _is_city_wide(actor):
        return True
    units = {row["receiving_unit_id"], row["competent_unit_id"], row["step_unit_id"]}
    if actor.unit_id in units:
        return True
    handled = conn.execute(
        select(dossier_events.c.id)
        .where(dossier_events.c.dossier_id == row["id"], dossier_events.c.actor_unit_id == actor.unit_id)
        .limit(1)
    ).first()
    return handled is not None


def get_dossier(rt: Runtime, actor: Actor, code: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        row = _load_row(conn, code)
        if not _can_read(conn, actor, row):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        units = rt.directory(conn, rt.clock.now().date())
        workflow = rt.workflows.get(conn, row["workflow_id"], row["workflow_version"])
        return _view(conn, rt, units, workflow, row["id"], actor)


def history(conn: Connection, dossier_id: int) -> list[Event]:
    rows = conn.execute(
        select(dossier_events).where(dossier_events.c.dossier_id == dossier_id).order_by(dossier_events.c.seq)
    ).mappings()
    return [
        Event(
            seq=r["seq"],
            type=Action(r["type"]),
            at=r["at"],
            actor_id=r["actor_id"],
            actor_kind=ActorKind(r["actor_kind"]),
            actor_unit_id=r["actor_unit_id"],
            data=r["data"],
            changes=r["changes"],
        )
        for r in rows
    ]


def _timeliness(rt: Runtime, state: DossierState) -> dict[str, str] | None:
    if state.due_at is None or state.status in UNJUDGED:
        return None
    t = classify(rt.calendar, state.legal_due_at or state.due_at, state.resolved_at, rt.clock.now())
    return {"code": t.value, "label": t.label_vi}


def _dates(state: DossierState) -> dict[str, str | None]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "submitted_at": iso(state.submitted_at),
        "accepted_at": iso(state.accepted_at),
        "due_at": iso(state.due_at),
        "legal_due_at": iso(state.legal_due_at or state.due_at),
        "resolved_at": iso(state.resolved_at),
        "returned_at": iso(state.returned_at),
        "closed_at": iso(state.closed_at),
    }


def _unit_ref(units: UnitDirectory, unit_id: str) -> dict[str, str]:
    if unit_id in units:
        unit = units.get(unit_id)
        return {"id": unit.id, "name": unit.name, "agency_code": unit.agency_code}
    return {"id": unit_id, "name": unit_id, "agency_code": ""}


def _view(
    conn: Connection,
    rt: Runtime,
    units: UnitDirectory,
    wf: Workflow,
    dossier_id: int,
    actor: Actor,
    *,
    summary: bool = False,
) -> dict[str, Any]:
    row = conn.execute(select(dossiers).where(dossiers.c.id == dossier_id)).mappings().one()
    state = state_from_dict(row["state"])
    ctx = _context(rt, units, wf, state.receiving_unit_id, state.competent_unit_id)
    step = wf.step(state.step)
    view = {
        "code": state.code,
        "procedure": {"code": row["procedure_code"], "name": row["procedure_name"]},
        "status": {"code": int(state.status), "label": state.status.label_vi},
        "channel": {"code": state.channel.value, "label": state.channel.label_vi},
        "applicant": {"id": state.applicant_id, "name": row["applicant_name"]},
        "receiving_unit": _unit_ref(units, state.receiving_unit_id),
        "competent_unit": _unit_ref(units, state.competent_unit_id),
        "step": {
            "id": step.id,
            "name": step.name,
            "role": step.role.value,
            "unit": _unit_ref(units, state.step_unit_id),
            "due_at": state.step_due_at.isoformat() if state.step_due_at else None,
            "assignee_id": state.assignee_id,
        },
        "workflow": {"id": wf.id, "version": wf.version},
        "legal_time": {"amount": str(state.time_amount), "unit": state.time_unit.value},
        "dates": _dates(state),
        "timeliness": _timeliness(rt, state),
        "outcome": state.outcome,
        "paused": state.paused_at is not None,
        "apologies": state.apologies,
        "form_data": row["form_data"],
        "files": None if summary else dossier_file_list(conn, dossier_id),
        "version": state.version,
        "allowed_actions": [a.value for a in allowed_actions(state, actor, ctx)],
        "history": [
            {
                "seq": e.seq,
                "type": e.type.value,
                "label": e.type.label_vi,
                "at": e.at.isoformat(),
                "actor_id": e.actor_id,
                "actor_unit_id": e.actor_unit_id,
                "data": e.data,
            }
            for e in history(conn, dossier_id)
        ]
        if not summary
        else None,
    }
    if summary:
        for heavy in ("form_data", "files", "history"):
            del view[heavy]
    return view


def list_dossiers(
    rt: Runtime,
    actor: Actor,
    *,
    queue: str = "all",
    status: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Citizens see their own dossiers; officers see queues of their unit."""
    where = _queue_filter(actor, queue)
    if status is not None:
        where = and_(where, dossiers.c.status == status)
    cols = [
        dossiers.c.code,
        dossiers.c.procedure_code,
        dossiers.c.procedure_name,
        dossiers.c.status,
        dossiers.c.step,
        dossiers.c.step_unit_id,
        dossiers.c.applicant_name,
        dossiers.c.submitted_at,
        dossiers.c.due_at,
        dossiers.c.step_due_at,
        dossiers.c.resolved_at,
    ]
    with rt.db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(dossiers).where(where)).scalar_one())
        rows = conn.execute(
            select(*cols)
            .where(where)
            .order_by(dossiers.c.due_at.is_(None), dossiers.c.due_at, dossiers.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        now = rt.clock.now()
        items = []
        for r in rows:
            timeliness = None
            if r["due_at"] is not None and r["status"] not in UNJUDGED:
                timeliness = classify(rt.calendar, r["due_at"], r["resolved_at"], now).value
            items.append(
                {
                    "code": r["code"],
                    "procedure": {"code": r["procedure_code"], "name": r["procedure_name"]},
                    "status": {"code": r["status"], "label": Status(r["status"]).label_vi},
                    "step": r["step"],
                    "step_unit_id": r["step_unit_id"],
                    "applicant_name": r["applicant_name"],
                    "submitted_at": r["submitted_at"].isoformat(),
                    "due_at": r["due_at"].isoformat() if r["due_at"] else None,
                    "step_due_at": r["step_due_at"].isoformat() if r["step_due_at"] else None,
                    "timeliness": timeliness,
                }
            )
    return items, total


def _queue_filter(actor: Actor, queue: str) -> Any:
    open_statuses = [int(s) for s in Status if s not in TERMINAL]
    if actor.kind is not ActorKind.OFFICER:
        return or_(dossiers.c.applicant_id == actor.id, dossiers.c.submitted_by == actor.id)
    if _is_city_wide(actor) and queue == "all":
        return dossiers.c.id.is_not(None)
    unit = actor.unit_id
    filters = {
        "new": and_(dossiers.c.receiving_unit_id == unit, dossiers.c.status == int(Status.SUBMITTED)),
        "unit": and_(dossiers.c.step_unit_id == unit, dossiers.c.status.in_(open_statuses)),
        "mine": and_(dossiers.c.assignee_id == actor.id, dossiers.c.status.in_(open_statuses)),
        "all": or_(
            dossiers.c.receiving_unit_id == unit,
            dossiers.c.competent_unit_id == unit,
            dossiers.c.step_unit_id == unit,
        ),
    }
    if queue not in filters:
        raise InvalidInput("dossier.bad_queue", "Hàng đợi phải là new, unit, mine hoặc all.")
    return filters[queue]


# ---------------------------------------------------------------- public tracking


def track(rt: Runtime, code: str) -> dict[str, Any]:
    """What anyone holding the dossier code may see: status and dates, no personal data."""
    parse_dossier_code(code.strip())
    with rt.db.read() as conn:
        # Only the columns shown: the whole row (form data, 28 columns) made most of a lookup's cost.
        columns = (dossiers.c.procedure_code, dossiers.c.procedure_name, dossiers.c.state)
        row = conn.execute(select(*columns).where(dossiers.c.code == code.strip())).mappings().first()
        if row is None:
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        state = state_from_dict(row["state"])
        units = rt.directory(conn, rt.clock.now().date())
        return {
            "code": state.code,
            "procedure": {"code": row["procedure_code"], "name": row["procedure_name"]},
            "status": {"code": int(state.status), "label": state.status.label_vi},
            "receiving_unit": _unit_ref(units, state.receiving_unit_id)["name"],
            "dates": _dates(state),
            "timeliness": _timeliness(rt, state),
            "paused": state.paused_at is not None,
        }


def replay_check(conn: Connection, code: str) -> bool:
    """True when the stored projection equals the fold of the event log (used by tests and `motcua`)."""
    from motcua.domain.lifecycle import replay

    row = _load_row(conn, code)
    return replay(history(conn, row["id"])) == state_from_dict(row["state"])


__all__ = [
    "Forbidden",
    "Submission",
    "act",
    "get_dossier",
    "list_dossiers",
    "replay_check",
    "submit_dossier",
    "track",
]
