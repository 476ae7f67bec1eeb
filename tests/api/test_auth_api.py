"""Logging in through HTTP and seeing who one is."""

from __future__ import annotations

from typing import Any

import pytest

from motcua.services.seed import DEMO_PASSWORD
from tests.api.conftest import DossierApi, assert_error

TOKEN = "/api/v1/auth/token"


def test_the_right_password_gives_a_bearer_token_for_twelve_hours(api: DossierApi) -> None:
    issued = api.call("POST", TOKEN, json={"username": "sg.tiepnhan", "password": DEMO_PASSWORD}, expect=200)
    assert issued["token_type"] == "bearer"
    assert len(issued["access_token"]) >= 32
    assert issued["expires_at"] == "2026-03-02T21:00:00+07:00"
    assert issued["user"] == {
        "id": "sg.tiepnhan",
        "username": "sg.tiepnhan",
        "kind": "officer",
        "full_name": "Phạm Thị Dung",
        "unit_id": "phuong-sai-gon",
        "roles": ["receiver"],
    }
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert me.json()["id"] == "sg.tiepnhan"


def test_usernames_are_not_case_sensitive(api: DossierApi) -> None:
    issued = api.call(
        "POST", TOKEN, json={"username": " SG.TiepNhan ", "password": DEMO_PASSWORD}, expect=200
    )
    assert issued["user"]["username"] == "sg.tiepnhan"


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(api: DossierApi) -> None:
    wrong = api.call("POST", TOKEN, json={"username": "congdan", "password": "motcua-demo-2025"}, expect=401)
    unknown = api.call("POST", TOKEN, json={"username": "khong-ai-ca", "password": DEMO_PASSWORD}, expect=401)
    assert_error(wrong, "auth.bad_credentials")
    assert wrong == unknown  # nothing tells whether the account exists
    empty = api.call("POST", TOKEN, json={"username": "", "password": ""}, expect=400)
    assert {detail["key"] for detail in assert_error(empty, "request.invalid")["details"]} == {
        "username",
        "password",
    }


@pytest.mark.parametrize(
    ("username", "kind", "unit_id", "roles"),
    [
        ("congdan", "citizen", None, []),
        ("buudien", "agent", None, []),
        ("sg.xuly", "officer", "phuong-sai-gon", ["processor"]),
        ("tt.tiepnhan", "officer", "trung-tam-phuc-vu-hanh-chinh-cong", ["receiver", "returner"]),
        ("ca.saigon", "officer", "cong-an-phuong-sai-gon", ["approver", "processor", "receiver", "returner"]),
        ("tp.giamsat", "officer", "thanh-pho-ho-chi-minh", ["monitor"]),
    ],
)
def test_me_shows_who_is_logged_in_and_their_roles(
    api: DossierApi, username: str, kind: str, unit_id: str | None, roles: list[str]
) -> None:
    issued = api.call("POST", TOKEN, json={"username": username, "password": DEMO_PASSWORD}, expect=200)
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued['access_token']}"}).json()
    assert (me["id"], me["kind"], me["unit_id"], me["roles"]) == (issued["user"]["id"], kind, unit_id, roles)
    assert me["name"] == issued["user"]["full_name"]


def test_a_page_session_token_is_not_an_api_bearer_token(client: Any, runtime: Any) -> None:
    """A stolen page cookie cannot be replayed against the API, and an API token does not open pages."""
    from motcua.services.identity import login as issue
    from motcua.services.seed import DEMO_PASSWORD

    with runtime.db.transaction() as conn:
        web = issue(conn, username="congdan", password=DEMO_PASSWORD, now=runtime.clock.now(), purpose="web")
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {web.token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.invalid_token"
