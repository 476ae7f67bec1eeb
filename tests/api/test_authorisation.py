"""Who may do and see what, through HTTP: every step of the standard workflow refuses every account without
the step's role in the step's unit; dossiers are invisible (404, not 403) to those who may not read them;
authentication errors are 401s with stable codes."""

from __future__ import annotations

from typing import Any

import pytest

from motcua.services.seed import DEMO_ACCOUNTS
from tests.api.conftest import KHAI_SINH, DossierApi, assert_error

DEMO_USERS = [account.username for account in DEMO_ACCOUNTS]
WARD_OFFICERS = [name for name in DEMO_USERS if name.startswith("sg.")]
CITY_WIDE = ["tp.quantri", "tp.giamsat"]
# Who may read a dossier filed by `congdan` and decided by Phường Sài Gòn.
READERS = {"congdan", *WARD_OFFICERS, *CITY_WIDE}
APPLICANT_ACTIONS = {"withdraw", "supplement", "pay_fee"}
# A payload with which each action succeeds for the right person: refusals are about who, not what.
PAYLOADS: dict[str, dict[str, Any]] = {
    "accept": {},
    "refuse_reception": {"reason": "Hồ sơ không thuộc thẩm quyền giải quyết"},
    "request_supplement": {"missing": ["Giấy chứng sinh (bản chính)"]},
    "assign": {"assignee_id": "sg.xuly"},
    "forward": {},
    "request_fee": {"amount_vnd": 8000},
    "apologise": {"reason": "Cần xác minh thêm thông tin", "new_due_at": "2026-03-20T16:00:00+07:00"},
    "send_back": {"reason": "Cần thẩm định lại nơi sinh"},
    "approve": {},
    "refuse": {"reason": "Không đủ điều kiện đăng ký khai sinh"},
    "stop": {"reason": "Phát hiện giấy tờ giả mạo"},
    "issue_result": {"result": {"so_dang_ky": "125/2026"}},
    "return_result": {"method": "desk"},
    "withdraw": {"reason": "Tôi nộp nhầm thủ tục"},
}
# The tieu-chuan steps: (step, the account holding its role at Phường Sài Gòn, the action that moves on).
STEPS = [
    ("tiep_nhan", "sg.tiepnhan", "accept"),
    ("xu_ly", "sg.xuly", "forward"),
    ("phe_duyet", "sg.pheduyet", "approve"),
    ("ban_hanh", "sg.xuly", "issue_result"),
    ("tra_ket_qua", "sg.traketqua", "return_result"),
]
# Allowed without the step's role: the applicant's own actions and the unit admin's assignment.
ALSO_ALLOWED = {("congdan", "withdraw"), ("sg.quantri", "assign")}


def _refusal(username: str, action: str) -> tuple[int, str]:
    """What an account without the right gets: 404 when it may not even read the dossier, else 403."""
    if username not in READERS:
        return 404, "dossier.not_found"
    if action in APPLICANT_ACTIONS:
        return 403, "dossier.not_applicant"
    return 403, "dossier.wrong_role_or_unit"


def test_every_step_refuses_every_account_without_the_steps_role(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    for step, holder, next_action in STEPS:
        view = api.get(holder, code)
        assert view["step"]["id"] == step
        offered = view["allowed_actions"]
        assert next_action in offered
        actions = [*offered, *api.get("congdan", code)["allowed_actions"]]
        refused = 0
        for username in DEMO_USERS:
            for action in actions:
                if (username == holder and action in offered) or (username, action) in ALSO_ALLOWED:
                    continue
                status, error_code = _refusal(username, action)
                assert_error(api.act(username, code, action, expect=status, **PAYLOADS[action]), error_code)
                refused += 1
        assert refused >= len(DEMO_USERS) - 1  # every account but the holder, at least once
        after = api.get(holder, code)
        assert (after["version"], after["status"], after["history"]) == (
            view["version"],
            view["status"],
            view["history"],
        )
        api.act(holder, code, next_action, **PAYLOADS[next_action])
    assert api.get("congdan", code)["status"]["code"] == 10


def test_unit_admin_may_assign_but_not_process(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    api.act("sg.tiepnhan", code, "accept")
    assigned = api.act("sg.quantri", code, "assign", assignee_id="sg.xuly")
    assert assigned["step"]["assignee_id"] == "sg.xuly"
    assert assigned["allowed_actions"] == ["assign"]
    assert_error(api.act("sg.quantri", code, "forward", expect=403), "dossier.wrong_role_or_unit")


def test_an_account_without_the_right_to_assign_is_refused_whoever_it_names(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    api.act("sg.tiepnhan", code, "accept")
    for nominee in ("sg.xuly", "nobody", ""):
        refused = api.act("congdan", code, "assign", expect=403, assignee_id=nominee)
        assert_error(refused, "dossier.wrong_role_or_unit")
        refused = api.act("sg.pheduyet", code, "assign", expect=403, assignee_id=nominee)
        assert_error(refused, "dossier.wrong_role_or_unit")
    assert_error(
        api.act("sg.xuly", code, "assign", expect=400, assignee_id="congdan"), "dossier.bad_assignee"
    )


def test_someone_elses_dossier_looks_exactly_like_a_missing_one(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    missing = code[:-4] + "0999"
    for username in ("congdan2", "buudien", "stp.xuly", "ca.saigon", "tt.tiepnhan"):
        hidden = assert_error(api.get(username, code, expect=404), "dossier.not_found")
        absent = assert_error(api.get(username, missing, expect=404), "dossier.not_found")
        assert hidden["message"].replace(code, missing) == absent["message"]
        assert set(hidden) == set(absent) == {"code", "message"}
    assert_error(api.act("congdan2", code, "withdraw", expect=404), "dossier.not_found")
    assert api.get("congdan", code)["status"]["code"] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/dossiers"),
        ("GET", "/api/v1/dossiers/068.00.70.H29-260302-0001"),
        ("POST", "/api/v1/dossiers"),
        ("POST", "/api/v1/dossiers/068.00.70.H29-260302-0001/actions"),
    ],
)
def test_no_token_is_401_auth_required(api: DossierApi, method: str, path: str) -> None:
    api.submit("congdan")
    counts = api.row_counts()
    body = {"action": "withdraw"} if path.endswith("actions") else {"procedure_code": KHAI_SINH}
    for headers in ({}, {"Authorization": "Basic Y29uZ2RhbjptYXRraGF1"}, {"Authorization": "Bearer "}):
        response = api.client.request(method, path, headers=headers, json=body if method == "POST" else None)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert_error(response.json(), "auth.required")
    assert api.row_counts() == counts


def test_a_bad_or_expired_token_is_401(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    for token in ("not-a-token", api.auth("congdan")["Authorization"].split()[1] + "x"):
        response = api.client.get(f"/api/v1/dossiers/{code}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert_error(response.json(), "auth.invalid_token")
    header = api.auth("congdan")
    assert api.client.get("/api/v1/me", headers=header).status_code == 200
    api.at("2026-03-02 21:00")  # 12 hours after the login at 09:00
    response = api.client.get("/api/v1/me", headers=header)
    assert response.status_code == 401
    assert_error(response.json(), "auth.invalid_token")


@pytest.mark.usefixtures("department_officers")
def test_ward_officers_cannot_read_another_wards_dossier_but_the_department_can(api: DossierApi) -> None:
    other_ward = api.submit("congdan", "1.012786", "phuong-ben-thanh")["code"]
    own_ward = api.submit("congdan2", "1.012786")["code"]
    for username in (*WARD_OFFICERS, "stp.xuly", "ca.saigon"):
        assert_error(api.get(username, other_ward, expect=404), "dossier.not_found")
    for username in ("snnmt.xuly", "snnmt.pheduyet", "tp.giamsat", "congdan"):
        assert api.get(username, other_ward)["code"] == other_ward
    listed = api.call("GET", "/api/v1/dossiers", "sg.giamsat", expect=200)
    assert [item["code"] for item in listed["items"]] == [own_ward]
    department = api.call("GET", "/api/v1/dossiers", "snnmt.xuly", expect=200)
    assert sorted(item["code"] for item in department["items"]) == sorted([other_ward, own_ward])


def test_city_monitor_reads_everything_and_can_do_nothing(api: DossierApi) -> None:
    codes = [
        api.submit("congdan")["code"],
        api.submit("congdan2", unit_id="phuong-ben-thanh")["code"],
        api.submit("congdan", "1.004194", "cong-an-phuong-sai-gon")["code"],
    ]
    for username in CITY_WIDE:
        listed = api.call("GET", "/api/v1/dossiers", username, expect=200)
        assert (listed["total"], sorted(item["code"] for item in listed["items"])) == (3, sorted(codes))
        for code in codes:
            assert api.get(username, code)["allowed_actions"] == []
    assert api.call("GET", "/api/v1/dossiers", "sg.giamsat", expect=200)["total"] == 1


def test_a_citizen_lists_only_their_own_dossiers(api: DossierApi) -> None:
    mine = [
        api.submit("congdan")["code"],
        api.submit("congdan", "1.004194", "cong-an-phuong-sai-gon")["code"],
    ]
    theirs = api.submit("congdan2")["code"]
    walk_in = {"full_name": "Lê Thị Mai", "personal_id": "079185012345"}
    filed_by_agent = api.submit("buudien", channel="agent", applicant=walk_in)["code"]

    def listed(username: str) -> list[str]:
        page = api.call("GET", "/api/v1/dossiers?limit=50", username, expect=200)
        assert page["total"] == len(page["items"])
        return sorted(item["code"] for item in page["items"])

    assert listed("congdan") == sorted(mine)
    assert listed("congdan2") == [theirs]
    assert listed("buudien") == [filed_by_agent]
    assert api.call("GET", "/api/v1/dossiers?queue=unit", "congdan", expect=200)["total"] == 2  # no queues


@pytest.mark.parametrize(
    ("username", "unit_id", "channel"),
    [
        ("sg.tiepnhan", "phuong-ben-thanh", "desk"),  # a receiver of another ward
        ("sg.xuly", "phuong-sai-gon", "desk"),  # not a receiver
        ("congdan", "phuong-sai-gon", "desk"),
        ("congdan", "phuong-sai-gon", "agent"),
        ("sg.tiepnhan", "phuong-sai-gon", "online"),  # officers do not file online for others
    ],
)
def test_filing_for_someone_else_needs_the_right_channel_and_unit(
    api: DossierApi, username: str, unit_id: str, channel: str
) -> None:
    counts = api.row_counts()
    walk_in = {"full_name": "Lê Thị Mai", "personal_id": "079185012345"}
    refused = api.submit(username, unit_id=unit_id, channel=channel, applicant=walk_in, expect=403)
    assert_error(refused, "dossier.submit_forbidden")
    assert api.row_counts() == counts  # not even the walk-in's record
