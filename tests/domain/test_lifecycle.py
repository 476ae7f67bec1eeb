"""Dossier lifecycle engine: worked examples on the packaged workflows with the real Vietnamese calendar, and
an exhaustive authorisation matrix over every state the workflows can reach.

The helpers at the top (cast, contexts, `Dossier`, `valid_payload`) are shared with the property tests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from fractions import Fraction
from importlib import resources
from typing import Any

import pytest
import yaml

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import Conflict, DomainError, Forbidden, InvalidInput
from motcua.domain.lifecycle import (
    ALLOWED_FROM,
    APPLICANT_ACTIONS,
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
    TimeUnit,
    allowed_actions,
    decide,
    replay,
    state_from_dict,
    state_to_dict,
    submit,
)
from motcua.domain.workflow import Role, Workflow, parse_workflow

CAL = BusinessCalendar.vietnam(range(2026, 2028))
WARD = "phuong-sai-gon"
DEPT = "so-tu-phap"
H = timedelta(hours=1)
REASON = "Hồ sơ chưa đủ điều kiện theo quy định"


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


def workflow_data(name: str) -> dict[str, Any]:
    text = (resources.files("motcua") / "data" / "workflows" / f"{name}.v1.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def load_workflow(name: str) -> Workflow:
    return parse_workflow(workflow_data(name))


TIEU_CHUAN = load_workflow("tieu-chuan")
LIEN_THONG = load_workflow("lien-thong-xa-tinh")


def units_for(competent: str, receiving: str = WARD) -> dict[str, str]:
    return {"receiving": receiving, "competent": competent}


def context(workflow: Workflow, competent: str = WARD, receiving: str = WARD) -> Context:
    units = units_for(competent, receiving)
    return Context(workflow, CAL, lambda selector: units[selector])


# ---------------------------------------------------------------- the cast

APPLICANT = Actor("079200001234", ActorKind.CITIZEN, name="Nguyễn Văn An")
OTHER_CITIZEN = Actor("079200005678", ActorKind.CITIZEN, name="Trần Thị Bình")
AGENT = Actor("buu-dien-sai-gon-01", ActorKind.AGENT)


def officer(unit: str, role: Role, n: int = 1) -> Actor:
    return Actor(f"{unit}/{role.value}/{n}", ActorKind.OFFICER, frozenset({role}), unit)


OFFICERS = (
    *(officer(unit, role) for unit in (WARD, DEPT) for role in Role),
    officer(WARD, Role.PROCESSOR, 2),
    officer(DEPT, Role.PROCESSOR, 2),
)
CAST: tuple[Actor, ...] = (APPLICANT, OTHER_CITIZEN, AGENT, *OFFICERS)

RECEIVER = officer(WARD, Role.RECEIVER)
PROCESSOR = officer(WARD, Role.PROCESSOR)
PROCESSOR_2 = officer(WARD, Role.PROCESSOR, 2)
APPROVER = officer(WARD, Role.APPROVER)
RETURNER = officer(WARD, Role.RETURNER)
UNIT_ADMIN = officer(WARD, Role.UNIT_ADMIN)
DEPT_PROCESSOR = officer(DEPT, Role.PROCESSOR)
DEPT_APPROVER = officer(DEPT, Role.APPROVER)
DEPT_UNIT_ADMIN = officer(DEPT, Role.UNIT_ADMIN)

THREE_WORKING_DAYS = ProcedureTerms("1.001193", Fraction(3), TimeUnit.WORKING_DAY)


# ---------------------------------------------------------------- a dossier and valid commands


@dataclass
class Dossier:
    """A dossier under test: the engine's state, its event log and the instant of its last event."""

    ctx: Context
    state: DossierState
    events: list[Event] = field(default_factory=list)

    @property
    def last_at(self) -> datetime:
        return self.events[-1].at

    def act(self, action: Action, actor: Actor, at: datetime, **payload: Any) -> Dossier:
        self.state, events = decide(self.state, Command(action, actor, at, payload), self.ctx)
        self.events += events
        return self

    def do(self, action: Action, actor: Actor, at: datetime) -> Dossier:
        """Take `action` with a payload that satisfies every rule."""
        return self.act(action, actor, at, **valid_payload(action, self.state, at))


def open_dossier(
    ctx: Context,
    at: datetime,
    *,
    terms: ProcedureTerms = THREE_WORKING_DAYS,
    channel: Channel = Channel.ONLINE,
    actor: Actor = APPLICANT,
) -> Dossier:
    state, events = submit(
        ctx,
        code="G12.001-260302-0001",
        terms=terms,
        channel=channel,
        actor=actor,
        applicant_id=APPLICANT.id,
        receiving_unit_id=ctx.resolve_unit("receiving"),
        competent_unit_id=ctx.resolve_unit("competent"),
        at=at,
    )
    return Dossier(ctx, state, events)


def valid_payload(action: Action, state: DossierState, at: datetime) -> dict[str, Any]:
    """A payload with everything `action` needs, for `state` at `at`."""
    if action is Action.APOLOGISE:
        base = max(state.due_at or at, at)
        return {
            "reason": "Cần xác minh thêm tại địa phương",
            "new_due_at": (base + timedelta(days=3)).isoformat(),
        }
    if action is Action.ASSIGN:
        return {"assignee_id": f"{state.step_unit_id}/processor/2"}
    return dict(VALID_PAYLOADS.get(action, {}))


VALID_PAYLOADS: Mapping[Action, Mapping[str, Any]] = {
    Action.REFUSE_RECEPTION: {"reason": "Hồ sơ không thuộc thẩm quyền tiếp nhận"},
    Action.SEND_BACK: {"reason": "Cần thẩm định lại giấy tờ"},
    Action.REQUEST_SUPPLEMENT: {"missing": ["Bản sao giấy chứng sinh"], "reason": "Thiếu giấy chứng sinh"},
    Action.SUPPLEMENT: {"note": "Đã bổ sung giấy chứng sinh", "documents": ["giay-chung-sinh.pdf"]},
    Action.REQUEST_FEE: {"amount_vnd": 50_000},
    Action.PAY_FEE: {"reference": "BL-2026-000123"},
    Action.REFUSE: {"reason": REASON},
    Action.ISSUE_RESULT: {"result": {"so_quyet_dinh": "123/QĐ-UBND"}},
    Action.RETURN_RESULT: {"method": "desk"},
    Action.STOP: {"reason": "Theo văn bản của cơ quan có thẩm quyền"},
}


def error_of(dossier: Dossier, action: Action, actor: Actor, at: datetime, **payload: Any) -> DomainError:
    before = copy.deepcopy(dossier.state)
    with pytest.raises(DomainError) as caught:
        dossier.act(action, actor, at, **payload)
    assert dossier.state == before
    return caught.value


# ---------------------------------------------------------------- happy paths


def test_standard_happy_path_statuses_deadlines_and_events() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8, 0))
    assert (d.state.status, d.state.step, d.state.step_unit_id) == (Status.SUBMITTED, "tiep_nhan", WARD)
    assert d.state.due_at is None and d.state.clock_start is None
    statuses = [d.state.status]

    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9, 0))  # Monday
    statuses.append(d.state.status)
    assert d.state.accepted_at == d.state.clock_start == vn(2026, 3, 2, 9, 0)
    assert d.state.due_at == vn(2026, 3, 5, 9, 0)  # 3 working days: Thursday 09:00
    assert d.state.step == "xu_ly"
    assert d.state.step_due_at == vn(2026, 3, 4, 9, 48)  # 7/10 of 24 h = 16 h 48 min of office time

    d.do(Action.FORWARD, PROCESSOR, vn(2026, 3, 3, 10, 0))
    statuses.append(d.state.status)
    assert d.state.step == "phe_duyet"
    assert d.state.step_due_at == vn(2026, 3, 3, 16, 18)  # 2/10 of 24 h = 4 h 48 min, over the lunch break

    d.do(Action.APPROVE, APPROVER, vn(2026, 3, 4, 8, 0))
    statuses.append(d.state.status)
    assert (d.state.step, d.state.outcome) == ("ban_hanh", "approved")
    assert d.state.step_due_at == vn(2026, 3, 4, 10, 24)  # 1/10 of 24 h = 2 h 24 min

    d.do(Action.ISSUE_RESULT, PROCESSOR, vn(2026, 3, 4, 9, 0))
    statuses.append(d.state.status)
    assert (d.state.step, d.state.resolved_at, d.state.step_due_at) == (
        "tra_ket_qua",
        vn(2026, 3, 4, 9),
        None,
    )

    d.act(Action.RETURN_RESULT, RETURNER, vn(2026, 3, 4, 14, 0), method="desk")
    statuses.append(d.state.status)
    assert statuses == [1, 2, 4, 4, 9, 10]
    assert d.state.returned_at == d.state.closed_at == vn(2026, 3, 4, 14, 0)
    assert d.state.due_at == vn(2026, 3, 5, 9, 0)

    assert [e.seq for e in d.events] == [1, 2, 3, 4, 5, 6]
    assert [e.type for e in d.events] == [
        Action.SUBMIT,
        Action.ACCEPT,
        Action.FORWARD,
        Action.APPROVE,
        Action.ISSUE_RESULT,
        Action.RETURN_RESULT,
    ]
    assert [e.actor_id for e in d.events] == [
        APPLICANT.id,
        RECEIVER.id,
        PROCESSOR.id,
        APPROVER.id,
        PROCESSOR.id,
        RETURNER.id,
    ]
    assert d.events[1].data["due_at"] == "2026-03-05T09:00:00+07:00"
    assert d.events[-1].data == {"method": "desk"}
    assert d.state.version == len(d.events)
    assert replay(d.events) == d.state
    assert all(allowed_actions(d.state, actor, d.ctx) == [] for actor in CAST)
    after = vn(2026, 3, 5, 8)
    for action in set(Action) - {Action.SUBMIT}:
        error = error_of(d, action, RETURNER, after, **valid_payload(action, d.state, after))
        assert isinstance(error, Conflict) and error.code == "dossier.action_not_allowed_in_status"


def test_lien_thong_moves_to_the_department_and_back_to_the_commune() -> None:
    ctx = context(LIEN_THONG, competent=DEPT)
    d = open_dossier(ctx, vn(2026, 3, 2, 8, 0), channel=Channel.DESK, actor=RECEIVER)
    at = vn(2026, 3, 2, 8, 5)
    trail = []
    moves = [
        (Action.ACCEPT, RECEIVER),
        (Action.FORWARD, PROCESSOR),
        (Action.FORWARD, APPROVER),
        (Action.FORWARD, DEPT_PROCESSOR),
        (Action.APPROVE, DEPT_APPROVER),
        (Action.ISSUE_RESULT, DEPT_PROCESSOR),
        (Action.RETURN_RESULT, RETURNER),
    ]
    trail.append((d.state.step, d.state.step_unit_id))
    for action, actor in moves:
        at += 2 * H
        d.do(action, actor, at)
        trail.append((d.state.step, d.state.step_unit_id))
    assert trail == [
        ("tiep_nhan", WARD),
        ("tham_dinh_xa", WARD),
        ("xac_nhan_xa", WARD),
        ("xu_ly_so", DEPT),
        ("phe_duyet_so", DEPT),
        ("ban_hanh", DEPT),
        ("tra_ket_qua", WARD),
        ("tra_ket_qua", WARD),
    ]
    assert d.state.status is Status.RETURNED
    assert [e.actor_unit_id for e in d.events[4:7]] == [DEPT, DEPT, DEPT]
    assert replay(d.events) == d.state


def test_lien_thong_officers_only_act_in_their_own_unit() -> None:
    d = open_dossier(context(LIEN_THONG, competent=DEPT), vn(2026, 3, 2, 8, 0))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9, 0))
    assert (
        error_of(d, Action.FORWARD, DEPT_PROCESSOR, vn(2026, 3, 2, 10), note="").code
        == "dossier.wrong_role_or_unit"
    )
    d.do(Action.FORWARD, PROCESSOR, vn(2026, 3, 2, 10))
    d.do(Action.FORWARD, APPROVER, vn(2026, 3, 2, 11))
    error = error_of(d, Action.FORWARD, PROCESSOR, vn(2026, 3, 2, 14))
    assert isinstance(error, Forbidden) and error.details == {"step": "xu_ly_so", "role": "processor"}
    assert allowed_actions(d.state, PROCESSOR, d.ctx) == []
    assert Action.FORWARD in allowed_actions(d.state, DEPT_PROCESSOR, d.ctx)


def test_desk_agent_and_foreign_submissions() -> None:
    ctx = context(TIEU_CHUAN)
    assert (
        open_dossier(ctx, vn(2026, 3, 2, 8), channel=Channel.DESK, actor=RECEIVER).state.submitted_by
        == RECEIVER.id
    )
    assert (
        open_dossier(ctx, vn(2026, 3, 2, 8), channel=Channel.AGENT, actor=AGENT).state.submitted_by
        == AGENT.id
    )
    for channel, actor, code in [
        (Channel.ONLINE, OTHER_CITIZEN, "dossier.not_applicant"),
        (Channel.DESK, officer(DEPT, Role.RECEIVER), "dossier.submit_forbidden"),
        (Channel.DESK, PROCESSOR, "dossier.submit_forbidden"),
        (Channel.ONLINE, AGENT, "dossier.submit_forbidden"),
    ]:
        with pytest.raises(Forbidden) as caught:
            open_dossier(ctx, vn(2026, 3, 2, 8), channel=channel, actor=actor)
        assert caught.value.code == code


# ---------------------------------------------------------------- the legal clock


def test_cut_off_starts_the_clock_at_the_next_working_morning() -> None:
    terms = ProcedureTerms("1.001193", Fraction(3), TimeUnit.WORKING_DAY, cutoff=time(15, 0))
    late = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 15, 20), terms=terms)
    late.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 15, 30))
    assert late.state.accepted_at == vn(2026, 3, 2, 15, 30)
    assert late.state.clock_start == vn(2026, 3, 3, 7, 30)
    assert late.state.due_at == vn(2026, 3, 5, 17, 0)
    # The first processing step also starts with the clock: 16 h 48 min from Tuesday 07:30.
    assert late.state.step_due_at == vn(2026, 3, 5, 8, 18)

    early = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 14, 0), terms=terms)
    early.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 14, 59))
    assert early.state.clock_start == vn(2026, 3, 2, 14, 59)


def test_tet_holiday_is_not_counted() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 2, 13, 8, 0))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 2, 13, 9, 0))
    assert d.state.due_at is not None
    assert d.state.due_at.isoformat() == "2026-02-25T09:00:00+07:00"


def test_hours_and_calendar_day_terms() -> None:
    hours = ProcedureTerms("2.000001", Fraction(4), TimeUnit.HOUR)
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8), terms=hours)
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 10, 0))
    assert d.state.due_at == vn(2026, 3, 2, 15, 30)  # 1.5 h before lunch, 2.5 h after

    days = ProcedureTerms("2.000002", Fraction(15), TimeUnit.CALENDAR_DAY)
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8), terms=days)
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 10, 0))
    assert d.state.due_at == vn(2026, 3, 17, 10, 0)
    # Each step's share is of the office time up to that due date, so the steps end before it.
    assert d.state.step_due_at is not None and d.state.step_due_at < d.state.due_at
    office_time = CAL.working_time_between(vn(2026, 3, 2, 10), vn(2026, 3, 17, 10))
    assert CAL.working_time_between(vn(2026, 3, 2, 10), d.state.step_due_at) == office_time * 7 / 10


def test_supplementation_pauses_the_clock_by_exactly_the_time_left() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9, 0))
    due_before, step_due_before = d.state.due_at, d.state.step_due_at
    assert due_before == vn(2026, 3, 5, 9, 0)
    assert step_due_before is not None

    paused = vn(2026, 3, 2, 14, 0)  # day 1
    d.act(Action.REQUEST_SUPPLEMENT, PROCESSOR, paused, missing=["Bản sao giấy chứng sinh"])
    assert (d.state.status, d.state.paused_at, d.state.resume_status) == (
        Status.SUPPLEMENT_REQUESTED,
        paused,
        2,
    )
    assert d.state.due_at == due_before
    assert d.events[-1].data == {"missing": ["Bản sao giấy chứng sinh"], "reason": ""}

    resumed = vn(2026, 3, 4, 14, 0)  # two working days later
    d.act(Action.SUPPLEMENT, APPLICANT, resumed, note="Đã nộp bản sao")
    assert d.state.status is Status.ACCEPTED and d.state.paused_at is None
    assert d.state.pauses == ((paused, resumed),)
    assert d.state.due_at == vn(2026, 3, 9, 9, 0)  # 20.5 working hours were left: Wed pm, Thu, Fri, Mon am
    assert CAL.working_time_between(resumed, d.state.due_at) == CAL.working_time_between(paused, due_before)
    assert CAL.working_time_between(due_before, d.state.due_at) == 16 * H
    assert d.state.step_due_at is not None
    assert CAL.working_time_between(step_due_before, d.state.step_due_at) == 16 * H
    assert replay(d.events) == d.state


def test_fee_request_pauses_the_clock_too() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9, 0))
    d.act(Action.ASSIGN, PROCESSOR, vn(2026, 3, 2, 9, 30), assignee_id=PROCESSOR.id)
    d.act(Action.REQUEST_FEE, PROCESSOR, vn(2026, 3, 3, 9, 0), amount_vnd=30_000)
    assert (d.state.status, d.state.resume_status) == (Status.FEE_DUE, Status.IN_PROCESS)
    assert allowed_actions(d.state, PROCESSOR, d.ctx) == [Action.APOLOGISE]
    # The receiving desk may record a payment brought in person.
    d.act(Action.PAY_FEE, RECEIVER, vn(2026, 3, 4, 9, 0), reference="BL-000045")
    assert d.state.status is Status.IN_PROCESS
    assert d.state.due_at == vn(2026, 3, 6, 9, 0)  # one working day later


def test_pause_before_a_clock_that_starts_tomorrow_changes_nothing() -> None:
    terms = ProcedureTerms("1.001193", Fraction(3), TimeUnit.WORKING_DAY, cutoff=time(15, 0))
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 15, 20), terms=terms)
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 15, 30))
    due, step_due = d.state.due_at, d.state.step_due_at
    d.do(Action.REQUEST_SUPPLEMENT, PROCESSOR, vn(2026, 3, 2, 15, 40))
    d.do(Action.SUPPLEMENT, APPLICANT, vn(2026, 3, 2, 16, 30))
    assert (d.state.due_at, d.state.step_due_at) == (due, step_due)


def test_supplement_limit_of_one_is_enforced_and_not_offered() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    d.do(Action.REQUEST_SUPPLEMENT, RECEIVER, vn(2026, 3, 2, 8, 30))
    d.do(Action.SUPPLEMENT, APPLICANT, vn(2026, 3, 2, 10))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 10, 30))
    assert Action.REQUEST_SUPPLEMENT not in allowed_actions(d.state, PROCESSOR, d.ctx)
    error = error_of(d, Action.REQUEST_SUPPLEMENT, PROCESSOR, vn(2026, 3, 2, 11), missing=["Tờ khai"])
    assert isinstance(error, Conflict) and error.code == "dossier.supplement_limit"
    assert "1 lần" in error.message


def test_supplement_request_needs_a_list_of_what_is_missing() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    at = vn(2026, 3, 2, 9)
    for payload in ({}, {"missing": []}, {"missing": ["  "]}, {"missing": ""}):
        assert (
            error_of(d, Action.REQUEST_SUPPLEMENT, RECEIVER, at, **payload).code
            == "dossier.missing_list_required"
        )
    assert error_of(d, Action.REQUEST_SUPPLEMENT, RECEIVER, at, missing=5).code == "dossier.bad_list"
    d.act(Action.REQUEST_SUPPLEMENT, RECEIVER, at, missing="Tờ khai đăng ký khai sinh")
    assert d.events[-1].data["missing"] == ["Tờ khai đăng ký khai sinh"]
    for payload in ({}, {"note": "  "}, {"documents": []}):
        assert error_of(d, Action.SUPPLEMENT, APPLICANT, at, **payload).code == "dossier.supplement_empty"
    assert error_of(d, Action.SUPPLEMENT, APPLICANT, at, documents=7).code == "dossier.bad_list"


def test_fee_and_result_payloads_are_checked() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9))
    at = vn(2026, 3, 2, 10)
    for amount in (0, -1, "50000", True, 1.5, None):
        assert (
            error_of(d, Action.REQUEST_FEE, PROCESSOR, at, amount_vnd=amount).code == "dossier.bad_fee_amount"
        )
    d.do(Action.REQUEST_FEE, PROCESSOR, at)
    assert (
        error_of(d, Action.PAY_FEE, APPLICANT, at, reference=" ").code == "dossier.payment_reference_required"
    )
    d.do(Action.PAY_FEE, APPLICANT, at)
    d.do(Action.FORWARD, PROCESSOR, at)
    d.do(Action.APPROVE, APPROVER, at)
    for result in ("QĐ 123", [1, 2]):
        assert error_of(d, Action.ISSUE_RESULT, PROCESSOR, at, result=result).code == "dossier.bad_result"
    d.do(Action.ISSUE_RESULT, PROCESSOR, at)
    for method in ("fax", None):
        assert (
            error_of(d, Action.RETURN_RESULT, RETURNER, at, method=method).code == "dossier.bad_return_method"
        )
    d.act(Action.RETURN_RESULT, RETURNER, at, method="post")
    assert d.state.status is Status.RETURNED and d.events[-1].data == {"method": "post"}


# ---------------------------------------------------------------- apology, withdrawal, refusal, stop


def test_apology_sets_a_later_due_date_and_is_counted() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9))
    due = d.state.due_at
    assert due == vn(2026, 3, 5, 9)
    at = vn(2026, 3, 5, 8)
    for new_due in ("2026-03-05T09:00+07:00", "2026-03-04T16:00+07:00"):
        error = error_of(d, Action.APOLOGISE, PROCESSOR, at, reason="Cần xác minh thêm", new_due_at=new_due)
        assert error.code == "dossier.new_due_not_later"
    for new_due in ("ngày 10/3", "2026-03-10T16:00", None):
        error = error_of(d, Action.APOLOGISE, PROCESSOR, at, reason="Cần xác minh thêm", new_due_at=new_due)
        assert error.code == "dossier.bad_new_due"
    error = error_of(d, Action.APOLOGISE, PROCESSOR, at, reason="trễ", new_due_at="2026-03-10T16:00+07:00")
    assert error.code == "dossier.reason_required"

    d.act(Action.APOLOGISE, PROCESSOR, at, reason="Cần xác minh thêm", new_due_at="2026-03-10T09:00:00Z")
    assert d.state.due_at == vn(2026, 3, 10, 16, 0)
    assert d.state.apologies == 1
    assert d.events[-1].data == {
        "reason": "Cần xác minh thêm",
        "previous_due_at": "2026-03-05T09:00:00+07:00",
        "new_due_at": "2026-03-10T16:00:00+07:00",
    }
    d.act(Action.APOLOGISE, PROCESSOR, at, reason="Chờ ý kiến sở", new_due_at=vn(2026, 3, 12, 9))
    assert (d.state.apologies, d.state.due_at) == (2, vn(2026, 3, 12, 9))
    assert replay(d.events) == d.state


def _dossier_in(status: Status) -> Dossier:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    if status is Status.SUBMITTED:
        return d
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9))
    paths = {
        Status.ACCEPTED: [],
        Status.IN_PROCESS: [(Action.FORWARD, PROCESSOR)],
        Status.SUPPLEMENT_REQUESTED: [(Action.REQUEST_SUPPLEMENT, PROCESSOR)],
        Status.FEE_DUE: [(Action.REQUEST_FEE, PROCESSOR)],
        Status.RESOLVED: [
            (Action.FORWARD, PROCESSOR),
            (Action.APPROVE, APPROVER),
            (Action.ISSUE_RESULT, PROCESSOR),
        ],
    }
    for action, actor in paths[status]:
        d.do(action, actor, vn(2026, 3, 2, 10))
    assert d.state.status is status
    return d


@pytest.mark.parametrize("status", [1, 2, 4, 5, 6])
def test_applicant_may_withdraw_until_processing_ends(status: int) -> None:
    d = _dossier_in(Status(status))
    for actor in (OTHER_CITIZEN, RECEIVER, PROCESSOR, UNIT_ADMIN, AGENT):
        error = error_of(d, Action.WITHDRAW, actor, vn(2026, 3, 3, 9))
        assert isinstance(error, Forbidden) and error.code == "dossier.not_applicant"
    assert Action.WITHDRAW in allowed_actions(d.state, APPLICANT, d.ctx)
    d.act(Action.WITHDRAW, APPLICANT, vn(2026, 3, 3, 9))
    assert d.state.status is Status.WITHDRAWN and d.state.closed_at == vn(2026, 3, 3, 9)
    assert d.state.paused_at is None
    if status in (5, 6):
        assert d.state.pauses[-1] == (vn(2026, 3, 2, 10), vn(2026, 3, 3, 9))
    assert replay(d.events) == d.state


@pytest.mark.parametrize("status", [9, 7])
def test_withdrawal_after_processing_is_a_conflict(status: int) -> None:
    d = _dossier_in(Status.RESOLVED if status == 9 else Status.SUBMITTED)
    if status == 7:
        d.do(Action.WITHDRAW, APPLICANT, vn(2026, 3, 2, 11))
    error = error_of(d, Action.WITHDRAW, APPLICANT, vn(2026, 3, 3, 9))
    assert isinstance(error, Conflict) and error.code == "dossier.action_not_allowed_in_status"
    assert error.details == {"status": status}


def test_agent_who_filed_may_withdraw_for_the_applicant() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8), channel=Channel.AGENT, actor=AGENT)
    d.do(Action.WITHDRAW, AGENT, vn(2026, 3, 2, 9))
    assert d.state.status is Status.WITHDRAWN


def test_refuse_reception_needs_a_reason() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    for reason in ("", "sai", "abcd ", None):
        error = error_of(d, Action.REFUSE_RECEPTION, RECEIVER, vn(2026, 3, 2, 9), reason=reason)
        assert isinstance(error, InvalidInput) and error.code == "dossier.reason_required"
    d.act(Action.REFUSE_RECEPTION, RECEIVER, vn(2026, 3, 2, 9), reason="Không thuộc thẩm quyền")
    assert (d.state.status, d.state.due_at, d.state.closed_at) == (Status.REJECTED, None, vn(2026, 3, 2, 9))
    assert allowed_actions(d.state, APPLICANT, d.ctx) == []


def test_refuse_reception_after_a_supplement_request_at_reception() -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8))
    d.do(Action.REQUEST_SUPPLEMENT, RECEIVER, vn(2026, 3, 2, 9))
    assert Action.REFUSE_RECEPTION in allowed_actions(d.state, RECEIVER, d.ctx)
    d.do(Action.REFUSE_RECEPTION, RECEIVER, vn(2026, 3, 9, 9))
    assert d.state.status is Status.REJECTED and d.state.paused_at is None
    assert d.state.pauses == ((vn(2026, 3, 2, 9), vn(2026, 3, 9, 9)),)


def test_refuse_reception_is_impossible_once_accepted() -> None:
    d = _dossier_in(Status.SUPPLEMENT_REQUESTED)
    error = error_of(d, Action.REFUSE_RECEPTION, PROCESSOR, vn(2026, 3, 3, 9), reason=REASON)
    assert isinstance(error, Conflict)
    # Even where a workflow lets the processing step refuse reception, an accepted dossier cannot be.
    data = workflow_data("tieu-chuan")
    data["steps"][1]["may"].append("refuse_reception")
    ctx = context(parse_workflow(data))
    d = open_dossier(ctx, vn(2026, 3, 2, 8))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9))
    d.do(Action.REQUEST_SUPPLEMENT, PROCESSOR, vn(2026, 3, 2, 10))
    assert Action.REFUSE_RECEPTION not in allowed_actions(d.state, PROCESSOR, ctx)
    error = error_of(d, Action.REFUSE_RECEPTION, PROCESSOR, vn(2026, 3, 3, 9), reason=REASON)
    assert isinstance(error, Conflict) and error.code == "dossier.already_accepted"


def test_refusal_by_the_approver_goes_straight_to_the_return_desk() -> None:
    d = _dossier_in(Status.IN_PROCESS)
    assert (
        error_of(d, Action.REFUSE, APPROVER, vn(2026, 3, 3, 9), reason="sai").code
        == "dossier.reason_required"
    )
    d.do(Action.REFUSE, APPROVER, vn(2026, 3, 3, 9))
    assert (d.state.status, d.state.step, d.state.outcome) == (Status.RESOLVED, "tra_ket_qua", "refused")
    d.do(Action.RETURN_RESULT, RETURNER, vn(2026, 3, 3, 10))
    assert d.state.status is Status.RETURNED and d.state.outcome == "refused"


def test_send_back_returns_to_processing_with_a_fresh_step_deadline() -> None:
    d = _dossier_in(Status.IN_PROCESS)
    assert error_of(d, Action.SEND_BACK, APPROVER, vn(2026, 3, 3, 9)).code == "dossier.reason_required"
    d.do(Action.SEND_BACK, APPROVER, vn(2026, 3, 3, 9))
    assert (d.state.step, d.state.status) == ("xu_ly", Status.IN_PROCESS)
    assert d.state.step_due_at == vn(2026, 3, 5, 9, 48)
    assert d.events[-1].data["from_step"] == "phe_duyet" and d.events[-1].data["to_step"] == "xu_ly"


def test_stop_by_the_approver_needs_a_reason_and_is_final() -> None:
    d = _dossier_in(Status.IN_PROCESS)
    assert error_of(d, Action.STOP, APPROVER, vn(2026, 3, 3, 9)).code == "dossier.reason_required"
    d.do(Action.STOP, APPROVER, vn(2026, 3, 3, 9))
    assert d.state.status is Status.STOPPED and d.state.step_due_at is None
    assert all(allowed_actions(d.state, actor, d.ctx) == [] for actor in CAST)


def test_time_never_goes_back() -> None:
    d = _dossier_in(Status.SUPPLEMENT_REQUESTED)
    assert d.state.step_entered_at == vn(2026, 3, 2, 9)
    for at in (vn(2026, 3, 2, 8, 59), vn(2026, 3, 2, 9, 30)):  # before the step, before the pause
        error = error_of(d, Action.SUPPLEMENT, APPLICANT, at, note="Đã bổ sung")
        assert error.code == "dossier.time_goes_back"
    d.do(Action.SUPPLEMENT, APPLICANT, vn(2026, 3, 3, 9))
    error = error_of(d, Action.FORWARD, PROCESSOR, vn(2026, 3, 3, 8))  # before the supplement
    assert error.code == "dossier.time_goes_back"


def test_submit_is_not_a_command_and_workflow_versions_must_match() -> None:
    d = _dossier_in(Status.SUBMITTED)
    assert error_of(d, Action.SUBMIT, APPLICANT, vn(2026, 3, 2, 9)).code == "dossier.already_submitted"
    d.ctx = context(LIEN_THONG)
    assert error_of(d, Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9)).code == "dossier.workflow_mismatch"


# ---------------------------------------------------------------- assignment


def test_assignment_reserves_the_dossier_and_the_unit_admin_may_reassign() -> None:
    d = _dossier_in(Status.ACCEPTED)
    at = vn(2026, 3, 2, 10)
    d.act(Action.ASSIGN, PROCESSOR, at, assignee_id=PROCESSOR.id)
    assert (d.state.status, d.state.assignee_id) == (Status.IN_PROCESS, PROCESSOR.id)
    for action in (Action.FORWARD, Action.ASSIGN):
        error = error_of(d, action, PROCESSOR_2, at, **valid_payload(action, d.state, at))
        assert isinstance(error, Forbidden) and error.code == "dossier.assigned_to_other"
    assert allowed_actions(d.state, PROCESSOR_2, d.ctx) == []
    assert (
        error_of(d, Action.ASSIGN, DEPT_UNIT_ADMIN, at, assignee_id="x").code == "dossier.wrong_role_or_unit"
    )

    d.act(Action.ASSIGN, UNIT_ADMIN, at, assignee_id=PROCESSOR_2.id)
    assert d.state.assignee_id == PROCESSOR_2.id
    assert allowed_actions(d.state, UNIT_ADMIN, d.ctx) == [Action.ASSIGN]
    assert error_of(d, Action.FORWARD, PROCESSOR, at).code == "dossier.assigned_to_other"
    assert error_of(d, Action.ASSIGN, PROCESSOR_2, at, assignee_id=" ").code == "dossier.assignee_required"
    d.do(Action.FORWARD, PROCESSOR_2, at)
    assert d.state.assignee_id is None  # a new step is open to every officer of its role


# ---------------------------------------------------------------- authorisation matrix


@dataclass(frozen=True)
class Expectation:
    """Who may take an action now. `open_to` is None when the status or the step rules it out for everyone
    (a Conflict for all); `blocked` when the dossier's history does (Forbidden for outsiders, Conflict for
    the officers who would otherwise be allowed)."""

    open_to: frozenset[str] | None
    blocked: bool = False

    def check(self, actor: Actor, error: DomainError | None, where: object) -> None:
        if self.open_to is None:
            assert isinstance(error, Conflict), (where, actor.id, error)
        elif actor.id not in self.open_to:
            assert isinstance(error, Forbidden), (where, actor.id, error)
        elif self.blocked:
            assert isinstance(error, Conflict), (where, actor.id, error)
        else:
            assert error is None, (where, actor.id, error)


def expected(state: DossierState, action: Action, ctx: Context) -> Expectation:
    """The rules, by role, unit, assignment and being the applicant (DOMAIN.md §2)."""
    step = ctx.workflow.step(state.step)
    if state.status not in ALLOWED_FROM[action]:
        return Expectation(None)
    if action in APPLICANT_ACTIONS:
        people = {APPLICANT.id} | {
            a.id for a in CAST if a.id == state.submitted_by and a.kind is not ActorKind.OFFICER
        }
        if action in (Action.SUPPLEMENT, Action.PAY_FEE):
            people.add(f"{state.receiving_unit_id}/receiver/1")
        return Expectation(frozenset(people))
    if not step.allows(action.value):
        return Expectation(None)
    workers = {a.id for a in OFFICERS if a.unit_id == state.step_unit_id and step.role in a.roles}
    if state.assignee_id is not None:
        workers &= {state.assignee_id}
    if action is Action.ASSIGN:
        workers.add(f"{state.step_unit_id}/unit_admin/1")
    limit = ctx.workflow.supplement_limit
    blocked = (
        action is Action.REQUEST_SUPPLEMENT and limit is not None and state.supplement_requests >= limit
    ) or (action is Action.REFUSE_RECEPTION and state.resume_status not in (None, Status.SUBMITTED))
    return Expectation(frozenset(workers), blocked)


def later(d: Dossier) -> datetime:
    return d.last_at + H


def explore(ctx: Context, channel: Channel, submitter: Actor) -> list[Dossier]:
    """Every abstract state the workflow can reach with valid commands, checking the authorisation matrix
    at each: exactly the expected actors may act, the others are refused, `allowed_actions` agrees."""
    seen: dict[tuple[Any, ...], Dossier] = {}
    frontier = [open_dossier(ctx, vn(2026, 3, 2, 8), channel=channel, actor=submitter)]
    while frontier:
        d = frontier.pop()
        s = d.state
        key = (s.step, s.status, s.resume_status, s.assignee_id, s.supplement_requests, s.outcome)
        if key in seen:
            continue
        seen[key] = d
        at = later(d)
        snapshot = copy.deepcopy(s)
        accepted: dict[str, set[Action]] = {actor.id: set() for actor in CAST}
        for action in set(Action) - {Action.SUBMIT}:
            expectation = expected(s, action, ctx)
            for actor in CAST:
                attempt = Dossier(ctx, s, list(d.events))
                try:
                    attempt.do(action, actor, at)
                except (Forbidden, Conflict) as error:
                    expectation.check(actor, error, (key, action))
                    continue
                expectation.check(actor, None, (key, action))
                accepted[actor.id].add(action)
                frontier.append(attempt)
        assert d.state == snapshot  # refused and accepted attempts alike left the state as it was
        for actor in CAST:
            assert set(allowed_actions(s, actor, ctx)) == accepted[actor.id], (key, actor.id)
    return list(seen.values())


MATRIX_CASES = [
    ("tieu-chuan, commune-level, online", TIEU_CHUAN, WARD, Channel.ONLINE, APPLICANT),
    ("tieu-chuan, department decides, desk", TIEU_CHUAN, DEPT, Channel.DESK, RECEIVER),
    ("lien-thong, agent filing", LIEN_THONG, DEPT, Channel.AGENT, AGENT),
]


@pytest.mark.parametrize(
    ("workflow", "competent", "channel", "submitter"),
    [case[1:] for case in MATRIX_CASES],
    ids=[case[0] for case in MATRIX_CASES],
)
def test_authorisation_matrix_over_every_reachable_state(
    workflow: Workflow, competent: str, channel: Channel, submitter: Actor
) -> None:
    ctx = context(workflow, competent=competent)
    reached = explore(ctx, channel, submitter)
    assert {d.state.step for d in reached} == {step.id for step in workflow.steps}
    assert {d.state.status for d in reached} == set(Status)
    assert {d.state.step_unit_id for d in reached} == {WARD, competent}
    for d in reached:
        assert replay(d.events) == d.state


def test_actor_who_holds_the_role_elsewhere_or_another_role_here_is_forbidden() -> None:
    d = _dossier_in(Status.ACCEPTED)
    at = vn(2026, 3, 2, 10)
    outsiders = [officer(DEPT, Role.PROCESSOR), APPROVER, RECEIVER, RETURNER, APPLICANT, OTHER_CITIZEN, AGENT]
    for actor in outsiders:
        error = error_of(d, Action.FORWARD, actor, at)
        assert isinstance(error, Forbidden) and error.code == "dossier.wrong_role_or_unit", actor.id
        assert "Chuyên viên xử lý" in error.message
    two_roles = Actor(
        "can-bo-kiem-nhiem", ActorKind.OFFICER, frozenset({Role.RECEIVER, Role.PROCESSOR}), WARD
    )
    d.do(Action.FORWARD, two_roles, at)
    assert d.state.step == "phe_duyet"


# ---------------------------------------------------------------- serialisation


def test_state_round_trips_through_its_dictionary_form() -> None:
    terms = ProcedureTerms("1.001193", Fraction(5, 2), TimeUnit.WORKING_DAY, cutoff=time(15, 0))
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8), terms=terms)
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9))
    d.do(Action.REQUEST_SUPPLEMENT, PROCESSOR, vn(2026, 3, 2, 10))
    d.do(Action.SUPPLEMENT, APPLICANT, vn(2026, 3, 3, 10))
    encoded = state_to_dict(d.state)
    assert encoded["status"] == 2 and encoded["time_amount"] == "5/2" and encoded["cutoff"] == "15:00"
    assert encoded["pauses"] == [["2026-03-02T10:00:00+07:00", "2026-03-03T10:00:00+07:00"]]
    assert state_from_dict(encoded) == d.state
    assert replay(d.events) == d.state


def test_replay_refuses_a_log_with_a_gap_or_without_the_submission() -> None:
    d = _dossier_in(Status.IN_PROCESS)
    for broken in (d.events[1:], [d.events[0], d.events[2]], []):
        with pytest.raises(InvalidInput) as caught:
            replay(broken)
        assert caught.value.code == "dossier.bad_event_log"
