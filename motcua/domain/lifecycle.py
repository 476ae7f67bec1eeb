"""The dossier lifecycle engine: a pure function from (state, command, context) to (new state, events).

It never reads a clock or a database: the instant is in the command, the workflow, business calendar and
unit resolver are in the context. Each event carries the state fields it changed, so the current state is
the fold of the event log (`replay`), and an event log can always be checked against the stored projection.

The national statuses (DOMAIN.md §2.1) and which of them each action may start from are a table here; the
steps, roles, units and time shares come from the workflow data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import IntEnum, StrEnum
from fractions import Fraction
from typing import Any, Final, Protocol, TypeVar

from motcua.domain.catalog import TimeUnit
from motcua.domain.clock import VN_TZ, require_aware, to_vn
from motcua.domain.errors import Conflict, Forbidden, InvalidInput
from motcua.domain.workflow import Role, RouteAction, Step, StepAction, Workflow

_T = TypeVar("_T")

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover - without mypy's extensions (no dev tools) nothing is compiled

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[_T], _T]:
        return lambda thing: thing


Pause = tuple[datetime, datetime]


class Status(IntEnum):
    """National dossier statuses used to sync with the National Public Service Portal."""

    SUBMITTED = 1
    ACCEPTED = 2
    REJECTED = 3
    IN_PROCESS = 4
    SUPPLEMENT_REQUESTED = 5
    FEE_DUE = 6
    WITHDRAWN = 7
    STOPPED = 8
    RESOLVED = 9
    RETURNED = 10

    @property
    def label_vi(self) -> str:
        return STATUS_LABELS_VI[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


STATUS_LABELS_VI: Final = {
    Status.SUBMITTED: "Mới đăng ký",
    Status.ACCEPTED: "Được tiếp nhận",
    Status.REJECTED: "Không được tiếp nhận",
    Status.IN_PROCESS: "Đang xử lý",
    Status.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung giấy tờ",
    Status.FEE_DUE: "Yêu cầu thực hiện nghĩa vụ tài chính",
    Status.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.RESOLVED: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}
TERMINAL: Final = frozenset({Status.REJECTED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED})
PAUSED: Final = frozenset({Status.SUPPLEMENT_REQUESTED, Status.FEE_DUE})


class Action(StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    REFUSE_RECEPTION = "refuse_reception"
    ASSIGN = "assign"
    FORWARD = "forward"
    SEND_BACK = "send_back"
    REQUEST_SUPPLEMENT = "request_supplement"
    SUPPLEMENT = "supplement"
    REQUEST_FEE = "request_fee"
    PAY_FEE = "pay_fee"
    APPROVE = "approve"
    REFUSE = "refuse"
    ISSUE_RESULT = "issue_result"
    RETURN_RESULT = "return_result"
    WITHDRAW = "withdraw"
    STOP = "stop"
    APOLOGISE = "apologise"
    # Not a command: the event a reorganisation plan appends to the dossiers it moves (domain.reorganization).
    REORGANIZE = "reorganize"

    @property
    def label_vi(self) -> str:
        return ACTION_LABELS_VI[self]


ACTION_LABELS_VI: Final = {
    Action.SUBMIT: "Nộp hồ sơ",
    Action.ACCEPT: "Tiếp nhận hồ sơ",
    Action.REFUSE_RECEPTION: "Từ chối tiếp nhận",
    Action.ASSIGN: "Phân công xử lý",
    Action.FORWARD: "Chuyển bước tiếp theo",
    Action.SEND_BACK: "Trả lại bước trước",
    Action.REQUEST_SUPPLEMENT: "Yêu cầu bổ sung hồ sơ",
    Action.SUPPLEMENT: "Bổ sung hồ sơ",
    Action.REQUEST_FEE: "Yêu cầu nộp phí, lệ phí",
    Action.PAY_FEE: "Xác nhận đã nộp phí, lệ phí",
    Action.APPROVE: "Phê duyệt",
    Action.REFUSE: "Từ chối giải quyết",
    Action.ISSUE_RESULT: "Ban hành kết quả",
    Action.RETURN_RESULT: "Trả kết quả",
    Action.WITHDRAW: "Rút hồ sơ",
    Action.STOP: "Dừng xử lý",
    Action.APOLOGISE: "Xin lỗi và hẹn lại ngày trả kết quả",
    Action.REORGANIZE: "Chuyển đơn vị do sắp xếp tổ chức",
}

# Which statuses each action may start from (the national status machine).
ALLOWED_FROM: Final[Mapping[Action, frozenset[Status]]] = {
    Action.ACCEPT: frozenset({Status.SUBMITTED}),
    Action.REFUSE_RECEPTION: frozenset({Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED}),
    Action.ASSIGN: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.FORWARD: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.SEND_BACK: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.REQUEST_SUPPLEMENT: frozenset({Status.SUBMITTED, Status.ACCEPTED, Status.IN_PROCESS}),
    Action.SUPPLEMENT: frozenset({Status.SUPPLEMENT_REQUESTED}),
    Action.REQUEST_FEE: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.PAY_FEE: frozenset({Status.FEE_DUE}),
    Action.APPROVE: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.REFUSE: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.ISSUE_RESULT: frozenset({Status.ACCEPTED, Status.IN_PROCESS}),
    Action.RETURN_RESULT: frozenset({Status.RESOLVED}),
    Action.WITHDRAW: frozenset(
        {Status.SUBMITTED, Status.ACCEPTED, Status.IN_PROCESS, Status.SUPPLEMENT_REQUESTED, Status.FEE_DUE}
    ),
    Action.STOP: frozenset({Status.ACCEPTED, Status.IN_PROCESS, Status.SUPPLEMENT_REQUESTED, Status.FEE_DUE}),
    Action.APOLOGISE: frozenset(
        {Status.ACCEPTED, Status.IN_PROCESS, Status.SUPPLEMENT_REQUESTED, Status.FEE_DUE}
    ),
    Action.REORGANIZE: frozenset(),  # never a command: `decide` refuses it in every status
}

# Actions taken by the applicant (or the agent who filed for them) rather than by the step's officer.
APPLICANT_ACTIONS: Final = frozenset({Action.SUPPLEMENT, Action.PAY_FEE, Action.WITHDRAW})
# Applicant actions an officer at the receiving desk may also record (papers or payment brought in person).
DESK_RECORDABLE: Final = frozenset({Action.SUPPLEMENT, Action.PAY_FEE})


class Channel(StrEnum):
    ONLINE = "online"
    DESK = "desk"
    POST = "post"
    AGENT = "agent"

    @property
    def label_vi(self) -> str:
        return {
            "online": "Trực tuyến",
            "desk": "Trực tiếp",
            "post": "Dịch vụ bưu chính",
            "agent": "Qua nhân viên bưu điện",
        }[self.value]


class ReturnMethod(StrEnum):
    DESK = "desk"
    POST = "post"
    ONLINE = "online"


class ActorKind(StrEnum):
    CITIZEN = "citizen"
    BUSINESS = "business"
    OFFICER = "officer"
    AGENT = "agent"


# The enum members the hot path compares with or sets, as module globals. On Python 3.11 `Action.SUBMIT`
# goes through the enum metaclass (≈ 0.25 µs an access, against ≈ 0.02 µs for a global), and a transition
# made a dozen of them. (`Final`: compiled by mypyc, C statics instead of lookups in the module's dict.)
_SUBMIT: Final = Action.SUBMIT
_ASSIGN: Final = Action.ASSIGN
_REQUEST_SUPPLEMENT: Final = Action.REQUEST_SUPPLEMENT
_REFUSE_RECEPTION: Final = Action.REFUSE_RECEPTION
_SUBMITTED: Final = Status.SUBMITTED
_ACCEPTED: Final = Status.ACCEPTED
_IN_PROCESS: Final = Status.IN_PROCESS
_RESOLVED: Final = Status.RESOLVED
_RETURNED: Final = Status.RETURNED
_SUPPLEMENT_REQUESTED: Final = Status.SUPPLEMENT_REQUESTED
_OFFICER: Final = ActorKind.OFFICER
_CITIZEN: Final = ActorKind.CITIZEN
_BUSINESS: Final = ActorKind.BUSINESS
_AGENT: Final = ActorKind.AGENT
_ONLINE: Final = Channel.ONLINE
_AGENT_CHANNEL: Final = Channel.AGENT
_HOUR: Final = TimeUnit.HOUR
_CALENDAR_DAY: Final = TimeUnit.CALENDAR_DAY
_RECEIVER: Final = Role.RECEIVER
_UNIT_ADMIN: Final = Role.UNIT_ADMIN
_ROUTE_ACCEPT: Final = RouteAction.ACCEPT
_ROUTE_FORWARD: Final = RouteAction.FORWARD
_ROUTE_SEND_BACK: Final = RouteAction.SEND_BACK
_ROUTE_APPROVE: Final = RouteAction.APPROVE
_ROUTE_REFUSE: Final = RouteAction.REFUSE
_ROUTE_ISSUE_RESULT: Final = RouteAction.ISSUE_RESULT
_ROUTE_RETURN_RESULT: Final = RouteAction.RETURN_RESULT


@dataclass(frozen=True)
class Actor:
    id: str
    kind: ActorKind
    roles: frozenset[Role] = frozenset()
    unit_id: str | None = None
    name: str = ""

    def holds(self, role: Role, unit_id: str | None) -> bool:
        return self.kind is _OFFICER and role in self.roles and unit_id == self.unit_id


_NO_PAYLOAD: Final[Any] = object()  # `Command`'s default: a new empty dict


# Compiled with mypyc (`motcua.domain._build`), the three classes the hot path builds through their `__dict__`
# (`_new_state`, `_copy_with`, `_new_event`, `Command.__init__`) stay ordinary Python classes; everything else
# in the module is compiled. (`Final` module constants: C statics for mypyc, plain names for Python.)
@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class Command:
    action: Action
    actor: Actor
    at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __init__(
        self, action: Action, actor: Actor, at: datetime, payload: Mapping[str, Any] = _NO_PAYLOAD
    ) -> None:
        # The generated frozen `__init__` sets each field through `object.__setattr__` (≈ 1 µs a command,
        # a tenth of a transition); the same fields, stored straight into the instance's dict.
        fields = self.__dict__
        fields["action"] = action
        fields["actor"] = actor
        fields["at"] = at
        fields["payload"] = {} if payload is _NO_PAYLOAD else payload


class Calendar(Protocol):
    """What the engine needs from the business calendar (motcua.domain.calendar.BusinessCalendar)."""

    def start_instant(self, received: datetime, cutoff: time | None = None) -> datetime: ...
    def add_working_time(
        self, start: datetime, amount: timedelta, pauses: Sequence[Pause] = ()
    ) -> datetime: ...
    def working_time_between(self, a: datetime, b: datetime, pauses: Sequence[Pause] = ()) -> timedelta: ...
    def next_opening(self, instant: datetime) -> datetime: ...
    def due_calendar_days(self, start: datetime, days: int, pauses: Sequence[Pause] = ()) -> datetime: ...


UnitResolver = Callable[[str], str]
"""Maps a workflow unit selector to a unit id, for one dossier (its receiving and competent units are bound)."""


@dataclass(frozen=True)
class ProcedureTerms:
    """The legal terms a dossier is processed under, fixed at submission."""

    code: str
    time_amount: Fraction
    time_unit: TimeUnit
    cutoff: time | None = None

    @property
    def legal_hours(self) -> Fraction:
        """The legal time in working hours (8 h per working day)."""
        return self.time_amount if self.time_unit is _HOUR else self.time_amount * 8

    @property
    def legal_working_time(self) -> timedelta:
        return _hours(self.legal_hours)


def _hours(amount: Fraction) -> timedelta:
    return timedelta(seconds=int(amount * 3600))


@dataclass(frozen=True)
class Context:
    workflow: Workflow
    calendar: Calendar
    resolve_unit: UnitResolver


@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class DossierState:
    code: str
    procedure_code: str
    workflow_id: str
    workflow_version: int
    channel: Channel
    applicant_id: str
    submitted_by: str
    receiving_unit_id: str
    competent_unit_id: str
    time_amount: Fraction
    time_unit: TimeUnit
    cutoff: time | None
    status: Status
    step: str
    step_unit_id: str
    submitted_at: datetime
    step_entered_at: datetime
    version: int = 1
    assignee_id: str | None = None
    accepted_at: datetime | None = None
    clock_start: datetime | None = None
    due_at: datetime | None = None
    step_due_at: datetime | None = None
    paused_at: datetime | None = None
    resume_status: Status | None = None
    pauses: tuple[Pause, ...] = ()
    supplement_requests: int = 0
    outcome: str | None = None
    resolved_at: datetime | None = None
    returned_at: datetime | None = None
    closed_at: datetime | None = None
    apologies: int = 0
    last_event_at: datetime | None = None
    # The legal deadline (acceptance + the legal term + pauses). `due_at` is the appointment the citizen holds:
    # equal to it until an apology sets a later date. Timeliness for reports is judged on the legal deadline.
    legal_due_at: datetime | None = None

    @property
    def terms(self) -> ProcedureTerms:
        return ProcedureTerms(self.procedure_code, self.time_amount, self.time_unit, self.cutoff)


@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class Event:
    """One fact in a dossier's history: what happened, who did it, when, and the state fields it changed."""

    seq: int
    type: Action
    at: datetime
    actor_id: str
    actor_kind: ActorKind
    actor_unit_id: str | None
    data: Mapping[str, Any]
    changes: Mapping[str, Any]


# ---------------------------------------------------------------- opening a dossier


def submit(
    ctx: Context,
    *,
    code: str,
    terms: ProcedureTerms,
    channel: Channel,
    actor: Actor,
    applicant_id: str,
    receiving_unit_id: str,
    competent_unit_id: str,
    at: datetime,
    data: Mapping[str, Any] | None = None,
) -> tuple[DossierState, list[Event]]:
    """Open a dossier at its workflow's reception step; the legal clock has not started yet."""
    if type(at) is not datetime or at.tzinfo is not VN_TZ:
        at = to_vn(require_aware(at))
    _check_submitter(actor, channel, applicant_id, receiving_unit_id)
    workflow = ctx.workflow
    start = workflow.steps[0]
    values: dict[str, Any] = {
        "code": code,
        "procedure_code": terms.code,
        "workflow_id": workflow.id,
        "workflow_version": workflow.version,
        "channel": channel,
        "applicant_id": applicant_id,
        "submitted_by": actor.id,
        "receiving_unit_id": receiving_unit_id,
        "competent_unit_id": competent_unit_id,
        "time_amount": terms.time_amount,
        "time_unit": terms.time_unit,
        "cutoff": terms.cutoff,
        "status": _SUBMITTED,
        "step": start.id,
        "step_unit_id": ctx.resolve_unit(start.unit),
        "submitted_at": at,
        "step_entered_at": at,
        "last_event_at": at,
    }
    state = _new_state(values)
    event = _new_event(
        1,
        _SUBMIT,
        at,
        actor.id,
        actor.kind,
        actor.unit_id,
        {} if data is None else dict(data),
        _opening_changes(values, at),  # = state_to_dict(state)
    )
    return state, [event]


def _check_submitter(actor: Actor, channel: Channel, applicant_id: str, receiving_unit_id: str) -> None:
    if channel is _ONLINE and actor.kind in (_CITIZEN, _BUSINESS):
        if actor.id != applicant_id:
            raise Forbidden(
                "dossier.not_applicant", "Chỉ người yêu cầu mới được nộp hồ sơ trực tuyến của mình."
            )
        return
    if channel is _AGENT_CHANNEL and actor.kind is _AGENT:
        return
    if channel in (Channel.DESK, Channel.POST) and actor.holds(_RECEIVER, receiving_unit_id):
        return
    raise Forbidden(
        "dossier.submit_forbidden",
        f"Người dùng không được nộp hồ sơ qua kênh {channel.label_vi} tại đơn vị này.",
    )


# ---------------------------------------------------------------- acting on a dossier


def decide(state: DossierState, command: Command, ctx: Context) -> tuple[DossierState, list[Event]]:
    """Apply one command: check it is allowed, compute the new state and the event that records it.

    The handlers return the fields they change (a dict), so the new state is one copy of the old with those
    applied, and the event's changes are those of them that differ, encoded — no 33-field state diff."""
    at = command.at
    if type(at) is not datetime or at.tzinfo is not VN_TZ:
        at = to_vn(require_aware(at))
    action = command.action
    if action is _SUBMIT:
        raise InvalidInput("dossier.already_submitted", "Hồ sơ đã được nộp.")
    workflow = ctx.workflow
    if state.workflow_id != workflow.id or state.workflow_version != workflow.version:
        raise InvalidInput("dossier.workflow_mismatch", "Quy trình không khớp với phiên bản của hồ sơ.")
    if at < _latest_instant(state):
        raise InvalidInput("dossier.time_goes_back", "Thời điểm thao tác sớm hơn thao tác trước đó.")
    if state.status not in ALLOWED_FROM[action]:
        raise Conflict(
            "dossier.action_not_allowed_in_status",
            f"Không thể «{action.label_vi}» khi hồ sơ đang ở trạng thái «{state.status.label_vi}».",
            status=int(state.status),
        )
    step = workflow.step(state.step)
    _authorise(state, step, command)
    if action in _HISTORY_RULED:
        _check_state_rules(state, action, ctx)
    changes, data = _HANDLERS[action](state, step, command, ctx, at)
    version = state.version + 1
    changes["version"] = version
    changes["last_event_at"] = at
    before = state.__dict__
    actor = command.actor
    event = _new_event(
        version,
        action,
        at,
        actor.id,
        actor.kind,
        actor.unit_id,
        data,
        _changed(before, changes, at),
    )
    return _copy_with(before, changes), [event]


def allowed_actions(state: DossierState, actor: Actor, ctx: Context) -> list[Action]:
    """Exactly the actions this actor may take now (for pages and the API), checked by `decide`'s rules."""
    result: list[Action] = []
    step = ctx.workflow.step(state.step)
    for action in Action:
        if action is _SUBMIT or state.status not in ALLOWED_FROM[action]:
            continue
        try:
            _authorise(state, step, Command(action, actor, state.step_entered_at))
            _check_state_rules(state, action, ctx)
        except (Forbidden, Conflict):
            continue
        result.append(action)
    return result


def _authorise(state: DossierState, step: Step, command: Command) -> None:
    actor, action = command.actor, command.action
    if action in APPLICANT_ACTIONS:
        if actor.id in (state.applicant_id, state.submitted_by) and actor.kind is not _OFFICER:
            return
        if action in DESK_RECORDABLE and actor.holds(_RECEIVER, state.receiving_unit_id):
            return
        raise Forbidden(
            "dossier.not_applicant", "Chỉ người yêu cầu (hoặc người nộp thay) được thực hiện thao tác này."
        )
    name: str = action  # (an action's name: the step's route and in-place actions are other enums)
    if name not in step.routes and name not in step.may:  # `step.allows(action)`
        raise Conflict(
            "dossier.action_not_in_step",
            f"Bước «{step.name}» không có thao tác «{action.label_vi}».",
            step=step.id,
        )
    unit_id = state.step_unit_id
    if action is _ASSIGN and actor.holds(_UNIT_ADMIN, unit_id):
        return
    # `actor.holds(step.role, unit_id)`
    if actor.kind is not _OFFICER or step.role not in actor.roles or unit_id != actor.unit_id:
        raise Forbidden(
            "dossier.wrong_role_or_unit",
            f"Thao tác «{action.label_vi}» ở bước «{step.name}» cần vai trò {step.role.label_vi} "
            "của đơn vị đang xử lý hồ sơ.",
            step=step.id,
            role=step.role.value,
        )
    # Fix: this used to exempt ASSIGN, so any officer of the step's role could take an assigned dossier over
    # by assigning it to themselves. Only the unit admin (returned above) or the assignee may reassign.
    if state.assignee_id and actor.id != state.assignee_id:
        raise Forbidden("dossier.assigned_to_other", "Hồ sơ đã được phân công cho cán bộ khác.")


def _latest_instant(state: DossierState) -> datetime:
    """The latest instant the state records. Fix: only `step_entered_at` was checked, so a supplement dated
    before the request (a pause ending before it began) moved the deadline earlier."""
    latest = state.step_entered_at
    last_event_at, paused_at, pauses = state.last_event_at, state.paused_at, state.pauses
    if last_event_at is not None and last_event_at > latest:
        latest = last_event_at
    if paused_at is not None and paused_at > latest:
        latest = paused_at
    if pauses:
        resumed_at = pauses[-1][1]
        if resumed_at is not None and resumed_at > latest:
            latest = resumed_at
    return latest


# The actions `_check_state_rules` may refuse (the others pass it untouched).
_HISTORY_RULED: Final = frozenset({Action.REQUEST_SUPPLEMENT, Action.REFUSE_RECEPTION})


def _check_state_rules(state: DossierState, action: Action, ctx: Context) -> None:
    """Refusals that depend on the dossier's history, not on the status alone. Fix: they lived in the
    handlers only, so `allowed_actions` offered actions that `decide` then refused."""
    if action is _REQUEST_SUPPLEMENT:
        limit = ctx.workflow.supplement_limit
        if limit is not None and state.supplement_requests >= limit:
            raise Conflict(
                "dossier.supplement_limit",
                f"Quy trình chỉ cho phép yêu cầu bổ sung {limit} lần; hồ sơ đã được yêu cầu đủ số lần.",
            )
    elif (
        action is _REFUSE_RECEPTION
        and state.status is _SUPPLEMENT_REQUESTED
        and state.resume_status is not _SUBMITTED
    ):
        raise Conflict("dossier.already_accepted", "Hồ sơ đã được tiếp nhận; không thể từ chối tiếp nhận.")


Changes = dict[str, Any]
"""The state fields a handler sets (name → new value); `decide` applies them in one copy."""
Handler = Callable[[DossierState, Step, Command, Context, datetime], tuple[Changes, dict[str, Any]]]


def _list_field(command: Command, key: str) -> list[Any]:
    """A list from the payload; one text counts as one item. Fix: a text was split into its characters and a
    number raised a bare TypeError."""
    raw = command.payload.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list | tuple):
        raise InvalidInput("dossier.bad_list", f"Trường «{key}» phải là một danh sách.", field=key)
    return list(raw)


def _reason(command: Command, *, required: bool = True) -> str:
    reason = str(command.payload.get("reason") or "").strip()
    if required and len(reason) < 5:
        raise InvalidInput("dossier.reason_required", "Cần ghi rõ lý do (ít nhất 5 ký tự).")
    return reason


def _enter(state: DossierState, changes: Changes, step: Step, ctx: Context, at: datetime) -> Changes:
    """Move to a step: resolve where it is worked on and give it its share of the legal time. `changes` are
    the handler's changes so far (acceptance sets the clock start)."""
    step_due = None
    share, whole = step.share_ratio
    clock_start = changes.get("clock_start", state.clock_start)
    if share and clock_start is not None:
        cal = ctx.calendar
        # The step's share of the legal time: int(share × whole seconds of the legal time), in integers.
        legal = _legal_seconds(cal, state.time_amount, state.time_unit, clock_start)
        seconds = _SECOND * (share * legal // whole if legal >= 0 else -(-share * legal // whole))
        # Fix: counted from `at`, so a step entered at an acceptance after the cut-off got working time
        # before the clock had started. (Working time added to an instant is counted from its next opening.)
        step_due = cal.add_working_time(clock_start if clock_start > at else at, seconds)
    changes["step"] = step.id
    changes["step_unit_id"] = ctx.resolve_unit(step.unit)
    changes["step_entered_at"] = at
    changes["step_due_at"] = step_due
    changes["assignee_id"] = None
    return changes


def _route(
    state: DossierState, step: Step, action: RouteAction, ctx: Context, at: datetime, changes: Changes
) -> Changes:
    workflow = ctx.workflow
    try:
        target = workflow.moves[step.id][action]  # compiled once per workflow
    except KeyError:
        target = workflow.route_target(step, action)  # (raises as the lookup by id did)
    if target is None:  # the end
        changes["step_entered_at"] = at
        changes["step_due_at"] = None
        changes["assignee_id"] = None
        return changes
    return _enter(state, changes, target, ctx, at)


def _accept(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    cal = ctx.calendar
    clock_start = cal.start_instant(at, state.cutoff)
    due = _legal_due(cal, state.time_amount, state.time_unit, clock_start)
    changes: Changes = {
        "accepted_at": at,
        "clock_start": clock_start,
        "due_at": due,
        "legal_due_at": due,
        "status": _ACCEPTED,
    }
    _route(state, step, _ROUTE_ACCEPT, ctx, at, changes)
    return changes, {"note": str(cmd.payload.get("note") or ""), "due_at": _iso(due)}


def _legal_seconds(cal: Calendar, time_amount: Fraction, time_unit: TimeUnit, clock_start: datetime) -> int:
    """The whole seconds of office time the legal term gives. Fix: a term in calendar days was read as that
    many working days, so the steps' deadlines ran past the dossier's due date."""
    if time_unit is _CALENDAR_DAY:
        amount = cal.working_time_between(clock_start, _legal_due(cal, time_amount, time_unit, clock_start))
        return amount.days * 86400 + amount.seconds  # amount // 1 s
    # `ProcedureTerms.legal_working_time` in integers: int(amount × 8 × 3600) seconds (3600 for hours).
    numerator, denominator = time_amount.as_integer_ratio()
    return _truncated_quotient(numerator * (3600 if time_unit is _HOUR else 28800), denominator)


def _truncated_quotient(numerator: int, denominator: int) -> int:
    """int(Fraction(numerator, denominator)) — rounded towards zero — without building a Fraction."""
    return numerator // denominator if numerator >= 0 else -(-numerator // denominator)


_SECOND: Final = timedelta(seconds=1)


def legal_due(cal: Calendar, terms: ProcedureTerms, clock_start: datetime) -> datetime:
    """The legal deadline of `terms` counted from `clock_start` (used by the engine, imports and the portal)."""
    return _legal_due(cal, terms.time_amount, terms.time_unit, clock_start)


def _legal_due(cal: Calendar, time_amount: Fraction, time_unit: TimeUnit, clock_start: datetime) -> datetime:
    if time_unit is _CALENDAR_DAY:
        if time_amount.denominator == 1:
            # One rule for calendar-day terms, the calendar's: N × 24 h, moved off a day off keeping the time.
            return cal.due_calendar_days(clock_start, int(time_amount))
        end = clock_start + timedelta(days=int(time_amount)) + _hours(time_amount % 1 * 24)
        return cal.next_opening(end)
    return cal.add_working_time(
        clock_start, _SECOND * _legal_seconds(cal, time_amount, time_unit, clock_start)
    )


def _refuse_reception(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    return _close(Status.REJECTED)(state, step, cmd, ctx, at)


def _assign(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    assignee = str(cmd.payload.get("assignee_id") or "").strip()
    if not assignee:
        raise InvalidInput("dossier.assignee_required", "Cần chọn cán bộ được phân công.")
    status = _IN_PROCESS if state.status is _ACCEPTED else state.status
    return {"assignee_id": assignee, "status": status}, {"assignee_id": assignee}


def _forward(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    changes = _route(state, step, _ROUTE_FORWARD, ctx, at, {"status": _IN_PROCESS})
    to_step = changes.get("step", state.step)
    return changes, {"from_step": step.id, "to_step": to_step, "note": str(cmd.payload.get("note") or "")}


def _send_back(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    reason = _reason(cmd)
    changes = _route(state, step, _ROUTE_SEND_BACK, ctx, at, {"status": _IN_PROCESS})
    return changes, {"from_step": step.id, "to_step": changes.get("step", state.step), "reason": reason}


def _pause(state: DossierState, status: Status, at: datetime) -> Changes:
    return {"status": status, "paused_at": at, "resume_status": state.status}


def _request_supplement(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    missing = [str(item).strip() for item in _list_field(cmd, "missing") if str(item).strip()]
    if not missing:
        raise InvalidInput(
            "dossier.missing_list_required", "Cần liệt kê rõ các giấy tờ, nội dung phải bổ sung."
        )
    reason = _reason(cmd, required=False)
    changes = _pause(state, _SUPPLEMENT_REQUESTED, at)
    changes["supplement_requests"] = state.supplement_requests + 1
    return changes, {"missing": missing, "reason": reason}


def _resume(state: DossierState, ctx: Context, at: datetime) -> Changes:
    """End a pause: the deadlines move by the working time that was left when the clock stopped."""
    assert state.paused_at is not None and state.resume_status is not None
    paused_at = state.paused_at
    cal = ctx.calendar
    due, step_due = state.due_at, state.step_due_at
    if state.clock_start is not None:
        # Fix: a pause that began (or ended) before the clock start — accepted after the cut-off — counted
        # office time the legal term never included, moving the deadlines by the wrong amount.
        paused_from, resumed_from = max(paused_at, state.clock_start), max(at, state.clock_start)
        due = _extend(cal, state.due_at, paused_from, resumed_from)
        step_due = _extend(cal, state.step_due_at, paused_from, resumed_from)
        legal_due = _extend(cal, state.legal_due_at, paused_from, resumed_from)
    else:
        legal_due = state.legal_due_at
    return {
        "status": state.resume_status,
        "resume_status": None,
        "paused_at": None,
        "pauses": (*state.pauses, (paused_at, at)),
        "due_at": due,
        "step_due_at": step_due,
        "legal_due_at": legal_due,
    }


def _extend(
    cal: Calendar, due: datetime | None, paused_at: datetime, resumed_at: datetime
) -> datetime | None:
    if due is None or paused_at >= due:
        return due
    remaining = cal.working_time_between(paused_at, due)
    # Fix: a due date at an opening (calendar-day terms: Mon 07:30) came back as the previous closing (Fri
    # 17:00) — the same office time, but an earlier date for the citizen. A pause never brings it forward.
    return max(due, cal.add_working_time(cal.next_opening(resumed_at), remaining))


def _supplement(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    note = str(cmd.payload.get("note") or "").strip()
    documents = _list_field(cmd, "documents")
    if not note and not documents:
        raise InvalidInput("dossier.supplement_empty", "Cần nộp giấy tờ hoặc ghi nội dung bổ sung.")
    return _resume(state, ctx, at), {"note": note, "documents": documents}


def _request_fee(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    amount = cmd.payload.get("amount_vnd")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidInput("dossier.bad_fee_amount", "Số tiền phí, lệ phí phải là số nguyên dương (đồng).")
    return _pause(state, Status.FEE_DUE, at), {"amount_vnd": amount, "note": _reason(cmd, required=False)}


def _pay_fee(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    reference = str(cmd.payload.get("reference") or "").strip()
    if not reference:
        raise InvalidInput("dossier.payment_reference_required", "Cần mã giao dịch hoặc số biên lai nộp phí.")
    return _resume(state, ctx, at), {"reference": reference}


def _approve(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    changes = _route(state, step, _ROUTE_APPROVE, ctx, at, {"status": _IN_PROCESS, "outcome": "approved"})
    return changes, {"note": str(cmd.payload.get("note") or "")}


def _refuse(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    reason = _reason(cmd)
    changes = _route(
        state,
        step,
        _ROUTE_REFUSE,
        ctx,
        at,
        {"status": _RESOLVED, "outcome": "refused", "resolved_at": at},
    )
    return changes, {"reason": reason}


def _issue_result(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    result = cmd.payload.get("result") or {}
    if type(result) is not dict and not isinstance(
        result, Mapping
    ):  # fix: dict("text") raised a bare ValueError
        raise InvalidInput("dossier.bad_result", "Kết quả phải là một đối tượng gồm các trường và giá trị.")
    changes = _route(state, step, _ROUTE_ISSUE_RESULT, ctx, at, {"status": _RESOLVED, "resolved_at": at})
    if changes.get("outcome", state.outcome) is None:
        changes["outcome"] = "approved"
    return changes, {"result": dict(result), "note": str(cmd.payload.get("note") or "")}


def _return_result(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    method = str(cmd.payload.get("method") or "")
    if method not in _RETURN_METHODS:  # `ReturnMethod(method)` without the enum call
        raise InvalidInput(
            "dossier.bad_return_method",
            "Hình thức trả kết quả phải là desk (trực tiếp), post (bưu chính) hoặc online.",
        )
    changes = _route(
        state,
        step,
        _ROUTE_RETURN_RESULT,
        ctx,
        at,
        {"status": _RETURNED, "returned_at": at, "closed_at": at},
    )
    return changes, {"method": method}


_RETURN_METHODS: Final = frozenset(method.value for method in ReturnMethod)


def _close(status: Status, *, reason_required: bool = True) -> Handler:
    def handler(
        state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
    ) -> tuple[Changes, dict[str, Any]]:
        reason = _reason(cmd, required=reason_required)
        pauses = state.pauses if state.paused_at is None else (*state.pauses, (state.paused_at, at))
        changes: Changes = {
            "status": status,
            "closed_at": at,
            "paused_at": None,
            "resume_status": None,
            "pauses": pauses,
            "step_due_at": None,
        }
        return changes, {"reason": reason}

    return handler


def _apologise(
    state: DossierState, step: Step, cmd: Command, ctx: Context, at: datetime
) -> tuple[Changes, dict[str, Any]]:
    reason = _reason(cmd)
    raw = cmd.payload.get("new_due_at")
    try:
        new_due = to_vn(require_aware(raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            "dossier.bad_new_due",
            "Ngày hẹn mới phải là thời điểm ISO 8601 có múi giờ, ví dụ 2026-03-10T16:00+07:00.",
        ) from exc
    if state.due_at is None or new_due <= state.due_at or new_due <= at:
        raise InvalidInput(
            "dossier.new_due_not_later", "Ngày hẹn mới phải muộn hơn hạn hiện tại và thời điểm xin lỗi."
        )
    changes: Changes = {"due_at": new_due, "apologies": state.apologies + 1}
    previous = state.due_at.isoformat()
    return changes, {"reason": reason, "previous_due_at": previous, "new_due_at": new_due.isoformat()}


_HANDLERS: Final[Mapping[Action, Handler]] = {
    Action.ACCEPT: _accept,
    Action.REFUSE_RECEPTION: _refuse_reception,
    Action.ASSIGN: _assign,
    Action.FORWARD: _forward,
    Action.SEND_BACK: _send_back,
    Action.REQUEST_SUPPLEMENT: _request_supplement,
    Action.SUPPLEMENT: _supplement,
    Action.REQUEST_FEE: _request_fee,
    Action.PAY_FEE: _pay_fee,
    Action.APPROVE: _approve,
    Action.REFUSE: _refuse,
    Action.ISSUE_RESULT: _issue_result,
    Action.RETURN_RESULT: _return_result,
    Action.WITHDRAW: _close(Status.WITHDRAWN, reason_required=False),
    Action.STOP: _close(Status.STOPPED),
    Action.APOLOGISE: _apologise,
}

assert set(_HANDLERS) == set(Action) - {Action.SUBMIT, Action.REORGANIZE}
assert {a.value for a in RouteAction} | {a.value for a in StepAction} <= {a.value for a in Action}


# ---------------------------------------------------------------- the event log as the source of truth

_FIELDS: Final = {f.name: f for f in dataclasses.fields(DossierState)}
_FIELD_ORDER: Final = {name: index for index, name in enumerate(_FIELDS)}


# Values that encode to themselves, by exact type: the common case, answered before the isinstance chain.
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def _iso(value: datetime) -> str:
    """`value.isoformat()`, the same text. An instant in `VN_TZ` with whole seconds in a year when the zone is
    +07:00 throughout (every instant the engine makes on the Vietnamese calendar) is formatted from its fields
    and a table of two-digit numbers: about twice as fast as `isoformat`, whose C code formats twice through
    `PyUnicode_FromFormat`. (Identity of the zone and a per-year table instead of `utcoffset()` per call.)"""
    year = value.year
    if value.tzinfo is not VN_TZ or value.microsecond or type(value) is not datetime:
        return _iso_checked(value)
    plus_seven = _PLUS_SEVEN_YEARS.get(year)
    if plus_seven is None:
        plus_seven = _plus_seven_year(year)
    if not plus_seven:
        return value.isoformat()
    two = _TWO_DIGITS
    return (
        f"{year}-{two[value.month]}-{two[value.day]}"
        f"T{two[value.hour]}:{two[value.minute]}:{two[value.second]}+07:00"
    )


def _iso_checked(value: datetime) -> str:
    """`_iso` for instants in another zone object: the fast form when its offset is +07:00 (by `utcoffset`)."""
    year = value.year
    if year < 1000 or value.microsecond or type(value) is not datetime or value.utcoffset() != _PLUS_SEVEN:
        return value.isoformat()  # (a subclass may write more: pandas' Timestamp adds nanoseconds)
    two = _TWO_DIGITS
    return (
        f"{year}-{two[value.month]}-{two[value.day]}"
        f"T{two[value.hour]}:{two[value.minute]}:{two[value.second]}+07:00"
    )


def _plus_seven_year(year: int) -> bool:
    """Whether `VN_TZ` is +07:00 at every midnight of `year` and of the next 1 January (the calendar's own
    rule for a year of one offset: `BusinessCalendar`'s table), remembered. Bounded by the years 1000–9999
    (≈ 365 `utcoffset` calls once per year touched); a zone's history does not change while running."""
    if not 1000 <= year <= 9998:
        return False
    day = datetime(year, 1, 1, tzinfo=VN_TZ)
    end = datetime(year + 1, 1, 1, tzinfo=VN_TZ)
    result = True
    while day <= end:
        if day.utcoffset() != _PLUS_SEVEN:
            result = False
            break
        day += _DAY
    _PLUS_SEVEN_YEARS[year] = result
    return result


_PLUS_SEVEN_YEARS: Final[dict[int, bool]] = {}
_DAY: Final = timedelta(days=1)
_PLUS_SEVEN: Final = timedelta(hours=7)
_TWO_DIGITS: Final = tuple(f"{n:02d}" for n in range(60))


def _encode(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _encode_fields(
    fields: Mapping[str, Any], names: Iterable[str], before: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`{name: _encode(fields[name])}` for the `names` whose value differs from `before[name]` (all of them
    when `before` is None) — the ISO form
    of each datetime object computed once (one state or event holds the same instant in several fields: the
    event's instant as `step_entered_at`, `last_event_at`, …; the due date as `due_at` and `legal_due_at`)."""
    isoformats: dict[int, str] = {}
    result: dict[str, Any] = {}
    for name in names:
        value = fields[name]
        if before is not None:
            old = before[name]
            if old is value or old == value:
                continue
        kind = type(value)
        if kind in _PLAIN:
            result[name] = value
        elif kind is datetime:
            text = isoformats.get(id(value))
            if text is None:
                text = isoformats[id(value)] = _iso(value)
            result[name] = text
        else:
            encoder = _ENCODERS.get(kind)
            result[name] = encoder(value) if encoder is not None else _encode(value)
    return result


# Encoders by exact type for the state's enums and fractions (the same results as `_encode`).
_ENCODERS: Final[Mapping[type, Callable[[Any], Any]]] = {
    Status: int,
    Channel: str,
    TimeUnit: str,
    Fraction: str,
}


def _decode(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in {"status", "resume_status"}:
        return Status(value)
    if name == "channel":
        return Channel(value)
    if name == "time_unit":
        return TimeUnit(value)
    if name == "time_amount":
        return Fraction(value)
    if name == "cutoff":
        return time.fromisoformat(value)
    if name == "pauses":
        return tuple((to_vn(datetime.fromisoformat(a)), to_vn(datetime.fromisoformat(b))) for a, b in value)
    if name.endswith("_at") or name == "clock_start":
        return to_vn(datetime.fromisoformat(value))
    return value


def _new_state(values: Mapping[str, Any]) -> DossierState:
    """`DossierState(**values)` without the frozen dataclass's field-by-field `object.__setattr__`: the
    defaults, then `values` (all fields, in field order — the same object). `values` must hold every field
    without a default (`submit` does)."""
    fields = {**_STATE_DEFAULTS, **values}
    if len(fields) != len(_STATE_DEFAULTS):
        raise TypeError(f"DossierState has no field(s) {sorted(fields.keys() - _STATE_DEFAULTS.keys())}")
    state = object.__new__(DossierState)
    object.__setattr__(state, "__dict__", fields)
    return state


# Every field in field order (None for the required ones, which `_new_state` always sets) with its default.
_STATE_DEFAULTS: Final[Mapping[str, Any]] = {
    name: None if f.default is dataclasses.MISSING else f.default for name, f in _FIELDS.items()
}
_ENCODED_DEFAULTS: Final[Mapping[str, Any]] = {
    name: _encode(value) for name, value in _STATE_DEFAULTS.items()
}


def _opening_changes(values: dict[str, Any], at: datetime) -> dict[str, Any]:
    """`state_to_dict(_new_state(values))`: the encoded defaults, then `values` encoded in place — `at`, the
    submission instant (`submitted_at`, `step_entered_at`, `last_event_at`), formatted once."""
    at_text = _iso(at)
    encoded = {**_ENCODED_DEFAULTS, "pauses": []}  # a fresh list (the encoded default is mutable)
    for name, value in values.items():
        kind = type(value)
        if value is at:
            encoded[name] = at_text
        elif kind in _PLAIN:
            encoded[name] = value
        else:
            encoder = _ENCODERS.get(kind)
            encoded[name] = encoder(value) if encoder is not None else _encode(value)
    return encoded


def _copy_with(fields: dict[str, Any], changes: dict[str, Any]) -> DossierState:
    """A state of `fields` (an old state's) with `changes` (known field names) applied; unchanged fields
    share their objects. (Filled in place without the frozen dataclass's field-by-field `__setattr__`.)"""
    new = _new_object(DossierState)
    merged = new.__dict__  # a fresh instance's (empty) dict, filled in place: no second dict
    merged.update(fields)
    merged.update(changes)
    return new


_new_object: Final = object.__new__


def _changed(before: dict[str, Any], changes: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The encoded `changes` whose value differs from `before` (the old state's fields), in field order:
    exactly `diff(old, new)` when `new` is `old` with `changes` applied.

    `_encode_fields` for one transition: `at`, the command's instant, is the datetime most fields hold
    (`last_event_at` always, `step_entered_at`, often `accepted_at`, `clock_start`, `resolved_at`…), so its
    ISO form is made once, up front; other datetimes (deadlines, of which acceptance sets the same one as
    `due_at` and `legal_due_at`) go through a memo by identity for this call. (`dict` arguments, not
    `Mapping`: compiled by mypyc, dict operations instead of the generic mapping protocol.)"""
    keys = tuple(changes)
    order = _ORDERS.get(keys)
    if order is None:
        order = _field_order(keys)
    at_text = _iso(at)
    isoformats: dict[int, str] | None = None
    result: dict[str, Any] = {}
    for name in order:
        value = changes[name]
        old = before[name]
        if old is value or old == value:
            continue
        kind = type(value)
        if kind is datetime:
            if value is at:
                result[name] = at_text
                continue
            if isoformats is None:
                isoformats = {}
            text = isoformats.get(id(value))
            if text is None:
                text = isoformats[id(value)] = _iso(value)
            result[name] = text
        elif kind in _PLAIN:
            result[name] = value
        else:
            encoder = _ENCODERS.get(kind)
            result[name] = encoder(value) if encoder is not None else _encode(value)
    return result


def _field_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` in field order, remembered: a handler's changes have the same names in the same insertion
    order on each of its paths, so a lookup replaces a sort on almost every transition. Bounded: the set of
    name tuples the handlers make is small (tens); anything beyond `_MAX_ORDERS` starts the table afresh."""
    order = tuple(sorted(names, key=_FIELD_ORDER.__getitem__))
    if len(_ORDERS) >= _MAX_ORDERS:
        _ORDERS.clear()
    _ORDERS[names] = order
    return order


_ORDERS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {}
_MAX_ORDERS: Final = 1024


def _new_event(
    seq: int,
    type: Action,
    at: datetime,
    actor_id: str,
    actor_kind: ActorKind,
    actor_unit_id: str | None,
    data: Mapping[str, Any],
    changes: Mapping[str, Any],
) -> Event:
    """`Event(...)` without the frozen dataclass's field-by-field `object.__setattr__` (the same object): the
    fresh instance's dict filled in place."""
    event = _new_object(Event)
    fields = event.__dict__
    fields["seq"] = seq
    fields["type"] = type
    fields["at"] = at
    fields["actor_id"] = actor_id
    fields["actor_kind"] = actor_kind
    fields["actor_unit_id"] = actor_unit_id
    fields["data"] = data
    fields["changes"] = changes
    return event


def state_to_dict(state: DossierState) -> dict[str, Any]:
    return _encode_fields(state.__dict__, _FIELDS, None)


def state_from_dict(data: Mapping[str, Any]) -> DossierState:
    return DossierState(**{name: _decode(name, data.get(name)) for name in _FIELDS if name in data})


def diff(old: DossierState, new: DossierState) -> dict[str, Any]:
    """The encoded fields of `new` that differ from `old` (`decide` gets the same from `_changed`)."""
    before = old.__dict__  # unchanged fields are often the same objects: `is` settles most
    return {
        name: _encode(value)
        for name, value in new.__dict__.items()
        if before[name] is not value and before[name] != value
    }


def replay(events: Sequence[Event]) -> DossierState:
    """Fold an event log into the current state. The first event must be the submission."""
    if not events or events[0].type is not Action.SUBMIT:
        raise InvalidInput("dossier.bad_event_log", "Nhật ký hồ sơ phải bắt đầu bằng sự kiện nộp hồ sơ.")
    data: dict[str, Any] = {}
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            raise InvalidInput(
                "dossier.bad_event_log", f"Nhật ký hồ sơ thiếu hoặc lặp sự kiện số {expected_seq}."
            )
        data.update(event.changes)
    return state_from_dict(data)
