"""Dossier use cases: submit, act, read, list and track — each in one transaction.

The engine (`motcua.domain.lifecycle`) decides; this module loads what it needs, stores the projection row
and the events in the same transaction as the audit entry, and refuses a concurrent change of the same
dossier (optimistic version check) instead of overwriting it. On PostgreSQL an action's transaction is usually
its one writing statement (decision 0013: read unlocked, write if unchanged, else decide again locked).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from motcua.domain.calendar import classify
from motcua.domain.catalog import CityProcedure, OnlineLevel, SubmissionChannel
from motcua.domain.clock import to_vn
from motcua.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
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
from motcua.domain.units import Unit, UnitDirectory
from motcua.domain.workflow import Role, Workflow
from motcua.services.audit import (
    AUDIT_CTE_PREFIX,
    append_audit,
    audit_append_ctes,
    audit_cte_params,
    forget_audit_chains,
)
from motcua.services.files import attach, check_upload, dossier_file_list, store_file
from motcua.services.forms import validate_form
from motcua.services.hooks import QUEUE_ONLY_HOOKS, QUIET_HOOKS, EventContext, EventHook, QueuedJob
from motcua.services.identity import applicant_user_id, create_user, get_user
from motcua.services.outbox import enqueue
from motcua.services.runtime import Runtime, UnitsChanged
from motcua.services.runtime import units_token as current_units_token
from motcua.store.db import HotStatement
from motcua.store.schema.dossiers import OPEN_QUEUE_STATUSES, dossier_counters, dossier_events, dossiers
from motcua.store.schema.integrations import bundle_parts
from motcua.store.schema.outbox import outbox
from motcua.store.schema.units import unit_lineage
from motcua.store.schema.units import units as unit_table

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
    """File a dossier. Computed on this process's unit directory, which the statement writing the dossier checks
    is still current (`Runtime.check_units`): if a reorganisation committed meanwhile, nothing is written and the
    submission runs again on the new directory — so a closed unit is refused (`unit.not_found`, naming its
    successor) and never receives a dossier (decision 0010)."""
    return _again_on_new_units(rt, lambda: _submit(rt, actor, sub))


def _again_on_new_units(rt: Runtime, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run` (one transaction), and once more if it met a directory a reorganisation had replaced (the process
    forgot it, so the second run reads the new one). Inside a caller's transaction (a bundle) it cannot be
    rolled back alone: the caller runs it again."""
    joined = getattr(rt.db, "joins_a_transaction", False)
    try:
        return run()
    except UnitsChanged:
        if joined:
            raise
    except DomainError:
        # Refused on the cached directory (e.g. a ward it does not know yet): if a reorganisation has replaced
        # it meanwhile, the answer may differ on the new one (one read, on this error path only).
        if not rt.directory_replaced(rt.clock.now().date()):
            raise
        if joined:
            raise UnitsChanged() from None
    return run()


def _receiving_unit(conn: Connection, units: UnitDirectory, unit_id: str) -> Unit:
    """The receiving unit valid today; for a unit a reorganisation closed, `unit.not_found` names where to file."""
    if unit_id in units:
        return units.get(unit_id)
    successors = [unit for unit in units if unit_id in unit.predecessors]
    if not successors:
        return units.get(unit_id)  # the usual unit.not_found
    last = conn.execute(
        select(unit_table.c.name, unit_table.c.valid_to)
        .where(unit_table.c.id == unit_id)
        .order_by(unit_table.c.valid_from.desc())
        .limit(1)
    ).first()
    name = last.name if last is not None else unit_id
    since = f" từ ngày {last.valid_to:%d/%m/%Y}" if last is not None and last.valid_to else ""
    raise NotFound(
        "unit.not_found",
        f"«{name}» không còn tiếp nhận hồ sơ{since} (đã sắp xếp lại); vui lòng nộp hồ sơ tại "
        + " hoặc ".join(f"«{unit.name}»" for unit in successors)
        + ".",
        id=unit_id,
        successors=[unit.id for unit in successors],
    )


def _submit(rt: Runtime, actor: Actor, sub: Submission) -> dict[str, Any]:
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        units, units_token = rt.directory_to_write(conn, now.date())
        procedure = rt.city_procedure(conn, sub.procedure_code, now.date())  # cached for a few seconds
        _check_channel(procedure, sub.channel)
        receiving = _receiving_unit(conn, units, sub.receiving_unit_id)
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
        workflow = rt.latest_workflow(conn, procedure.workflow)
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
        form_data = dict(sub.form_data)
        new_row = _new_row(state, procedure, applicant_name, form_data, now)
        step_role = workflow.start.role
        if conn.dialect.name == "postgresql" and len(events) == 1:
            dossier_id, seen = _store_submission(conn, new_row, state, events[0], actor, step_role)
            rt.check_units(units_token, seen)
            _run_hooks(conn, rt, dossier_id, state, events, actor, sub.form_data)
        else:
            dossier_id = _insert_row(conn, new_row)
            rt.check_units(units_token, current_units_token(conn))  # after the write: see _store_submission
            _record(conn, rt, dossier_id, state, events, actor, step_role, sub.form_data)
        # The answer is built from what was just written (no re-read); the history of a new dossier is
        # exactly the events just appended, and it has no files yet (files are added to a submitted dossier;
        # the event hooks queue documents, they attach none in the submitting transaction).
        row = {
            "id": dossier_id,
            "procedure_code": procedure.code,
            "procedure_name": procedure.name,
            "applicant_name": applicant_name,
            "form_data": form_data,
        }
        return _view(conn, rt, units, workflow, row, state, actor, events=events, files=[])


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


def _next_code_statement(dialect_insert: Any) -> HotStatement:
    insert = dialect_insert(dossier_counters).values(
        agency_code=bindparam("agency_code"), day=bindparam("day"), last_seq=1
    )
    return HotStatement(
        insert.on_conflict_do_update(
            index_elements=[dossier_counters.c.agency_code, dossier_counters.c.day],
            set_={"last_seq": dossier_counters.c.last_seq + 1},
        ).returning(dossier_counters.c.last_seq)
    )


_NEXT_CODE = {
    "postgresql": _next_code_statement(postgresql.insert),
    "sqlite": _next_code_statement(sqlite.insert),
}


def _next_code(conn: Connection, agency_code: str, day: date) -> str:
    """Next daily sequence for the agency: an atomic upsert, serialised per (agency, day) row."""
    rows = _NEXT_CODE[conn.dialect.name].rows(conn, {"agency_code": agency_code, "day": day})
    return format_dossier_code(agency_code, day, int(rows[0][0]))


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


def _new_row(
    state: DossierState,
    procedure: CityProcedure,
    applicant_name: str,
    form_data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "code": state.code,
        "procedure_code": procedure.code,
        "procedure_name": procedure.name,
        "city_procedure_version": procedure.version or 1,
        "workflow_id": state.workflow_id,
        "workflow_version": state.workflow_version,
        "channel": state.channel.value,
        "applicant_id": state.applicant_id,
        "applicant_name": applicant_name,
        "submitted_by": state.submitted_by,
        "receiving_unit_id": state.receiving_unit_id,
        "competent_unit_id": state.competent_unit_id,
        "submitted_at": state.submitted_at,
        "form_data": form_data,
        "updated_at": now,
        **_row_values(state),
    }


_INSERT_DOSSIER = dossiers.insert()


def _insert_row(conn: Connection, row: dict[str, Any]) -> int:
    key = conn.execute(_INSERT_DOSSIER, row).inserted_primary_key
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
    _write_event_rows(conn, dossier_id, state, events, actor, step_role)
    _run_hooks(conn, rt, dossier_id, state, events, actor, payload)


def _write_event_rows(
    conn: Connection,
    dossier_id: int,
    state: DossierState,
    events: list[Event],
    actor: Actor,
    step_role: Role,
) -> None:
    rows = [_event_row(dossier_id, e) for e in events]
    conn.execute(dossier_events.insert(), rows[0] if len(rows) == 1 else rows)
    for e in events:
        if "status" in e.changes:
            enqueue(
                conn, topic=NATIONAL_SYNC_TOPIC, key=state.code, payload=_sync_payload(state, e), now=e.at
            )
        append_audit(conn, **_audit_entry(state, e, actor, step_role))


def _run_hooks(
    conn: Connection,
    rt: Runtime,
    dossier_id: int,
    state: DossierState,
    events: list[Event],
    actor: Actor,
    payload: Mapping[str, Any] | None,
    hooks: list[EventHook] | None = None,
) -> None:
    for e in events:
        for hook in rt.hooks if hooks is None else hooks:
            hook(EventContext(conn, rt, dossier_id, state, e, actor, dict(payload or {})))


def _fold_queue_only_hooks(rt: Runtime, ctx: EventContext) -> tuple[QueuedJob | None, list[EventHook]]:
    """For the one-statement write of one event: the outbox job of the first queue-only hook that has one for
    this event (`hooks.QUEUE_ONLY_HOOKS`; written by the statement itself), and the hooks still to run after
    it, in their order (every other hook, and the queue-only hooks whose job is not folded)."""
    folded: QueuedJob | None = None
    rest: list[EventHook] = []
    for hook in rt.hooks:
        plan = QUEUE_ONLY_HOOKS.get(hook)
        if plan is None:
            rest.append(hook)
            continue
        job = plan(ctx)
        if job is None:
            continue  # the hook would queue nothing for this event
        if folded is None:
            folded = job
        else:
            rest.append(hook)
    return folded, rest


# ---------------------------------------------------------------- act


def act(
    rt: Runtime, actor: Actor, code: str, action: Action, payload: Mapping[str, Any], *, summary: bool = False
) -> dict[str, Any]:
    """Apply one action to a dossier; Conflict if someone changed it in between. `summary`: answer without
    form data, files and history (two queries and most of the response less; bench/README.md). Like
    `submit_dossier`, run again if a reorganisation replaced the unit directory it was computed on."""
    return _again_on_new_units(rt, lambda: _act(rt, actor, code, action, payload, summary=summary))


@dataclass(frozen=True)
class _Decided:
    """An action decided on the dossier's row: what `_act` writes and answers from."""

    row: dict[str, Any]
    state: DossierState
    units: UnitDirectory
    units_token: str | None
    workflow: Workflow
    new_state: DossierState
    events: list[Event]
    step_role: Role


def _decide_on_row(
    conn: Connection,
    rt: Runtime,
    actor: Actor,
    code: str,
    action: Action,
    payload: Mapping[str, Any],
    now: datetime,
    *,
    summary: bool,
    lock: bool,
) -> _Decided:
    row = _load_row(conn, code, for_update=lock, without_form_data=summary, bundle_flag=True)
    if not row.pop("in_bundle"):  # read by this transaction, which did not submit the dossier
        from motcua.services.bundles import remember_not_part  # (the bundles use the dossier services)

        remember_not_part(conn, row["id"])
    state = state_from_dict(row["state"])
    if not _can_read(conn, actor, row, rt):
        raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
    units, units_token = rt.directory_to_write(conn, now.date())
    workflow = rt.workflows.get(conn, state.workflow_id, state.workflow_version)
    ctx = _context(rt, units, workflow, state.receiving_unit_id, state.competent_unit_id)
    new_state, events = decide(state, Command(action, actor, now, payload), ctx)
    if action is Action.ASSIGN:  # fix: checked before `decide`, so anyone learnt who may be assigned
        _check_assignee(conn, state, workflow, payload)
    step_role = workflow.step(state.step).role
    return _Decided(row, state, units, units_token, workflow, new_state, events, step_role)


def _act(
    rt: Runtime, actor: Actor, code: str, action: Action, payload: Mapping[str, Any], *, summary: bool
) -> dict[str, Any]:
    if _may_write_alone(rt):
        try:
            answer = _act_alone(rt, actor, code, action, payload, summary=summary)
        except DomainError:
            # Refused on what the unlocked read saw: a writer holding the row (another action, a
            # reorganisation moving the dossier) may change the answer, so it is given by the locked path —
            # which, after `UnitsChanged`, builds the new directory.
            answer = None
        if answer is not None:
            return answer
    return _act_in_transaction(rt, actor, code, action, payload, summary=summary)


def _may_write_alone(rt: Runtime) -> bool:
    """PostgreSQL, not inside a caller's transaction (a bundle's)."""
    return rt.db.dialect == "postgresql" and not getattr(rt.db, "joins_a_transaction", False)


def _act_alone(
    rt: Runtime, actor: Actor, code: str, action: Action, payload: Mapping[str, Any], *, summary: bool
) -> dict[str, Any] | None:
    """The action in two statements and no transaction (PostgreSQL, decision 0013): the row read without a lock,
    then ONE statement writing the row (if its version, the unit registry's token and the audit chain's head
    are still those the decision was made on), its event, outbox jobs and audit entry — atomic as any single
    statement, committed by itself. None when the action needs more than that statement (several events, a
    hook that writes, an audit entry that cannot be folded in) or the row changed since it was read: the caller
    then runs it in a transaction with the row locked, which waits for the other writer and decides again on
    what it wrote. A reorganisation committed in between raises `UnitsChanged` (nothing was written; the
    directory is forgotten)."""
    now = rt.clock.now()
    with rt.db.read_one() as conn:
        d = _decide_on_row(conn, rt, actor, code, action, payload, now, summary=summary, lock=False)
        if len(d.events) != 1:
            return None
        event = d.events[0]
        ctx = EventContext(conn, rt, d.row["id"], d.new_state, event, actor, dict(payload))
        job, hooks = _fold_queue_only_hooks(rt, ctx)
        if not all(hook in QUIET_HOOKS and QUIET_HOOKS[hook](ctx) for hook in hooks):
            return None
        entry = _audit_entry(d.new_state, event, actor, d.step_role)
        audit = audit_cte_params(conn, **entry, alone=True)
        if audit is None:
            return None
        params = _action_params(d.row["id"], d.state.version, d.new_state, event, audit, job, now)
        params["b_units_token"] = d.units_token
        written, _, audit_id, seen = _STORE_ACTION_ALONE.rows(conn, params)[0]
        rt.check_units(d.units_token, None if seen is None else str(seen))  # raises if they differ
        if written != 1:
            return None  # another action came first (or the audit heads are gone): decide again, locked
        if audit_id is None:  # the head was deleted after the statement saw it: record the entry at once
            with rt.db.transaction() as tx:
                forget_audit_chains(tx)
                append_audit(tx, **entry)
        # The answer comes from the state just written and the row already read; a full view's history stops
        # at this action (another may have committed since).
        return _view(
            conn, rt, d.units, d.workflow, d.row, d.new_state, actor, summary=summary, history_to=event.seq
        )


def _act_in_transaction(
    rt: Runtime, actor: Actor, code: str, action: Action, payload: Mapping[str, Any], *, summary: bool
) -> dict[str, Any]:
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        d = _decide_on_row(conn, rt, actor, code, action, payload, now, summary=summary, lock=True)
        row, state, new_state, events, units_token = d.row, d.state, d.new_state, d.events, d.units_token
        if conn.dialect.name == "postgresql" and len(events) == 1:
            job, hooks = _fold_queue_only_hooks(
                rt, EventContext(conn, rt, row["id"], new_state, events[0], actor, dict(payload))
            )
            seen = _store_action(
                conn, row["id"], state.version, new_state, events[0], actor, d.step_role, now, job
            )
            rt.check_units(units_token, seen)
            _run_hooks(conn, rt, row["id"], new_state, events, actor, payload, hooks)
        else:
            changed = conn.execute(
                _UPDATE_DOSSIER,
                {"b_id": row["id"], "b_version": state.version, "updated_at": now} | _row_values(new_state),
            ).rowcount
            if changed != 1:
                raise _concurrent_update()
            rt.check_units(units_token, current_units_token(conn))  # after the write: see _store_submission
            _record(conn, rt, row["id"], new_state, events, actor, d.step_role, payload)
        # The answer comes from the state just written and the row already loaded: no re-read.
        return _view(conn, rt, d.units, d.workflow, row, new_state, actor, summary=summary)


_UPDATE_DOSSIER = update(dossiers).where(
    dossiers.c.id == bindparam("b_id"), dossiers.c.version == bindparam("b_version")
)


def _concurrent_update() -> Conflict:
    return Conflict(
        "dossier.concurrent_update", "Hồ sơ vừa được người khác cập nhật; hãy tải lại và thử lại."
    )


def _event_row(dossier_id: int, e: Event) -> dict[str, Any]:
    return {
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


def _sync_payload(state: DossierState, e: Event) -> dict[str, Any]:
    return {"code": state.code, "seq": e.seq, "status": e.changes["status"], "at": e.at.isoformat()}


def _audit_entry(state: DossierState, e: Event, actor: Actor, step_role: Role) -> dict[str, Any]:
    return {
        "at": e.at,
        "actor_id": e.actor_id,
        "actor_role": _acting_role(actor, e.type, step_role),
        "action": f"dossier.{e.type.value}",
        "object_type": "dossier",
        "object_id": state.code,
        "unit_id": e.actor_unit_id,
        "data": {"seq": e.seq, "status": int(state.status), "changes": dict(e.changes)},
    }


# PostgreSQL, one event: the projection row (update with the version check, or insert of a new dossier), the
# event, its outbox job and its audit entry in ONE statement (four round trips → one). The event, the job and
# the audit entry are written only if the row was: `source` names the CTE returning the row's id. The statement
# also reads the unit registry's version token (`units_version`), for the caller to check against the token of
# the directory it computed with (`Runtime.check_units`; a one-row index read, no round trip of its own). Read
# in the statement that writes `dossiers`, it is airtight under READ COMMITTED: a reorganisation holds `dossiers`
# in EXCLUSIVE mode from before it changes the registry until it commits, so this statement either ran before
# that (the apply then waits for this transaction and moves its dossier) or waited for the lock and took its
# snapshot after the commit, seeing the new token (decision 0010).
_ROW_COLUMNS = (
    "status",
    "step",
    "step_unit_id",
    "assignee_id",
    "accepted_at",
    "due_at",
    "step_due_at",
    "resolved_at",
    "closed_at",
    "outcome",
    "version",
    "state",
    "updated_at",
)
_EVENT_COLUMNS = ("seq", "type", "at", "actor_id", "actor_kind", "actor_unit_id", "data", "changes")
_NEW_ROW_COLUMNS = (  # the keys of `_new_row`
    "code",
    "procedure_code",
    "procedure_name",
    "city_procedure_version",
    "workflow_id",
    "workflow_version",
    "channel",
    "applicant_id",
    "applicant_name",
    "submitted_by",
    "receiving_unit_id",
    "competent_unit_id",
    "submitted_at",
    "form_data",
    *_ROW_COLUMNS,
)


def _with_event_sql(source: str, row_cte: str) -> Any:
    audit_ctes, audit_binds = audit_append_ctes(guard=f"AND EXISTS (SELECT 1 FROM {source})")
    columns = _NEW_ROW_COLUMNS if source == "created" else _ROW_COLUMNS
    return text(
        f"""
    WITH {source} AS ({row_cte}
        RETURNING id
    ), event AS (
        INSERT INTO dossier_events (dossier_id, {", ".join(_EVENT_COLUMNS)})
        SELECT id, {", ".join(f":e_{c}" for c in _EVENT_COLUMNS)} FROM {source}
    ), job AS (
        INSERT INTO outbox (topic, key, payload, created_at, available_at, attempts)
        SELECT :o_topic, :o_key, :o_payload, :o_at, :o_at, 0 FROM {source} WHERE :o_enqueue
    ), hook_job AS (
        INSERT INTO outbox (topic, key, payload, created_at, available_at, attempts)
        SELECT :h_topic, :h_key, :h_payload, :o_at, :o_at, 0 FROM {source} WHERE :h_enqueue
    ), {audit_ctes}
    SELECT (SELECT count(*) FROM {source}) AS written, (SELECT id FROM {source}) AS id,
           (SELECT id FROM audit_stored) AS audit_id,
           (SELECT token FROM units_version WHERE id = 1) AS units_token
    """
    ).bindparams(
        *(bindparam(c, type_=dossiers.c[c].type) for c in columns),
        *(bindparam(f"e_{c}", type_=dossier_events.c[c].type) for c in ("at", "data", "changes")),
        bindparam("o_payload", type_=outbox.c.payload.type),
        bindparam("o_at", type_=outbox.c.created_at.type),
        bindparam("o_enqueue", type_=Boolean),
        bindparam("h_payload", type_=outbox.c.payload.type),
        bindparam("h_enqueue", type_=Boolean),
        *audit_binds,
    )


_STORE_ACTION = HotStatement(
    _with_event_sql(
        "changed",
        f"""
        UPDATE dossiers SET {", ".join(f"{c} = :{c}" for c in _ROW_COLUMNS)}
        WHERE id = :b_id AND version = :b_version""",
    )
)
# The same, written alone (autocommit, `_act_alone`): the row only if the unit registry's token is still the one
# the decision was made on (checked by the writing statement itself: it cannot be rolled back after) and its
# audit chain's head exists (so the row is never written without its entry).
_STORE_ACTION_ALONE = HotStatement(
    _with_event_sql(
        "changed",
        f"""
        UPDATE dossiers SET {", ".join(f"{c} = :{c}" for c in _ROW_COLUMNS)}
        WHERE id = :b_id AND version = :b_version
          AND (SELECT token FROM units_version WHERE id = 1) IS NOT DISTINCT FROM :b_units_token
          AND EXISTS (SELECT 1 FROM audit_heads WHERE chain = :{AUDIT_CTE_PREFIX}chain)""",
    )
)
_STORE_SUBMISSION = HotStatement(
    _with_event_sql(
        "created",
        f"""
        INSERT INTO dossiers ({", ".join(_NEW_ROW_COLUMNS)})
        VALUES ({", ".join(f":{c}" for c in _NEW_ROW_COLUMNS)})""",
    )
)


def _event_params(
    state: DossierState, e: Event, audit: Mapping[str, Any], job: QueuedJob | None = None
) -> dict[str, Any]:
    """`job`: a queue-only hook's outbox job, written by the same statement (`_fold_queue_only_hooks`)."""
    enqueue = "status" in e.changes
    params = {f"e_{c}": v for c, v in _event_row(0, e).items() if c != "dossier_id"}
    params.update(
        o_topic=NATIONAL_SYNC_TOPIC,
        o_key=state.code,
        o_payload=_sync_payload(state, e) if enqueue else {},
        o_at=e.at,
        o_enqueue=enqueue,
        h_topic=job[0] if job else "",
        h_key=job[1] if job else "",
        h_payload=job[2] if job else {},
        h_enqueue=job is not None,
    )
    params.update(audit)
    return params


def _action_params(
    dossier_id: int,
    old_version: int,
    state: DossierState,
    e: Event,
    audit: Mapping[str, Any],
    job: QueuedJob | None,
    now: datetime,
) -> dict[str, Any]:
    """The parameters of an action's one statement (`_STORE_ACTION`, `_STORE_ACTION_ALONE`)."""
    params: dict[str, Any] = {"b_id": dossier_id, "b_version": old_version, "updated_at": now}
    params.update(_row_values(state))
    params.update(_event_params(state, e, audit, job))
    return params


def _store_action(
    conn: Connection,
    dossier_id: int,
    old_version: int,
    state: DossierState,
    e: Event,
    actor: Actor,
    step_role: Role,
    now: datetime,
    job: QueuedJob | None = None,
) -> str | None:
    """Write one action's projection, event, outbox job and audit entry (PostgreSQL), and `job` (a queue-only
    hook's outbox job): one round trip, or the statements one by one when the audit entry cannot be folded in
    (see `audit_cte_params`). Returns the units version token as the writing statement saw it."""
    entry = _audit_entry(state, e, actor, step_role)
    audit = audit_cte_params(conn, **entry)
    if audit is None:
        changed = conn.execute(
            _UPDATE_DOSSIER,
            {"b_id": dossier_id, "b_version": old_version, "updated_at": now} | _row_values(state),
        ).rowcount
        if changed != 1:
            raise _concurrent_update()
        token = current_units_token(conn)  # after the write (see above)
        _write_event_rows(conn, dossier_id, state, [e], actor, step_role)
        if job is not None:
            enqueue(conn, topic=job[0], key=job[1], payload=job[2], now=e.at)
        return token
    params = _action_params(dossier_id, old_version, state, e, audit, job, now)
    written, _, audit_id, units_token = _STORE_ACTION.rows(conn, params)[0]
    if written != 1:
        raise _concurrent_update()
    if audit_id is None:  # the audit heads were recreated since their number was cached
        forget_audit_chains(conn)
        append_audit(conn, **entry)
    return None if units_token is None else str(units_token)


def _store_submission(
    conn: Connection, row: dict[str, Any], state: DossierState, e: Event, actor: Actor, step_role: Role
) -> tuple[int, str | None]:
    """Insert a new dossier with its first event, outbox job and audit entry (PostgreSQL, one round trip, or
    one by one when the audit entry cannot be folded in). Returns the dossier's id and the units version token
    as seen after writing the row (by the same statement, or by one after it: either has waited for a
    reorganisation holding `dossiers`, see `_with_event_sql`)."""
    entry = _audit_entry(state, e, actor, step_role)
    audit = audit_cte_params(conn, **entry)
    if audit is None:
        dossier_id = _insert_row(conn, row)
        token = current_units_token(conn)
        _write_event_rows(conn, dossier_id, state, [e], actor, step_role)
        return dossier_id, token
    _, dossier_id, audit_id, units_token = _STORE_SUBMISSION.rows(conn, row | _event_params(state, e, audit))[
        0
    ]
    if audit_id is None:  # the audit heads were recreated since their number was cached
        forget_audit_chains(conn)
        append_audit(conn, **entry)
    return int(dossier_id), None if units_token is None else str(units_token)


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


# What `act` needs for a summary answer: everything but the form data (the largest column).
_ACT_COLUMNS = tuple(c for c in dossiers.c if c.name != "form_data")
# Whether the dossier is a bundle part, read with `act`'s row so the gateway's event hook needs no query of its
# own to learn that it is not (`bundles.remember_not_part`; an index scan of `ix_bundle_parts_dossier`).
_IN_BUNDLE = exists().where(bundle_parts.c.dossier_id == dossiers.c.id).label("in_bundle")
# The row by code: built once per variant (whole row or without form data; FOR UPDATE or not; with the bundle
# flag or not), so each call only binds the code instead of building and hashing a new statement.
_LOAD_ROW = {
    (columns, lock, flag): HotStatement(stmt.with_for_update() if lock else stmt)
    for columns in (False, True)
    for lock in (False, True)
    for flag in (False, True)
    for stmt in [
        (select(*_ACT_COLUMNS) if columns else select(dossiers))
        .add_columns(*([_IN_BUNDLE] if flag else []))
        .where(dossiers.c.code == bindparam("code"))
    ]
}


def _load_row(
    conn: Connection,
    code: str,
    *,
    for_update: bool = False,
    without_form_data: bool = False,
    bundle_flag: bool = False,
) -> dict[str, Any]:
    """The dossier's row by code; FOR UPDATE on PostgreSQL when `for_update` (SQLite transactions are serial).
    `bundle_flag`: with `in_bundle`, whether the dossier is a bundle part."""
    lock = for_update and conn.dialect.name == "postgresql"
    stmt = _LOAD_ROW[(without_form_data, lock, bundle_flag)]
    rows = stmt.rows(conn, {"code": code.strip()})
    if not rows:
        raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
    return dict(zip(stmt.columns, rows[0], strict=True))


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
        if not _can_read(conn, actor, row, rt):
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
        if not _can_read(conn, actor, row, rt):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        meta = next((f for f in dossier_file_list(conn, row["id"]) if f["id"] == file_id), None)
    if meta is None:
        raise NotFound("file.not_found", "Không tìm thấy tệp.")
    return rt.blobs.get(meta["sha256"]), meta


# ---------------------------------------------------------------- read


def _is_city_wide(actor: Actor) -> bool:
    return actor.unit_id == CITY_UNIT_ID and bool(actor.roles & {Role.CITY_ADMIN, Role.MONITOR})


# A successor's archive (decision 0010): each open unit → every unit it succeeded, per directory (below).
_closures: weakref.WeakKeyDictionary[UnitDirectory, dict[str, tuple[str, ...]]] = weakref.WeakKeyDictionary()
_closures_lock = threading.Lock()


def unit_predecessors(conn: Connection | None, rt: Runtime, unit_id: str | None) -> tuple[str, ...]:
    """Every unit `unit_id` succeeded — the units merged into it or split to make it, and theirs in turn (a
    successor of a successor) —, sorted; () for a unit without predecessors (nearly all) or not in today's
    directory. Its officers read, list and search those units' dossiers: their archive (a reorganisation moves
    the open dossiers; the closed ones keep their units).

    From today's unit directory (`Runtime.cached_directory`, else `Runtime.directory`), so with its staleness: a
    plan applied by another process is seen by the next request that checks the registry's version token, and
    at the latest after UNITS_RECHECK_SECONDS (2 s); by the applying process at once. For a unit without predecessors
    that is a look-up in the cached directory, no query. A closed unit's own links are not in the directory
    (it holds today's units only), so the first look-up for a unit with predecessors reads `unit_lineage` (the
    links in effect on the directory's day: a few hundred rows at most) and computes every unit's set, kept with
    that directory object (weakly: dropped with it, so bounded like the runtime's directory cache and never
    older than it). `conn` None: a read of its own, only when the directory or the links must be read."""
    if not unit_id:
        return ()
    today = rt.clock.now().date()
    units = rt.cached_directory(today)
    if units is None:
        if conn is None:
            with rt.db.read() as own:
                return unit_predecessors(own, rt, unit_id)
        units = rt.directory(conn, today)
    if unit_id not in units or not units.get(unit_id).predecessors:
        return ()
    with _closures_lock:
        closure = _closures.get(units)
    if closure is None:
        if conn is None:
            with rt.db.read() as own:
                return unit_predecessors(own, rt, unit_id)
        links = conn.execute(
            select(unit_lineage.c.predecessor_id, unit_lineage.c.successor_id).where(
                unit_lineage.c.effective <= units.on
            )
        ).all()
        closure = _predecessor_closure(units, [(link[0], link[1]) for link in links])
        with _closures_lock:
            _closures[units] = closure
    return closure.get(unit_id, ())


def _predecessor_closure(
    units: Iterable[Unit], links: Sequence[tuple[str, str]]
) -> dict[str, tuple[str, ...]]:
    """Each unit of `units` with predecessors → all of them (sorted, the unit itself never), from the units' own
    links and `links` ((predecessor, successor) pairs, closed units' included), followed to the end."""
    units = list(units)
    direct: dict[str, set[str]] = {}
    for unit in units:
        direct.setdefault(unit.id, set()).update(unit.predecessors)
    for before, after in links:
        direct.setdefault(after, set()).add(before)
    closure: dict[str, tuple[str, ...]] = {}
    for unit in units:
        seen: set[str] = set()
        waiting = list(direct.get(unit.id, ()))
        while waiting:
            before = waiting.pop()
            if before not in seen and before != unit.id:
                seen.add(before)
                waiting.extend(direct.get(before, ()))
        if seen:
            closure[unit.id] = tuple(sorted(seen))
    return closure


def unit_is(column: Any, unit: str | None, predecessors: Sequence[str] = ()) -> Any:
    """`column = unit`, or for a successor `column IN (unit, its predecessors…)`: one search of the column's
    index either way, and for a unit without predecessors the very SQL it always had (plans, the bench)."""
    return column == unit if not predecessors else column.in_([unit, *predecessors])


def _archive_of(rt: Runtime, actor: Actor, queue: str) -> tuple[str, ...]:
    """The predecessors whose dossiers an officer's list also holds (`unit_predecessors`): a unit's "all" only
    — the other queues are of open dossiers, and a closed unit keeps none (the plan moved them)."""
    if actor.kind is not ActorKind.OFFICER or queue != "all" or _is_city_wide(actor):
        return ()
    return unit_predecessors(None, rt, actor.unit_id)


def _can_read(conn: Connection, actor: Actor, row: Mapping[str, Any], rt: Runtime) -> bool:
    """The applicant and who filed it; a city-wide administrator or monitor; an officer of a unit the dossier
    is at (receiving, competent, step) or of a (transitive) successor of one — the successor's archive,
    decision 0010 —; an officer of a unit that acted on it. Reading only: acting is the engine's decision."""
    if actor.id in (row["applicant_id"], row["submitted_by"]):
        return True
    if actor.kind is not ActorKind.OFFICER:
        return False
    if _is_city_wide(actor):
        return True
    units = {row["receiving_unit_id"], row["competent_unit_id"], row["step_unit_id"]}
    if actor.unit_id in units:
        return True
    if not units.isdisjoint(unit_predecessors(conn, rt, actor.unit_id)):
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
        if not _can_read(conn, actor, row, rt):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        units = rt.directory(conn, rt.clock.now().date())
        workflow = rt.workflows.get(conn, row["workflow_id"], row["workflow_version"])
        return _view(conn, rt, units, workflow, row, state_from_dict(row["state"]), actor)


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
    row: Mapping[str, Any],
    state: DossierState,
    actor: Actor,
    *,
    summary: bool = False,
    events: list[Event] | None = None,
    files: list[dict[str, Any]] | None = None,
    history_to: int | None = None,
) -> dict[str, Any]:
    """The dossier as its reader sees it, from its current `state` and the row's other columns (id, procedure
    code and name, applicant name; form data unless `summary`). `events` and `files`: the whole history and
    the file list when the caller knows them already (a new dossier), else they are read; `history_to`: the
    history read stops at that event."""
    dossier_id = row["id"]
    ctx = _context(rt, units, wf, state.receiving_unit_id, state.competent_unit_id)
    step = wf.step(state.step)
    view: dict[str, Any] = {
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
        "version": state.version,
        "allowed_actions": [a.value for a in allowed_actions(state, actor, ctx)],
    }
    if summary:
        return view
    view["form_data"] = row["form_data"]
    view["files"] = dossier_file_list(conn, dossier_id) if files is None else files
    view["history"] = [
        {
            "seq": e.seq,
            "type": e.type.value,
            "label": e.type.label_vi,
            "at": e.at.isoformat(),
            "actor_id": e.actor_id,
            "actor_unit_id": e.actor_unit_id,
            "data": dict(e.data),
        }
        for e in (history(conn, dossier_id) if events is None else events)
        if history_to is None or e.seq <= history_to
    ]
    return view


def list_dossiers(
    rt: Runtime,
    actor: Actor,
    *,
    queue: str = "all",
    status: int | None = None,
    limit: int = 50,
    offset: int = 0,
    procedure: str = "",
    search: str = "",
    sla: str = "",
    sort: str = "due",
) -> tuple[list[dict[str, Any]], int]:
    """Citizens see their own dossiers; officers see queues of their unit. Ordered by legal due date (none
    last), then id (`sort` "due"), or by submission, oldest ("submitted") or newest ("recent") first.
    Returns (page, total).

    Filters, as the officer's web queue has them (the same conditions: `workspace.QueueQuery`): `procedure` (a
    procedure code), `search` (`QueueQuery.text`: a part of a dossier code, of the applicant's name or personal
    ID, any case, with or without diacritics; `%` and `_` literal) and `sla` (overdue, due_today, within_time:
    the legal due date of running dossiers). A citizen's own list takes `search` (over their own dossiers
    only); the procedure and SLA filters are an officer's.

    An officer's queue "all" (every dossier of a unit, or of the city for a city-wide monitor or admin) is
    not counted exactly — at 10 million dossiers that is 0.2 s (a unit) to seconds (the city) per page. Its
    total is capped:
    `min(count, LIST_COUNT_CAP)`, so LIST_COUNT_CAP means "at least that many" (`total_is_capped`)."""
    from motcua.services import workspace  # it imports this module

    predecessors = _archive_of(rt, actor, queue)
    where = _queue_filter(actor, queue, predecessors)
    if status is not None:
        where = and_(where, dossiers.c.status == status)
    if sort not in workspace.SORTS:
        raise InvalidInput("dossier.bad_sort", "Cách sắp xếp phải là due, submitted hoặc recent.")
    if sla and sla not in workspace.SLA_BANDS:
        raise InvalidInput("dossier.bad_sla", "Mức hạn phải là overdue, due_today hoặc within_time.")
    if (procedure or sla) and actor.kind is not ActorKind.OFFICER:
        raise InvalidInput(
            "dossier.officer_filter",
            "Lọc theo thủ tục hoặc theo mức hạn chỉ dành cho cán bộ; "
            "danh sách hồ sơ của bạn chỉ lọc được theo mã hồ sơ hoặc tên người nộp.",
        )
    filters: list[Any] = []
    scoped = where
    query = workspace.QueueQuery(procedure=procedure.strip(), text=search, sla=sla)
    if procedure.strip() or search.strip() or sla:
        filters = workspace._other_filters(query, rt.clock.now(), _search_unit(actor, queue, predecessors))
        where = and_(where, *filters)
    # A city-wide search for a part of a name (`workspace.walked_page`, `workspace.city_text_count`).
    city_text = _search_unit(actor, queue, predecessors) == "" and workspace._part_pattern(search) is not None
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
    counts: list[Any] = []  # capped counts, in order: the first to reach the cap is the total
    if total_is_capped(actor, queue):
        if not _is_city_wide(actor) and not filters:
            # Counting the union of a unit's three arms reads the table row of every dossier counted (≈ 8 ms for
            # 10,000 on SQLite); those received at the unit alone are a range of its (unit, status) index. When
            # they reach the cap, so does the union (a superset): only otherwise is the union counted.
            first = unit_is(dossiers.c.receiving_unit_id, actor.unit_id, predecessors)
            if status is not None:
                first = and_(first, dossiers.c.status == status)
            counts.append(
                select(text("1")).select_from(dossiers).where(first).limit(LIST_COUNT_CAP).subquery()
            )
        # A constant per row, not the id: PostgreSQL may count from the index alone (an index-only scan).
        counts.append(select(text("1")).select_from(dossiers).where(where).limit(LIST_COUNT_CAP).subquery())
    with rt.db.read() as conn:
        searched = None
        if city_text and not procedure.strip() and not sla:
            with_status = None if status is None else dossiers.c.status == status
            searched = workspace.city_text_count(conn, search, LIST_COUNT_CAP, with_status)
        if searched is not None:
            total = searched
        elif counts:
            for counted in counts:
                total = int(conn.execute(select(func.count()).select_from(counted)).scalar_one())
                if total >= LIST_COUNT_CAP:
                    break
        else:
            total = int(conn.execute(select(func.count()).select_from(dossiers).where(where)).scalar_one())
        # The "all" lists: NULLS LAST (not a `due_at IS NULL` sort key), so the index on (due_at, id) serves the
        # order. The others (the open queues, an applicant's list) are few rows whose due dates are the latest,
        # at the far end of that index: the same order as a sort key, so they are sorted, not walked to (seconds).
        # A text search matches few rows: sorting them beats walking that index until a page of them is found
        # (the same order). The procedure and SLA filters keep a large list large.
        order = (
            workspace._order(sort, large=False, many=total >= LIST_COUNT_CAP)
            if sort != "due"
            else [dossiers.c.due_at.asc().nulls_last(), dossiers.c.id]
            if total_is_capped(actor, queue) and not search.strip()
            else [dossiers.c.due_at.is_(None), dossiers.c.due_at, dossiers.c.id]
        )
        rows: Any = None
        # A common part (its count reached the cap): its page walked for (`workspace.walked_page`).
        walk = city_text and total >= LIST_COUNT_CAP and sort == "due"
        if walk and offset + limit <= workspace.WALKED_PAGE_MAX:
            probing = and_(scoped, *workspace._other_filters(query, rt.clock.now(), None))
            walked = workspace.walked_page(conn, cols, probing, order, offset + limit, in_walk_order=True)
            if walked is not None:
                rows = [row._mapping for row in walked[offset:]]
        if rows is None:
            rows = conn.execute(
                select(*cols).where(where).order_by(*order).limit(limit).offset(offset)
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


LIST_COUNT_CAP = 10_001  # the city-wide list's total stops here ("more than 10,000")


def _search_unit(actor: Actor, queue: str, predecessors: Sequence[str] = ()) -> str | tuple[str, ...] | None:
    """Whose rows of `dossier_search` a text search of this list reads (`workspace._text_match`): the officer's
    unit for "new", "unit" and a unit's "all" (every dossier of those scopes has that unit's row) — for a
    successor's "all", the unit and its `predecessors` (a tuple: the archive's dossiers have their rows) —, ""
    (every unit's) for the city-wide "all", None for "mine" and a citizen's own list (each dossier probes the row
    of its current step unit, which it always has)."""
    if actor.kind is not ActorKind.OFFICER or queue == "mine":
        return None
    if queue == "all" and _is_city_wide(actor):
        return ""
    if queue == "all" and predecessors and actor.unit_id:
        return (actor.unit_id, *predecessors)
    return actor.unit_id


def total_is_capped(actor: Actor, queue: str) -> bool:
    """True for the lists whose total `list_dossiers` caps at LIST_COUNT_CAP: an officer's "all" (every dossier
    of the city, or of a unit: ≈ 100,000 for Phường Sài Gòn at 10 million, 212 ms to count exactly)."""
    return actor.kind is ActorKind.OFFICER and queue == "all"


# `status IN (the open ones)` written as constants, exactly as the partial indexes' predicates are: a partial
# index serves a query only when its WHERE visibly implies the predicate, and neither SQLite nor PostgreSQL's
# generic plans see through parameters (with `IN (?, …)` an officer's "mine" list scanned a commune's table).
_OPEN = dossiers.c.status.in_([literal_column(str(status)) for status in OPEN_QUEUE_STATUSES])


def _queue_filter(actor: Actor, queue: str, predecessors: Sequence[str] = ()) -> Any:
    """Which dossiers a list holds: a citizen's own; an officer's queue of their unit, or the city's "all" for
    a city-wide administrator or monitor. A successor's "all" also holds its `predecessors`' dossiers (their
    archive, `_archive_of`): each arm `column IN (unit, predecessors…)`, still one index search; without
    predecessors the same `column = unit` as always. The open queues never need them."""
    if actor.kind is not ActorKind.OFFICER:
        # The applicant's, or filed by them for someone else: the second arm is written as the predicate of
        # its partial index (`ix_dossiers_submitted_by_other`); a row filed by its applicant is in the first.
        return or_(
            dossiers.c.applicant_id == actor.id,
            and_(dossiers.c.submitted_by == actor.id, dossiers.c.submitted_by != dossiers.c.applicant_id),
        )
    if _is_city_wide(actor) and queue == "all":
        return dossiers.c.id.is_not(None)
    unit = actor.unit_id
    filters: dict[str, Callable[[], Any]] = {  # only the asked one is built
        "new": lambda: and_(dossiers.c.receiving_unit_id == unit, dossiers.c.status == int(Status.SUBMITTED)),
        "unit": lambda: and_(dossiers.c.step_unit_id == unit, _OPEN),
        "mine": lambda: and_(dossiers.c.assignee_id == actor.id, _OPEN),
        "all": lambda: unit_scope(unit, predecessors),
    }
    if queue not in filters:
        raise InvalidInput("dossier.bad_queue", "Hàng đợi phải là new, unit, mine hoặc all.")
    return filters[queue]()


def unit_scope(unit: str | None, predecessors: Sequence[str] = ()) -> Any:
    """Every dossier a unit received, is competent for or holds at a step — and, for a successor, those of its
    `predecessors` (`unit_is`). An OR of three arms, each one index search; the competent arm is written as the
    predicate of its partial index (`ix_dossiers_competent_unit_other`): the same rows."""
    return or_(
        unit_is(dossiers.c.receiving_unit_id, unit, predecessors),
        and_(
            unit_is(dossiers.c.competent_unit_id, unit, predecessors),
            dossiers.c.competent_unit_id != dossiers.c.receiving_unit_id,
        ),
        unit_is(dossiers.c.step_unit_id, unit, predecessors),
    )


# ---------------------------------------------------------------- public tracking


# Only the columns shown: the whole row (form data, 28 columns) made most of a lookup's cost. Built once.
_TRACK_QUERY = select(dossiers.c.procedure_code, dossiers.c.procedure_name, dossiers.c.state).where(
    dossiers.c.code == bindparam("code")
)

# The state fields the public answer is made of, in this order, as stored (encoded: the status number, the
# instants' ISO text). Nothing else of the state is read or decoded.
_TRACK_FIELDS = (
    "code",
    "status",
    "receiving_unit_id",
    "submitted_at",
    "accepted_at",
    "due_at",
    "legal_due_at",
    "resolved_at",
    "returned_at",
    "closed_at",
    "paused_at",
)


def track(rt: Runtime, code: str) -> dict[str, Any]:
    """What anyone holding the dossier code may see: status and dates, no personal data.

    One statement, so on PostgreSQL it runs without a transaction around it (`Database.read_one`)."""
    code = code.strip()
    parse_dossier_code(code)
    today = rt.clock.now().date()
    with rt.db.read_one() as conn:
        row = conn.execute(_TRACK_QUERY, {"code": code}).first()
        if row is None:
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        units = rt.directory(conn, today)  # cached per day: a query only on the first lookup of a day
    stored = row.state
    fields = [stored.get(name) for name in _TRACK_FIELDS]
    return _track_view(rt, units, row.procedure_code, row.procedure_name, fields)


# PostgreSQL picks the fields out of the stored jsonb in one pass (`jsonb_to_record`: the state is decompressed
# once; a `->>` per field would do it eleven times), so neither the whole state's text nor its JSON decoding
# reaches Python. asyncpg's placeholder (`Database.async_reader`).
_TRACK_SQL = (
    "SELECT d.procedure_code, d.procedure_name, s.* FROM dossiers d, jsonb_to_record(d.state) AS s("
    + ", ".join(f"{name} {'integer' if name == 'status' else 'text'}" for name in _TRACK_FIELDS)
    + ") WHERE d.code = $1"
)


async def track_async(rt: Runtime, code: str) -> dict[str, Any] | None:
    """`track` on the event loop, without a worker thread: on PostgreSQL (`Database.async_reader`), once
    today's units are cached, the lookup is one awaited statement. None when it cannot be answered that way
    (SQLite, or the first lookup of a day): then call `track` (in a thread)."""
    code = code.strip()
    parse_dossier_code(code)
    reader = rt.db.async_reader
    units = rt.cached_directory(rt.clock.now().date())
    if reader is None or units is None:
        return None
    row = await reader.fetchone(_TRACK_SQL, (code,))
    if row is None:
        raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
    return _track_view(rt, units, row[0], row[1], row[2:])


def _track_view(
    rt: Runtime,
    units: UnitDirectory,
    procedure_code: str,
    procedure_name: str,
    fields: Sequence[Any],
) -> dict[str, Any]:
    """The public answer from the `_TRACK_FIELDS` values as stored: the same answer as decoding the whole
    state (`state_from_dict`) and rendering it (`_dates`, `_timeliness`) — tests/api/test_track.py checks."""
    (
        dossier_code,
        status_code,
        receiving_unit_id,
        submitted_at,
        accepted_at,
        due_at,
        legal_due_at,
        resolved_at,
        returned_at,
        closed_at,
        paused_at,
    ) = fields
    status = Status(status_code)
    due = _vn_iso(due_at)
    legal_due = _vn_iso(legal_due_at) or due
    resolved = _vn_iso(resolved_at)
    timeliness = None
    if due is not None and status not in UNJUDGED:
        judged = classify(
            rt.calendar,
            datetime.fromisoformat(legal_due or due),
            datetime.fromisoformat(resolved) if resolved is not None else None,
            rt.clock.now(),
        )
        timeliness = {"code": judged.value, "label": judged.label_vi}
    return {
        "code": dossier_code,
        "procedure": {"code": procedure_code, "name": procedure_name},
        "status": {"code": int(status), "label": status.label_vi},
        "receiving_unit": _unit_ref(units, receiving_unit_id)["name"],
        "dates": {
            "submitted_at": _vn_iso(submitted_at),
            "accepted_at": _vn_iso(accepted_at),
            "due_at": due,
            "legal_due_at": legal_due,
            "resolved_at": resolved,
            "returned_at": _vn_iso(returned_at),
            "closed_at": _vn_iso(closed_at),
        },
        "timeliness": timeliness,
        "paused": paused_at is not None,
    }


# The form the engine stores an instant in: ISO 8601 in Vietnam's time, whole seconds or 6 digits of them.
_VN_ISO = re.compile(r"(19[89]\d|2\d{3})-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+07:00")


def _vn_iso(stored: str | None) -> str | None:
    """A stored instant as answers show it, `to_vn(datetime.fromisoformat(stored)).isoformat()`: the stored
    text itself when it is already that (the engine's form; +07:00 has been Vietnam's offset since 1975),
    else parsed and converted."""
    if stored is None:
        return None
    if _VN_ISO.fullmatch(stored) and not stored.endswith(".000000+07:00"):
        return stored
    return to_vn(datetime.fromisoformat(stored)).isoformat()


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
    "total_is_capped",
    "track",
    "track_async",
]
