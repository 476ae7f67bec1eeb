"""Workflow definitions: validated, versioned data (YAML/JSON), never code.

A workflow is a list of steps. Each step names the officer role that works on it, a unit selector saying
*where* it is worked on (the receiving unit, the competent unit, the receiving unit's parent, a named unit or
the unit of a kind serving the receiving unit — this is how a dossier passes between commune and city,
*liên thông*), the share of the legal time it gets, its routing actions (action → next step) and the
in-place actions it allows. Loading rejects unknown steps and actions, unreachable steps, dead ends, paths
to the end that skip issuing the result, and time shares that exceed the legal time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeGuard

from motcua.domain.errors import InvalidInput

END = "$end"


class Role(StrEnum):
    """Officer roles. A user holds roles in exactly one unit."""

    RECEIVER = "receiver"
    PROCESSOR = "processor"
    APPROVER = "approver"
    RETURNER = "returner"
    UNIT_ADMIN = "unit_admin"
    CITY_ADMIN = "city_admin"
    MONITOR = "monitor"

    @property
    def label_vi(self) -> str:
        return _ROLE_LABELS[self]


_ROLE_LABELS = {
    Role.RECEIVER: "Cán bộ tiếp nhận",
    Role.PROCESSOR: "Chuyên viên xử lý",
    Role.APPROVER: "Lãnh đạo phê duyệt",
    Role.RETURNER: "Cán bộ trả kết quả",
    Role.UNIT_ADMIN: "Quản trị đơn vị",
    Role.CITY_ADMIN: "Quản trị Thành phố",
    Role.MONITOR: "Giám sát",
}


class RouteAction(StrEnum):
    """Actions that move a dossier to another step (their targets are workflow data)."""

    ACCEPT = "accept"
    FORWARD = "forward"
    SEND_BACK = "send_back"
    APPROVE = "approve"
    REFUSE = "refuse"
    ISSUE_RESULT = "issue_result"
    RETURN_RESULT = "return_result"


class StepAction(StrEnum):
    """Actions that stay on the current step; a step lists the ones its officers may take."""

    REFUSE_RECEPTION = "refuse_reception"
    ASSIGN = "assign"
    REQUEST_SUPPLEMENT = "request_supplement"
    REQUEST_FEE = "request_fee"
    STOP = "stop"
    APOLOGISE = "apologise"


_SELECTOR = re.compile(r"^(receiving|competent|parent|unit:[a-z0-9][a-z0-9-]*|kind:[a-z_]+)$")
_STEP_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_WORKFLOW_ID = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Step:
    id: str
    name: str
    role: Role
    unit: str
    share: Fraction
    routes: Mapping[RouteAction, str]
    may: frozenset[StepAction]
    # `share` as integers, for the engine's deadline arithmetic on every step entry (a Fraction's
    # `numerator`, `denominator` and truth value are Python-level calls).
    share_ratio: tuple[int, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "share_ratio", (self.share.numerator, self.share.denominator))

    def allows(self, action: str) -> bool:
        return action in self.routes or action in self.may


@dataclass(frozen=True)
class Workflow:
    id: str
    version: int
    name: str
    steps: tuple[Step, ...]
    supplement_limit: int | None = None
    # The steps by id, built once (the engine looks a step up on every transition); the first of duplicates
    # wins, as the linear search did (`validate_workflow` rejects duplicates anyway).
    _by_id: Mapping[str, Step] = field(init=False, repr=False, compare=False, hash=False)
    # The routes compiled once: step id → route action → the next step (None: the end). A route to a step
    # the workflow lacks is left out, so `route_target` reports it (`validate_workflow` rejects it anyway).
    moves: Mapping[str, Mapping[str, Step | None]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_id: dict[str, Step] = {}
        for step in self.steps:
            by_id.setdefault(step.id, step)
        object.__setattr__(self, "_by_id", by_id)
        moves = {
            step_id: {
                action: None if target == END else by_id[target]
                for action, target in step.routes.items()
                if target == END or target in by_id
            }
            for step_id, step in by_id.items()
        }
        object.__setattr__(self, "moves", moves)

    def route_target(self, step: Step, action: RouteAction) -> Step | None:
        """The step `action` leads to from `step` (None: the end); `step.routes[action]` looked up."""
        try:
            return self.moves[step.id][action]
        except KeyError:  # a route to an unknown step: InvalidInput; no such route: KeyError, as before
            target = step.routes[action]
            return None if target == END else self.step(target)

    @property
    def start(self) -> Step:
        return self.steps[0]

    def step(self, step_id: str) -> Step:
        step = self._by_id.get(step_id)
        if step is None:
            raise InvalidInput("workflow.unknown_step", f"Quy trình {self.id} không có bước {step_id}.")
        return step

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


def _fail(workflow_id: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(f"workflow.{code}", f"Quy trình {workflow_id}: {message}", workflow=workflow_id)


def _parse_share(raw: Any, wf_id: str, step_id: str) -> Fraction:
    try:
        share = Fraction(str(raw))
    except (ValueError, ZeroDivisionError) as exc:
        raise _fail(wf_id, "bad_share", f"bước {step_id} có tỷ lệ thời gian không hợp lệ: {raw!r}.") from exc
    if not 0 <= share <= 1:
        raise _fail(wf_id, "bad_share", f"bước {step_id} có tỷ lệ thời gian ngoài khoảng 0–1: {raw}.")
    return share


def _parse_enum(kind: type[StrEnum], raw: Any, wf_id: str, what: str) -> Any:
    try:
        return kind(raw)
    except ValueError as exc:
        raise _fail(wf_id, "unknown_name", f"{what} không hợp lệ: {raw!r}.") from exc


def _parse_step(raw: Any, wf_id: str) -> Step:
    if not isinstance(raw, Mapping):  # fix: a step written as a text or list raised a bare AttributeError
        raise _fail(
            wf_id, "bad_step", f"mỗi bước phải là một ánh xạ (id, name, role, ...), không phải {raw!r}."
        )
    step_id = str(raw.get("id", ""))
    if not _STEP_ID.match(step_id):
        raise _fail(wf_id, "bad_step_id", f"mã bước không hợp lệ: {step_id!r}.")
    unit = str(raw.get("unit", ""))
    if not _SELECTOR.match(unit):
        raise _fail(wf_id, "bad_selector", f"bước {step_id} có bộ chọn đơn vị không hợp lệ: {unit!r}.")
    routes_raw = raw.get("actions") or {}
    if not isinstance(routes_raw, Mapping):
        raise _fail(wf_id, "bad_actions", f"bước {step_id}: 'actions' phải là ánh xạ hành động → bước.")
    routes = {
        _parse_enum(RouteAction, action, wf_id, f"hành động của bước {step_id}"): str(target)
        for action, target in routes_raw.items()
    }
    may_raw = raw.get("may") or []
    if not isinstance(
        may_raw, list
    ):  # fix: a number raised a bare TypeError, a text was read letter by letter
        raise _fail(wf_id, "bad_actions", f"bước {step_id}: 'may' phải là danh sách các hành động tại chỗ.")
    may = frozenset(
        _parse_enum(StepAction, action, wf_id, f"hành động tại chỗ của bước {step_id}") for action in may_raw
    )
    name = str(raw.get("name") or "").strip()
    if not name:
        raise _fail(wf_id, "missing_name", f"bước {step_id} chưa có tên.")
    return Step(
        id=step_id,
        name=name,
        role=_parse_enum(Role, raw.get("role"), wf_id, f"vai trò của bước {step_id}"),
        unit=unit,
        share=_parse_share(raw.get("share", 0), wf_id, step_id),
        routes=routes,
        may=may,
    )


def parse_workflow(data: Mapping[str, Any]) -> Workflow:
    """Build and validate a workflow from its data form; raise InvalidInput with a clear Vietnamese reason."""
    if not isinstance(data, Mapping):  # fix: a YAML file holding a list raised a bare AttributeError
        raise InvalidInput(
            "workflow.bad_document", "Định nghĩa quy trình phải là một ánh xạ (id, version, steps)."
        )
    wf_id = str(data.get("id", ""))
    if not _WORKFLOW_ID.match(wf_id):
        raise InvalidInput("workflow.bad_id", f"Mã quy trình không hợp lệ: {wf_id!r}.")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise _fail(wf_id, "bad_version", "phiên bản phải là số nguyên dương.")
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise _fail(wf_id, "no_steps", "quy trình phải có ít nhất một bước.")
    steps = tuple(_parse_step(raw, wf_id) for raw in steps_raw)
    limit = data.get("supplement_limit")
    if limit is not None and (not _is_int(limit) or limit < 0):
        raise _fail(wf_id, "bad_supplement_limit", "số lần yêu cầu bổ sung tối đa phải là số nguyên ≥ 0.")
    workflow = Workflow(wf_id, version, str(data.get("name") or wf_id), steps, limit)
    validate_workflow(workflow)
    return workflow


def _is_int(value: Any) -> TypeGuard[int]:
    """An integer, not a boolean. Fix: YAML `true` passed as version 1 / limit 1 (bool is an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def validate_workflow(wf: Workflow) -> None:
    """Structural checks: targets exist, every step reachable and able to finish, shares within the legal time."""
    ids = [step.id for step in wf.steps]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _fail(wf.id, "duplicate_step", f"mã bước bị trùng: {', '.join(duplicates)}.")
    _check_targets(wf, set(ids))
    _check_start(wf)
    _check_no_route_into_start(wf)
    _check_reachable(wf)
    _check_no_dead_ends(wf)
    _check_result_issued_before_end(wf)
    _check_result_then_return(wf)
    total = sum((step.share for step in wf.steps), Fraction(0))
    if total > 1:
        raise _fail(
            wf.id,
            "shares_exceed_legal_time",
            f"tổng tỷ lệ thời gian các bước là {float(total):.0%}, vượt quá thời hạn giải quyết theo luật.",
        )


def _check_targets(wf: Workflow, ids: set[str]) -> None:
    for step in wf.steps:
        for action, target in step.routes.items():
            if action is RouteAction.RETURN_RESULT:
                if target != END:
                    raise _fail(wf.id, "bad_target", f"bước {step.id}: '{action}' phải kết thúc ({END}).")
            elif target not in ids:
                raise _fail(
                    wf.id, "unknown_target", f"bước {step.id}: '{action}' dẫn tới bước lạ {target!r}."
                )


def _check_start(wf: Workflow) -> None:
    start = wf.start
    if RouteAction.ACCEPT not in start.routes or start.role is not Role.RECEIVER:
        raise _fail(wf.id, "bad_start", "bước đầu tiên phải là bước tiếp nhận (receiver, hành động accept).")
    for step in wf.steps[1:]:
        if RouteAction.ACCEPT in step.routes:
            raise _fail(wf.id, "accept_outside_start", f"chỉ bước tiếp nhận được 'accept' (bước {step.id}).")


def _check_no_route_into_start(wf: Workflow) -> None:
    """Fix: a route back to the reception step stranded the dossier there, since `accept` is only possible
    from status 1 (a new dossier) and the reception step has no other way on."""
    for step in wf.steps:
        for action, target in step.routes.items():
            if target == wf.start.id:
                raise _fail(
                    wf.id,
                    "route_into_start",
                    f"bước {step.id}: '{action}' không được quay về bước tiếp nhận {target}.",
                )


def _successors(step: Step, *, skip: frozenset[RouteAction] = frozenset()) -> set[str]:
    return {target for action, target in step.routes.items() if action not in skip}


def _reachable(wf: Workflow, *, skip: frozenset[RouteAction] = frozenset()) -> set[str]:
    seen = {wf.start.id}
    frontier = [wf.start]
    while frontier:
        step = frontier.pop()
        for target in _successors(step, skip=skip) - seen - {END}:
            seen.add(target)
            frontier.append(wf.step(target))
    return seen


def _check_reachable(wf: Workflow) -> None:
    unreachable = [step.id for step in wf.steps if step.id not in _reachable(wf)]
    if unreachable:
        raise _fail(wf.id, "unreachable_step", f"không thể tới bước: {', '.join(unreachable)}.")


def _check_no_dead_ends(wf: Workflow) -> None:
    can_finish = {END}
    changed = True
    while changed:
        changed = False
        for step in wf.steps:
            if step.id not in can_finish and _successors(step) & can_finish:
                can_finish.add(step.id)
                changed = True
    dead = [step.id for step in wf.steps if step.id not in can_finish]
    if dead:
        raise _fail(wf.id, "dead_end", f"các bước không thể dẫn tới trả kết quả: {', '.join(dead)}.")


def _check_result_issued_before_end(wf: Workflow) -> None:
    """Every path to the end must pass through issuing a result (approve+issue, or refuse)."""
    before_result = _reachable(wf, skip=frozenset({RouteAction.ISSUE_RESULT, RouteAction.REFUSE}))
    for step_id in before_result:
        if RouteAction.RETURN_RESULT in wf.step(step_id).routes:
            raise _fail(
                wf.id,
                "end_without_result",
                f"bước {step_id} trả kết quả nhưng có đường tới đó không qua ban hành kết quả.",
            )


def _check_result_then_return(wf: Workflow) -> None:
    """Fix: after `issue_result` or `refuse` the dossier is resolved (status 9) and only `return_result` is
    possible, so a target step without it left the dossier stuck for ever."""
    for step in wf.steps:
        for action in (RouteAction.ISSUE_RESULT, RouteAction.REFUSE):
            target = step.routes.get(action)
            if target is not None and RouteAction.RETURN_RESULT not in wf.step(target).routes:
                raise _fail(
                    wf.id,
                    "result_not_returned",
                    f"bước {step.id}: sau '{action}' hồ sơ phải tới một bước trả kết quả (return_result), "
                    f"bước {target} thì không.",
                )
