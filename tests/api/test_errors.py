"""Bad requests: each is a 4xx with {"error": {"code", "message"}}, a stable code and a Vietnamese message, never
a 500, and nothing is stored — no dossier, event, audit entry, account or code number, and the dossiers acted
on keep their version and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.conftest import KHAI_SINH, WARD, DossierApi, assert_error

TAM_TRU = "1.004194"
WALK_IN = {"full_name": "Lê Thị Mai", "personal_id": "079185012345"}


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # {processing} and {approval}: the codes of the dossiers at those steps
    status: int
    code: str
    username: str | None = "congdan"
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _filing(**changes: Any) -> dict[str, Any]:
    """A filing body. The form `"EXAMPLE"` stands for the birth registration's valid sample form, so that
    only the changed field is wrong."""
    return {"procedure_code": KHAI_SINH, "receiving_unit_id": WARD, "form_data": "EXAMPLE", **changes}


def _action(action: str, **payload: Any) -> dict[str, Any]:
    return {"action": action, "payload": payload}


JSON = {"content-type": "application/json"}
DOSSIERS = "/api/v1/dossiers"
PROCESSING = "/api/v1/dossiers/{processing}/actions"
APPROVAL = "/api/v1/dossiers/{approval}/actions"

CASES = [
    # ---- filing
    Case(
        "malformed-json",
        "POST",
        DOSSIERS,
        400,
        "request.error",
        content=b'{"procedure_code": "1.0',
        headers=JSON,
    ),
    Case("not-json", "POST", DOSSIERS, 400, "request.error", content=b"procedure_code=1.001193"),
    Case("body-is-a-list", "POST", DOSSIERS, 400, "request.invalid", json=[KHAI_SINH, WARD]),
    Case("missing-fields", "POST", DOSSIERS, 400, "request.invalid", json={"procedure_code": KHAI_SINH}),
    Case(
        "wrong-types",
        "POST",
        DOSSIERS,
        400,
        "request.invalid",
        json=_filing(procedure_code=1193, form_data="x"),
    ),
    Case("unknown-channel", "POST", DOSSIERS, 400, "request.invalid", json=_filing(channel="fax")),
    Case(
        "unknown-procedure",
        "POST",
        DOSSIERS,
        404,
        "procedure.not_offered",
        json=_filing(procedure_code="9.999999"),
    ),
    Case("not-online", "POST", DOSSIERS, 400, "dossier.not_online", json=_filing(procedure_code="1.003583")),
    Case(
        "form-fails-schema",
        "POST",
        DOSSIERS,
        400,
        "form.invalid",
        json=_filing(form_data={"tre": {"ho_ten": "A"}}),
    ),
    Case(
        "wrong-kind-of-unit",
        "POST",
        DOSSIERS,
        400,
        "dossier.wrong_receiving_unit",
        json=_filing(receiving_unit_id="cong-an-phuong-sai-gon"),
    ),
    Case(
        "unknown-unit",
        "POST",
        DOSSIERS,
        404,
        "unit.not_found",
        json=_filing(receiving_unit_id="phuong-khong-co"),
    ),
    Case(
        "channel-not-offered",
        "POST",
        DOSSIERS,
        400,
        "dossier.channel_not_offered",
        username="ca.saigon",
        json=_filing(
            procedure_code=TAM_TRU,
            receiving_unit_id="cong-an-phuong-sai-gon",
            channel="post",
            applicant=WALK_IN,
        ),
    ),
    Case(
        "agent-without-applicant",
        "POST",
        DOSSIERS,
        400,
        "applicant.name_required",
        username="buudien",
        json=_filing(channel="agent"),
    ),
    Case(
        "desk-with-bad-personal-id",
        "POST",
        DOSSIERS,
        400,
        "cccd.bad_length",
        username="sg.tiepnhan",
        json=_filing(channel="desk", applicant={"full_name": "Lê Thị Mai", "personal_id": "07918501234"}),
    ),
    # ---- tracking
    Case(
        "track-bad-code",
        "GET",
        "/api/v1/track/068.00.70.H29-0001",
        400,
        "dossier_code.invalid",
        username=None,
    ),
    Case(
        "track-bad-date",
        "GET",
        "/api/v1/track/068.00.70.H29-261302-0001",
        400,
        "dossier_code.invalid",
        username=None,
    ),
    Case(
        "track-unknown",
        "GET",
        "/api/v1/track/068.00.70.H29-260302-0999",
        404,
        "dossier.not_found",
        username=None,
    ),
    # ---- actions
    Case(
        "unknown-action",
        "POST",
        PROCESSING,
        400,
        "request.invalid",
        username="sg.xuly",
        json=_action("dance"),
    ),
    Case(
        "submit-again",
        "POST",
        PROCESSING,
        400,
        "dossier.already_submitted",
        username="sg.xuly",
        json=_action("submit"),
    ),
    Case(
        "payload-not-object",
        "POST",
        PROCESSING,
        400,
        "request.invalid",
        username="sg.xuly",
        json={"action": "forward", "payload": "go"},
    ),
    Case(
        "action-malformed-json",
        "POST",
        PROCESSING,
        400,
        "request.error",
        username="sg.xuly",
        content=b"{action",
        headers=JSON,
    ),
    Case(
        "supplement-without-missing",
        "POST",
        PROCESSING,
        400,
        "dossier.missing_list_required",
        username="sg.xuly",
        json=_action("request_supplement", reason="Thiếu giấy tờ"),
    ),
    Case(
        "supplement-empty-missing",
        "POST",
        PROCESSING,
        400,
        "dossier.missing_list_required",
        username="sg.xuly",
        json=_action("request_supplement", missing=["", "  "]),
    ),
    Case(
        "supplement-missing-number",
        "POST",
        PROCESSING,
        400,
        "dossier.bad_list",
        username="sg.xuly",
        json=_action("request_supplement", missing=3),
    ),
    Case(
        "fee-as-text",
        "POST",
        PROCESSING,
        400,
        "dossier.bad_fee_amount",
        username="sg.xuly",
        json=_action("request_fee", amount_vnd="8000"),
    ),
    Case(
        "assign-nobody",
        "POST",
        PROCESSING,
        400,
        "dossier.assignee_required",
        username="sg.xuly",
        json=_action("assign"),
    ),
    Case(
        "apology-bad-date",
        "POST",
        PROCESSING,
        400,
        "dossier.bad_new_due",
        username="sg.xuly",
        json=_action("apologise", reason="Cần xác minh thêm", new_due_at="thứ Sáu tuần sau"),
    ),
    Case(
        "apology-earlier-date",
        "POST",
        PROCESSING,
        400,
        "dossier.new_due_not_later",
        username="sg.xuly",
        json=_action("apologise", reason="Cần xác minh thêm", new_due_at="2026-03-03T08:00:00+07:00"),
    ),
    Case(
        "return-before-result",
        "POST",
        PROCESSING,
        409,
        "dossier.action_not_allowed_in_status",
        username="sg.traketqua",
        json=_action("return_result", method="desk"),
    ),
    Case(
        "supplement-not-requested",
        "POST",
        PROCESSING,
        409,
        "dossier.action_not_allowed_in_status",
        json=_action("supplement", note="Bổ sung"),
    ),
    Case(
        "refuse-without-reason",
        "POST",
        APPROVAL,
        400,
        "dossier.reason_required",
        username="sg.pheduyet",
        json=_action("refuse"),
    ),
    Case(
        "refuse-short-reason",
        "POST",
        APPROVAL,
        400,
        "dossier.reason_required",
        username="sg.pheduyet",
        json=_action("refuse", reason=" no "),
    ),
    Case(
        "send-back-without-reason",
        "POST",
        APPROVAL,
        400,
        "dossier.reason_required",
        username="sg.pheduyet",
        json=_action("send_back"),
    ),
    Case(
        "stop-without-reason",
        "POST",
        APPROVAL,
        400,
        "dossier.reason_required",
        username="sg.pheduyet",
        json=_action("stop", reason=""),
    ),
    Case(
        "action-not-in-step",
        "POST",
        APPROVAL,
        409,
        "dossier.action_not_in_step",
        username="sg.pheduyet",
        json=_action("forward"),
    ),
    Case(
        "action-unknown-dossier",
        "POST",
        "/api/v1/dossiers/068.00.70.H29-260302-0999/actions",
        404,
        "dossier.not_found",
        username="sg.xuly",
        json=_action("forward"),
    ),
    # ---- queries
    Case("bad-status-filter", "GET", "/api/v1/dossiers?status=11", 400, "request.invalid"),
    Case("bad-queue", "GET", "/api/v1/dossiers?queue=hom-nay", 400, "dossier.bad_queue", username="sg.xuly"),
    Case("bad-page", "GET", "/api/v1/procedures?limit=500", 400, "request.invalid", username=None),
    Case("bad-unit-kind", "GET", "/api/v1/units?kind=quan", 400, "unit.bad_kind", username=None),
    Case("unknown-route", "GET", "/api/v1/khong-co", 404, "route.not_found", username=None),
    Case("wrong-method", "DELETE", "/api/v1/dossiers/{processing}", 405, "route.method_not_allowed"),
]


@pytest.fixture
def open_dossiers(api: DossierApi) -> dict[str, str]:
    """Two accepted birth registrations: one being processed (sg.xuly), one awaiting approval (sg.pheduyet)."""
    processing = api.submit("congdan")["code"]
    approval = api.submit("congdan")["code"]
    for code in (processing, approval):
        api.act("sg.tiepnhan", code, "accept")
    api.act("sg.xuly", approval, "forward")
    return {"processing": processing, "approval": approval}


def _stored(api: DossierApi, codes: dict[str, str]) -> dict[str, Any]:
    """Everything a bad request must leave as it was."""
    views = {name: api.get("sg.giamsat", code) for name, code in codes.items()}
    return {
        "rows": api.row_counts(),
        **{name: (view["version"], view["status"], view["history"]) for name, view in views.items()},
    }


def test_bad_requests_are_4xx_in_vietnamese_and_change_nothing(
    api: DossierApi, open_dossiers: dict[str, str], subtests: pytest.Subtests
) -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        with subtests.test(case.id):
            _check(api, open_dossiers, case)


def _check(api: DossierApi, open_dossiers: dict[str, str], case: Case) -> None:
    json_body = case.json
    if isinstance(json_body, dict) and json_body.get("form_data") == "EXAMPLE":
        json_body = {**json_body, "form_data": api.example_form(KHAI_SINH)}
    headers = {**case.headers, **(api.auth(case.username) if case.username else {})}
    before = _stored(api, open_dossiers)
    response = api.client.request(
        case.method, case.path.format(**open_dossiers), headers=headers, json=json_body, content=case.content
    )
    assert response.status_code == case.status, response.text
    assert_error(response.json(), case.code)
    assert _stored(api, open_dossiers) == before


def test_a_form_that_fails_its_schema_lists_every_problem_by_field_in_vietnamese(api: DossierApi) -> None:
    form = api.example_form(KHAI_SINH)
    del form["tre"]["ngay_sinh"]
    form["tre"]["gioi_tinh"] = "Khác"
    form["nguoi_yeu_cau"]["so_dien_thoai"] = "090-312-345"
    form["me"]["ngay_sinh"] = "21/08/1993"
    counts = api.row_counts()
    body = api.submit("congdan", form_data=form, expect=400)
    error = assert_error(body, "form.invalid")
    problems = {(p["field"], p["message"]) for p in error["details"]["problems"]}
    assert problems >= {
        ("tre/ngay_sinh", "Ngày, tháng, năm sinh là thông tin bắt buộc."),
        ("tre/gioi_tinh", "Giới tính phải là một trong: Nam, Nữ."),
        ("nguoi_yeu_cau/so_dien_thoai", "Số điện thoại di động không đúng định dạng."),
        ("me/ngay_sinh", "Ngày, tháng, năm sinh phải là ngày hợp lệ (YYYY-MM-DD)."),
    }
    assert error["message"].startswith("Biểu mẫu chưa hợp lệ: ")
    assert api.row_counts() == counts


def test_validation_errors_name_the_fields_that_are_wrong(api: DossierApi) -> None:
    body = api.call("POST", DOSSIERS, "congdan", json=_filing(procedure_code=1193, form_data="x"), expect=400)
    error = assert_error(body, "request.invalid")
    assert {detail["key"] for detail in error["details"]} == {"procedure_code", "form_data"}
    body = api.call("POST", DOSSIERS, "congdan", json={"procedure_code": KHAI_SINH}, expect=400)
    assert {d["key"] for d in body["error"]["details"]} == {"receiving_unit_id", "form_data"}


def test_a_refused_filing_does_not_use_up_a_code_number(api: DossierApi) -> None:
    first = api.submit("congdan")["code"]
    api.submit("congdan", form_data={"tre": {}}, expect=400)
    api.submit("sg.xuly", channel="desk", applicant=WALK_IN, expect=403)  # refused after numbering
    second = api.submit("congdan")["code"]
    assert (first[-4:], second[-4:]) == ("0001", "0002")
