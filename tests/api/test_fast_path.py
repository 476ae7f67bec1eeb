"""The lifecycle's fast path (`api/app.py` `_FastJsonRoute`): a submission or an action whose token is cached
and whose body validates skips Litestar's generic handling; its answers must be the route's, byte for byte,
and every other request must reach the route unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from motcua.api import app as app_module
from motcua.services.audit import verify_database
from motcua.services.dossiers import replay_check
from tests.api.conftest import KHAI_SINH, WARD, DossierApi, assert_error

STEPS = [
    ("sg.tiepnhan", "approve", {}, ""),  # refused: not allowed at this step (409/403 from the service)
    ("sg.tiepnhan", "accept", {}, "?view=summary"),
    ("sg.xuly", "forward", {"note": "Đủ điều kiện"}, ""),
    ("congdan", "approve", {}, "?view=summary"),  # refused: a citizen
    ("sg.pheduyet", "approve", {}, "?view=full"),
    ("sg.xuly", "issue_result", {"result": {"so": "123/2026"}}, "?view=summary"),
    ("sg.traketqua", "return_result", {"method": "desk"}, ""),
    ("sg.traketqua", "return_result", {"method": "desk"}, ""),  # refused: already returned
]


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Records, per hot request, whether the fast path answered it (True) or handed it to the route."""
    seen: list[bool] = []
    original = app_module._FastJsonRoute._plan

    def plan(self: Any, *args: Any) -> Any:
        call = original(self, *args)
        seen.append(call is not None)
        return call

    monkeypatch.setattr(app_module._FastJsonRoute, "_plan", plan)
    yield seen


def _raw(api: DossierApi, method: str, path: str, username: str, body: Any) -> tuple[int, list[Any], bytes]:
    response = api.client.request(method, path, headers=api.auth(username), json=body)
    return response.status_code, list(response.headers.raw), response.content


def _lifecycle(api: DossierApi) -> list[tuple[int, list[Any], bytes]]:
    """Submit and walk one dossier through STEPS, with every token already in the cache; the answers with
    the dossier's code replaced (two runs make two dossiers, at the same fixed instant)."""
    for username in {"congdan", *(step[0] for step in STEPS)}:
        api.call("GET", "/api/v1/me", username, expect=200)  # the token is now cached
    submission = {
        "procedure_code": KHAI_SINH,
        "receiving_unit_id": WARD,
        "channel": "online",
        "form_data": api.example_form(KHAI_SINH),
    }
    answers = [_raw(api, "POST", "/api/v1/dossiers", "congdan", submission)]
    code = answers[0][2].decode().split('"code":"', 1)[1].split('"', 1)[0]
    for username, action, payload, query in STEPS:
        body = {"action": action, "payload": payload}
        answers.append(_raw(api, "POST", f"/api/v1/dossiers/{code}/actions{query}", username, body))
    with api.db.read() as conn:
        assert replay_check(conn, code)
    return [
        (
            status,
            [(k, v.replace(code.encode(), b"CODE")) for k, v in headers],
            body.replace(code.encode(), b"CODE"),
        )
        for status, headers, body in answers
    ]


def test_fast_answers_are_the_routes_byte_for_byte(
    api: DossierApi, taken: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _lifecycle(api)
    assert taken and all(taken), taken  # every hot request of the run took the fast path
    assert {status for status, _, _ in fast} >= {200, 201} and any(s >= 400 for s, _, _ in fast)
    monkeypatch.setattr(app_module._FastJsonRoute, "_plan", lambda *_: None)
    route = _lifecycle(api)
    for got, expected in zip(fast, route, strict=True):
        assert got[0] == expected[0]
        assert got[2] == expected[2]
        # same headers; content-length differs only with the code's length (same here)
        assert got[1] == expected[1]
    assert verify_database(api.db).ok


BAD_BODIES: list[tuple[str, Any]] = [
    ("/api/v1/dossiers", {"procedure_code": KHAI_SINH}),
    ("/api/v1/dossiers", [KHAI_SINH, WARD]),
    (
        "/api/v1/dossiers",
        {"procedure_code": KHAI_SINH, "receiving_unit_id": WARD, "channel": "fax", "form_data": {}},
    ),
    ("/api/v1/dossiers/{code}/actions", {"action": "fly"}),
    ("/api/v1/dossiers/{code}/actions", {"action": "submit"}),
    ("/api/v1/dossiers/{code}/actions?view=everything", {"action": "accept"}),
]


@pytest.mark.parametrize(("path", "body"), BAD_BODIES)
def test_what_the_fast_path_does_not_take_reaches_the_route(
    api: DossierApi, taken: list[bool], path: str, body: Any
) -> None:
    """Invalid bodies, the refused `submit` action and an unknown view are answered by the route, with its
    400 and Litestar's details, even when the token is cached; nothing is written."""
    code = api.submit("congdan")["code"]
    api.call("GET", "/api/v1/me", "sg.tiepnhan", expect=200)
    api.call("GET", "/api/v1/me", "congdan", expect=200)
    before = api.row_counts()
    taken.clear()
    user = "congdan" if path == "/api/v1/dossiers" else "sg.tiepnhan"
    response = api.client.post(path.format(code=code), headers=api.auth(user), json=body)
    assert response.status_code == 400, response.text
    error = assert_error(
        response.json(), "dossier.already_submitted" if body == {"action": "submit"} else "request.invalid"
    )
    assert taken == [False]
    assert api.row_counts() == before
    if error["code"] == "request.invalid":
        assert error["details"]


def test_unknown_or_missing_tokens_and_other_content_types_reach_the_route(
    api: DossierApi, taken: list[bool]
) -> None:
    code = api.submit("congdan")["code"]
    body = {"action": "accept", "payload": {}}
    missing = api.client.post(f"/api/v1/dossiers/{code}/actions", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = api.client.post(
        f"/api/v1/dossiers/{code}/actions", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert_error(wrong.json(), wrong.json()["error"]["code"])
    taken.clear()
    api.call("GET", "/api/v1/me", "sg.tiepnhan", expect=200)
    as_text = api.client.post(
        f"/api/v1/dossiers/{code}/actions",
        content=b'{"action": "accept", "payload": {}}',
        headers={**api.auth("sg.tiepnhan"), "Content-Type": "text/plain"},
    )
    assert taken == []  # not even planned: the content type is not JSON
    assert as_text.status_code in (200, 400, 415)  # whatever the route answers (unchanged by the fast path)
    assert verify_database(api.db).ok


def test_tokens_not_cached_are_looked_up_with_the_same_answers(
    api: DossierApi, taken: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token not in the cache: the fast path reads its account in the use case's worker thread; an unknown
    token gets the route's 401, byte for byte, and a known one acts (and is cached afterwards)."""
    from motcua.services import identity

    code = api.submit("congdan")["code"]
    body = {"action": "accept", "payload": {}}
    path = f"/api/v1/dossiers/{code}/actions?view=summary"
    taken.clear()

    def unknown() -> tuple[int, list[Any], bytes]:
        response = api.client.post(path, json=body, headers={"Authorization": "Bearer nope"})
        return response.status_code, list(response.headers.raw), response.content

    fast = unknown()
    assert taken == [True] and fast[0] == 401
    monkeypatch.setattr(app_module._FastJsonRoute, "_plan", lambda *_: None)
    assert unknown() == fast
    monkeypatch.undo()
    monkeypatch.setattr(app_module._FastJsonRoute, "_plan", _recording(taken))
    identity._actors.clear()
    taken.clear()
    accepted = api.act("sg.tiepnhan", code, "accept")
    assert taken == [True] and accepted["status"]["code"] == 2
    assert verify_database(api.db).ok


def _recording(seen: list[bool]) -> Any:
    original = app_module._FastJsonRoute._plan

    def plan(self: Any, *args: Any) -> Any:
        call = original(self, *args)
        seen.append(call is not None)
        return call

    return plan
