"""Whole dossier lives through the HTTP API, as the people involved see them: statuses, legal deadlines on the
working calendar, history, the actions each caller is offered, public tracking and the audit trail.

The clock starts on Monday 2 March 2026 (no holiday in the weeks used here); office hours are 07:30-11:30 and
13:00-17:00, so one working day is 8 hours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import VN_TZ
from motcua.services.audit import audit_trail, verify_audit
from motcua.services.dossiers import replay_check
from tests.api.conftest import DEPARTMENT, KHAI_SINH, WARD, DossierApi

CONGDAN_ID = "cd-079090001234"
CONGDAN_NAME = "Nguyễn Văn An"
CONGDAN_PERSONAL_ID = "079090001234"
WARD_CODE = "068.00.70.H29"
TAM_TRU = "1.004194"  # Đăng ký tạm trú: 3 working days, received by the commune police
CAP_LAI_GCN = "1.012786"  # Cấp lại GCN do bị mất: liên thông xã → Sở NN&MT, 10 working days
WARD_POLICE = "cong-an-phuong-sai-gon"


def _typed_texts(value: Any) -> Iterator[str]:
    """The texts a citizen typed into a form (names, numbers, addresses, dates), not short choices."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _typed_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _typed_texts(item)
    elif isinstance(value, str) and len(value) >= 5:
        yield value


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=VN_TZ)


def _history(view: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    return [(e["seq"], e["type"], e["actor_id"], e["at"]) for e in view["history"]]


def _replays(api: DossierApi, code: str) -> bool:
    """The stored dossier equals the fold of its event log."""
    with api.db.read() as conn:
        return replay_check(conn, code)


def _accepted_khai_sinh(api: DossierApi) -> str:
    """A birth registration filed online by `congdan` at 09:00 and accepted at 09:30 (due Tue 09:30)."""
    api.at("2026-03-02 09:00")
    code: str = api.submit("congdan")["code"]
    api.at("2026-03-02 09:30")
    api.act("sg.tiepnhan", code, "accept")
    return code


# ---------------------------------------------------------------- (a) the standard life, step by step


def test_birth_registration_online_from_filing_to_handing_over(api: DossierApi) -> None:
    form = api.example_form(KHAI_SINH)
    api.at("2026-03-02 09:00")
    filed = api.submit("congdan", form_data=form)
    code = filed["code"]
    assert code == f"{WARD_CODE}-260302-0001"
    assert filed["status"]["code"] == 1
    assert filed["applicant"] == {"id": CONGDAN_ID, "name": CONGDAN_NAME}
    assert filed["dates"]["submitted_at"] == "2026-03-02T09:00:00+07:00"
    assert filed["dates"]["due_at"] is None  # the legal clock starts at acceptance
    assert filed["allowed_actions"] == ["withdraw"]
    assert api.get("sg.tiepnhan", code)["allowed_actions"] == [
        "accept",
        "refuse_reception",
        "request_supplement",
    ]
    assert api.get("sg.xuly", code)["allowed_actions"] == []

    # 1 working day from 09:30 Monday: 2 h + 4 h on Monday, 2 h on Tuesday → Tuesday 09:30.
    api.at("2026-03-02 09:30")
    accepted = api.act("sg.tiepnhan", code, "accept")
    assert accepted["status"]["code"] == 2
    assert accepted["dates"]["accepted_at"] == "2026-03-02T09:30:00+07:00"
    assert accepted["dates"]["due_at"] == "2026-03-03T09:30:00+07:00"
    # The processing step gets 7/10 of the 8 hours (5 h 36 min): 09:30-11:30 then 13:00-16:36.
    assert accepted["step"]["id"] == "xu_ly"
    assert accepted["step"]["due_at"] == "2026-03-02T16:36:00+07:00"
    assert accepted["allowed_actions"] == []
    assert api.get("sg.xuly", code)["allowed_actions"] == [
        "assign",
        "forward",
        "request_supplement",
        "request_fee",
        "apologise",
    ]
    assert api.get("sg.quantri", code)["allowed_actions"] == ["assign"]
    assert api.get("congdan", code)["allowed_actions"] == ["withdraw"]

    api.at("2026-03-02 10:00")
    forwarded = api.act("sg.xuly", code, "forward", note="Đủ điều kiện đăng ký")
    assert (forwarded["status"]["code"], forwarded["step"]["id"]) == (4, "phe_duyet")
    assert api.get("sg.pheduyet", code)["allowed_actions"] == [
        "send_back",
        "approve",
        "refuse",
        "stop",
        "apologise",
    ]
    assert api.get("sg.quantri", code)["allowed_actions"] == []

    api.at("2026-03-02 10:30")
    approved = api.act("sg.pheduyet", code, "approve")
    assert (approved["status"]["code"], approved["step"]["id"], approved["outcome"]) == (
        4,
        "ban_hanh",
        "approved",
    )
    assert api.get("sg.xuly", code)["allowed_actions"] == ["issue_result", "apologise"]

    api.at("2026-03-02 11:00")
    issued = api.act("sg.xuly", code, "issue_result", result={"so_dang_ky": "125/2026"})
    assert (issued["status"]["code"], issued["step"]["id"]) == (9, "tra_ket_qua")
    assert issued["dates"]["resolved_at"] == "2026-03-02T11:00:00+07:00"
    assert api.get("sg.traketqua", code)["allowed_actions"] == ["return_result"]
    assert api.get("congdan", code)["allowed_actions"] == []  # too late to withdraw a decided dossier

    api.at("2026-03-02 14:00")
    returned = api.act("sg.traketqua", code, "return_result", method="desk")
    assert returned["status"] == {"code": 10, "label": "Đã trả kết quả"}
    assert returned["dates"]["returned_at"] == returned["dates"]["closed_at"] == "2026-03-02T14:00:00+07:00"
    assert returned["timeliness"] == {"code": "early", "label": "Trước hạn"}  # done the day before it was due
    for username in ("congdan", "sg.tiepnhan", "sg.xuly", "sg.pheduyet", "sg.traketqua", "sg.quantri"):
        assert api.get(username, code)["allowed_actions"] == []
    assert _history(returned) == [
        (1, "submit", CONGDAN_ID, "2026-03-02T09:00:00+07:00"),
        (2, "accept", "sg.tiepnhan", "2026-03-02T09:30:00+07:00"),
        (3, "forward", "sg.xuly", "2026-03-02T10:00:00+07:00"),
        (4, "approve", "sg.pheduyet", "2026-03-02T10:30:00+07:00"),
        (5, "issue_result", "sg.xuly", "2026-03-02T11:00:00+07:00"),
        (6, "return_result", "sg.traketqua", "2026-03-02T14:00:00+07:00"),
    ]
    assert returned["history"][5]["data"] == {"method": "desk"}
    assert returned["history"][1]["actor_unit_id"] == WARD

    tracked = api.track(code)
    assert tracked["status"]["code"] == 10
    assert tracked["receiving_unit"] == "Phường Sài Gòn"
    assert tracked["dates"] == returned["dates"]
    published = json.dumps(tracked, ensure_ascii=False)
    personal = {CONGDAN_NAME, CONGDAN_PERSONAL_ID, CONGDAN_ID, *_typed_texts(form)}
    assert len(personal) > 15  # names, ID numbers, phone, e-mail, addresses, dates of birth
    assert [value for value in personal if value in published] == []


def test_public_tracking_follows_each_status_without_login(api: DossierApi) -> None:
    code = _accepted_khai_sinh(api)
    assert api.track(code)["status"]["code"] == 2
    api.act("sg.xuly", code, "forward")
    assert api.track(code)["status"] == {"code": 4, "label": "Đang xử lý"}
    tracked = api.track(f"  {code}  ")  # pasted with spaces
    assert tracked["code"] == code
    assert tracked["dates"]["due_at"] == "2026-03-03T09:30:00+07:00"
    assert tracked["timeliness"] == {"code": "within_time", "label": "Trong hạn"}


# ---------------------------------------------------------------- (b) supplementation pauses the clock


def test_supplement_request_pauses_the_clock_and_the_supplement_resumes_it(
    api: DossierApi, calendar: BusinessCalendar
) -> None:
    code = _accepted_khai_sinh(api)
    api.at("2026-03-02 10:00")
    paused = api.act("sg.xuly", code, "request_supplement", missing=["Giấy chứng sinh (bản chính)"])
    assert paused["status"]["code"] == 5
    assert paused["paused"] is True
    assert paused["history"][-1]["data"]["missing"] == ["Giấy chứng sinh (bản chính)"]
    assert api.get("congdan", code)["allowed_actions"] == ["supplement", "withdraw"]
    assert api.track(code)["paused"] is True

    # Waiting from Monday 10:00 to Wednesday 14:00 is 18 h 30 min of office time; the due instant (Tue 09:30)
    # moves by exactly that: Tue 09:30 + 18 h 30 min = Thu 13:30. The step deadline (Mon 16:36, 5 h 06 min
    # left at the request) resumes at Wed 14:00 → Thu 09:36.
    api.at("2026-03-04 14:00")
    resumed = api.act("congdan", code, "supplement", note="Đã nộp bổ sung", documents=["giay-chung-sinh.pdf"])
    assert resumed["status"]["code"] == 2
    assert resumed["paused"] is False
    assert resumed["dates"]["due_at"] == "2026-03-05T13:30:00+07:00"
    assert resumed["step"]["due_at"] == "2026-03-05T09:36:00+07:00"
    paused_for = calendar.working_time_between(_instant("2026-03-02T10:00"), _instant("2026-03-04T14:00"))
    moved_by = calendar.working_time_between(
        _instant("2026-03-03T09:30"), _instant(resumed["dates"]["due_at"])
    )
    assert paused_for == moved_by == timedelta(hours=18, minutes=30)
    assert api.track(code)["dates"]["due_at"] == "2026-03-05T13:30:00+07:00"
    # Only one supplementation request per dossier: it is no longer offered.
    assert api.get("sg.xuly", code)["allowed_actions"] == ["assign", "forward", "request_fee", "apologise"]
    assert [e["type"] for e in resumed["history"]] == ["submit", "accept", "request_supplement", "supplement"]
    assert resumed["history"][-1]["actor_id"] == CONGDAN_ID


# ---------------------------------------------------------------- (c) liên thông xã → sở → xã


@pytest.mark.usefixtures("department_officers")
def test_lien_thong_dossier_goes_to_the_department_and_back_to_the_ward(api: DossierApi) -> None:
    api.at("2026-03-02 09:00")
    code = api.submit("congdan", CAP_LAI_GCN)["code"]
    api.at("2026-03-02 09:30")
    accepted = api.act("sg.tiepnhan", code, "accept")
    assert accepted["workflow"]["id"] == "lien-thong-xa-tinh"
    assert accepted["competent_unit"]["id"] == DEPARTMENT
    assert accepted["dates"]["due_at"] == "2026-03-16T09:30:00+07:00"  # 10 working days, Mon → Mon 2 weeks on
    assert (accepted["step"]["id"], accepted["step"]["unit"]["id"]) == ("tham_dinh_xa", WARD)

    steps = [
        ("2026-03-03 10:00", "sg.xuly", "forward", "xac_nhan_xa", WARD),
        ("2026-03-03 15:00", "sg.pheduyet", "forward", "xu_ly_so", DEPARTMENT),
        ("2026-03-05 10:00", "snnmt.xuly", "forward", "phe_duyet_so", DEPARTMENT),
        ("2026-03-06 14:00", "snnmt.pheduyet", "approve", "ban_hanh", DEPARTMENT),
        ("2026-03-09 08:00", "snnmt.xuly", "issue_result", "tra_ket_qua", WARD),
    ]
    for local_time, username, action, next_step, next_unit in steps:
        api.at(local_time)
        assert action in api.get(username, code)["allowed_actions"]
        view = api.act(username, code, action)
        assert (view["step"]["id"], view["step"]["unit"]["id"]) == (next_step, next_unit)

    at_department = [e for e in view["history"] if e["actor_unit_id"] == DEPARTMENT]
    assert [e["type"] for e in at_department] == ["forward", "approve", "issue_result"]
    assert view["status"]["code"] == 9
    assert api.get("snnmt.xuly", code)["allowed_actions"] == []  # back at the ward: nothing left to do there
    api.at("2026-03-09 09:00")
    returned = api.act("sg.traketqua", code, "return_result", method="post")
    assert returned["status"]["code"] == 10
    assert returned["timeliness"]["code"] == "early"
    assert _replays(api, code)


@pytest.mark.usefixtures("department_officers")
def test_department_officers_see_the_dossier_in_their_queue_only_while_it_is_theirs(api: DossierApi) -> None:
    api.at("2026-03-02 09:00")
    code = api.submit("congdan", CAP_LAI_GCN)["code"]
    api.act("sg.tiepnhan", code, "accept")

    def in_unit_queue(username: str) -> bool:
        page = api.call("GET", "/api/v1/dossiers?queue=unit", username, expect=200)
        return code in [item["code"] for item in page["items"]]

    assert (in_unit_queue("sg.xuly"), in_unit_queue("snnmt.xuly")) == (True, False)
    api.act("sg.xuly", code, "forward")
    api.act("sg.pheduyet", code, "forward")
    assert (in_unit_queue("sg.xuly"), in_unit_queue("snnmt.xuly")) == (False, True)


# ---------------------------------------------------------------- (d) (e) desk and agent filings


def test_desk_filing_for_a_walk_in_citizen_is_accepted_at_once(api: DossierApi) -> None:
    walk_in = {"full_name": "  Lê   Thị Mai ", "personal_id": "079185012345", "phone": "0909123456"}
    api.at("2026-03-02 15:30")  # after the 15:00 cut-off: the clock starts on Tuesday morning
    filed = api.submit("sg.tiepnhan", channel="desk", applicant=walk_in)
    assert filed["status"]["code"] == 2
    assert filed["channel"] == {"code": "desk", "label": "Trực tiếp"}
    assert filed["applicant"] == {"id": "cd-079185012345", "name": "Lê Thị Mai"}
    assert filed["dates"]["submitted_at"] == filed["dates"]["accepted_at"] == "2026-03-02T15:30:00+07:00"
    assert filed["dates"]["due_at"] == "2026-03-03T17:00:00+07:00"  # one full working day: Tuesday
    assert [(e["type"], e["actor_id"]) for e in filed["history"]] == [
        ("submit", "sg.tiepnhan"),
        ("accept", "sg.tiepnhan"),
    ]
    assert "forward" in api.get("sg.xuly", filed["code"])["allowed_actions"]
    # The walk-in citizen has a record but no password: nobody can log in as them.
    api.call(
        "POST",
        "/api/v1/auth/token",
        json={"username": "cd-079185012345", "password": "motcua-demo-2026"},
        expect=401,
    )


def test_post_office_agent_files_for_a_citizen_who_then_sees_it(api: DossierApi) -> None:
    someone = {"full_name": "Trần Thị Bình", "personal_id": "079192004321"}  # congdan2's own ID
    filed = api.submit("buudien", channel="agent", applicant=someone)
    code = filed["code"]
    assert filed["status"]["code"] == 1  # the ward still has to accept it
    assert filed["channel"] == {"code": "agent", "label": "Qua nhân viên bưu điện"}
    assert filed["applicant"] == {"id": "cd-079192004321", "name": "Trần Thị Bình"}
    assert filed["history"][0]["actor_id"] == "buudien"
    assert filed["allowed_actions"] == ["withdraw"]
    mine = api.call("GET", "/api/v1/dossiers", "congdan2", expect=200)
    assert [item["code"] for item in mine["items"]] == [code]
    assert api.get("congdan2", code)["allowed_actions"] == ["withdraw"]
    accepted = api.act("sg.tiepnhan", code, "accept")
    assert accepted["status"]["code"] == 2
    assert api.get("buudien", code)["status"]["code"] == 2


# ---------------------------------------------------------------- (f) residence at the commune police


def test_temporary_residence_processed_by_the_commune_police(api: DossierApi) -> None:
    api.at("2026-03-02 09:00")
    filed = api.submit("congdan", TAM_TRU, WARD_POLICE)
    code = filed["code"]
    assert code == "068.00.29.G01-260302-0001"
    assert filed["receiving_unit"]["name"] == "Công an phường Sài Gòn"
    api.get("sg.tiepnhan", code, expect=404)  # the ward's one-stop desk has nothing to do with it

    actions: list[tuple[str, dict[str, Any]]] = [
        ("accept", {}),
        ("forward", {}),
        ("approve", {}),
        ("issue_result", {}),
        ("return_result", {"method": "online"}),
    ]
    statuses = []
    for minute, (action, payload) in enumerate(actions, start=1):
        api.at(f"2026-03-02 09:{minute * 10}")
        assert action in api.get("ca.saigon", code)["allowed_actions"]
        view = api.act("ca.saigon", code, action, **payload)
        statuses.append(view["status"]["code"])
        if action == "accept":  # 3 working days from Monday 09:10
            assert view["dates"]["due_at"] == "2026-03-05T09:10:00+07:00"
    assert statuses == [2, 4, 4, 9, 10]
    assert {e["actor_unit_id"] for e in view["history"][1:]} == {WARD_POLICE}


# ---------------------------------------------------------------- (g) (h) (i) refusal, withdrawal, apology


def test_refusal_at_approval_is_recorded_with_its_reason_and_returned(api: DossierApi) -> None:
    code = _accepted_khai_sinh(api)
    api.act("sg.xuly", code, "forward")
    api.at("2026-03-02 11:00")
    reason = "Người yêu cầu không có quyền đăng ký khai sinh cho trẻ"
    refused = api.act("sg.pheduyet", code, "refuse", reason=reason)
    assert refused["status"]["code"] == 9
    assert refused["outcome"] == "refused"
    assert refused["step"]["id"] == "tra_ket_qua"
    assert refused["dates"]["resolved_at"] == "2026-03-02T11:00:00+07:00"
    assert refused["history"][-1]["data"] == {"reason": reason}
    returned = api.act("sg.traketqua", code, "return_result", method="desk")
    assert (returned["status"]["code"], returned["outcome"]) == (10, "refused")
    assert api.get("congdan", code)["history"][-2]["data"]["reason"] == reason  # the citizen can read why


def test_citizen_withdraws_and_nobody_can_act_any_more(api: DossierApi) -> None:
    code = _accepted_khai_sinh(api)
    api.at("2026-03-02 10:15")
    withdrawn = api.act("congdan", code, "withdraw", reason="Tôi nộp nhầm thủ tục")
    assert withdrawn["status"] == {"code": 7, "label": "Công dân yêu cầu rút hồ sơ"}
    assert withdrawn["dates"]["closed_at"] == "2026-03-02T10:15:00+07:00"
    assert withdrawn["timeliness"] is None
    assert withdrawn["allowed_actions"] == []
    assert api.get("sg.xuly", code)["allowed_actions"] == []
    conflict = api.act("sg.xuly", code, "forward", expect=409)
    assert conflict["error"]["code"] == "dossier.action_not_allowed_in_status"
    assert api.track(code)["status"]["code"] == 7


def test_late_dossier_gets_an_apology_and_a_new_date(api: DossierApi) -> None:
    code = _accepted_khai_sinh(api)  # due Tuesday 09:30
    api.at("2026-03-03 10:00")
    late = api.get("sg.xuly", code)
    assert late["timeliness"] == {"code": "overdue", "label": "Quá hạn"}
    assert api.track(code)["timeliness"]["code"] == "overdue"
    reason = "Cần xác minh thông tin nơi sinh với bệnh viện"
    apologised = api.act("sg.xuly", code, "apologise", reason=reason, new_due_at="2026-03-04T16:00:00+07:00")
    assert apologised["dates"]["due_at"] == "2026-03-04T16:00:00+07:00"
    assert apologised["apologies"] == 1
    assert apologised["status"]["code"] == 2  # still being processed
    assert apologised["history"][-1]["data"] == {
        "reason": reason,
        "previous_due_at": "2026-03-03T09:30:00+07:00",
        "new_due_at": "2026-03-04T16:00:00+07:00",
    }
    assert api.track(code)["dates"]["due_at"] == "2026-03-04T16:00:00+07:00"
    assert api.get("congdan", code)["apologies"] == 1
    # The apology gives the citizen a new appointment; reports still judge the dossier on the legal deadline.
    assert apologised["dates"]["legal_due_at"] == "2026-03-03T09:30:00+07:00"
    assert apologised["timeliness"]["code"] == "overdue"


# ---------------------------------------------------------------- (6) audit


def test_every_event_of_a_life_has_one_audit_entry_naming_its_actor(api: DossierApi) -> None:
    code = _accepted_khai_sinh(api)
    api.act("sg.xuly", code, "forward")
    api.act("sg.pheduyet", code, "approve")
    api.act("sg.xuly", code, "issue_result")
    returned = api.act("sg.traketqua", code, "return_result", method="desk")
    with api.db.read() as conn:
        report = verify_audit(conn)
        trail = audit_trail(conn, "dossier", code)
    assert report.ok, report.problems
    assert _replays(api, code)
    assert [(entry["action"], entry["actor_id"]) for entry in trail] == [
        (f"dossier.{event['type']}", event["actor_id"]) for event in returned["history"]
    ]
    assert [entry["data"]["seq"] for entry in trail] == [1, 2, 3, 4, 5, 6]
    assert [entry["unit_id"] for entry in trail] == [None, WARD, WARD, WARD, WARD, WARD]
    roles = ["citizen", "receiver", "processor", "approver", "processor", "returner"]
    assert [entry["actor_role"] for entry in trail] == roles  # the role each step needed


def test_an_officer_with_many_roles_is_audited_under_the_role_each_step_needed(api: DossierApi) -> None:
    code = api.submit("congdan", TAM_TRU, WARD_POLICE)["code"]
    for action in ("accept", "forward", "approve"):
        api.act("ca.saigon", code, action)
    with api.db.read() as conn:
        trail = audit_trail(conn, "dossier", code)
    assert [entry["actor_role"] for entry in trail] == ["citizen", "receiver", "processor", "approver"]
