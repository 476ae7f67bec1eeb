"""The lifecycle's fast path (`api/app.py` `_FastJsonRoute`): a submission or an action whose token is cached
and whose body validates skips Litestar's generic handling; its answers must be the route's, byte for byte,
and every other request must reach the route unchanged."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy.exc import DBAPIError

from motcua.api import app as app_module
from motcua.api.app import create_app
from motcua.services import dossiers as dossier_service
from motcua.services.audit import verify_database
from motcua.services.dossiers import replay_check
from motcua.services.runtime import Runtime
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


# ---------------------------------------------------------------- the fast path's worker threads


async def _post(app: Any, path: str, token: str, body: Any) -> tuple[int, bytes]:
    """One POST straight into the ASGI app (no test client), so that the request's task can be cancelled."""
    raw = json.dumps(body).encode()
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_cancelled_request_still_commits_exactly_once(
    api: DossierApi, taken: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's task is cancelled (client gone, server stopping) while the service works in its thread:
    the work runs to its end and commits once — nothing half done, nothing done twice —, and nobody is
    told it failed (no answer is sent)."""
    code = api.submit("congdan")["code"]
    token = api.auth("sg.tiepnhan")["Authorization"].removeprefix("Bearer ")
    api.call("GET", "/api/v1/me", "sg.tiepnhan", expect=200)  # cached: the fast path takes it
    before = api.row_counts()
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    act = dossier_service.act

    def slow_act(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(10)
        try:
            return act(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(dossier_service, "act", slow_act)

    async def cancelled() -> None:
        body = {"action": "accept", "payload": {}}
        task = asyncio.ensure_future(_post(api.client.app, f"/api/v1/dossiers/{code}/actions", token, body))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    taken.clear()
    asyncio.run(cancelled())  # the loop is gone before the thread answers
    release.set()
    assert finished.wait(10)
    assert taken == [True]
    monkeypatch.setattr(dossier_service, "act", act)
    after = api.row_counts()
    assert after["dossier_events"] == before["dossier_events"] + 1
    assert after["dossiers"] == before["dossiers"]
    assert api.get("sg.tiepnhan", code)["status"]["code"] == 2
    with api.db.read() as conn:
        assert replay_check(conn, code)
    assert verify_database(api.db).ok


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RuntimeError("boom"), 500, "server.error"),
        (
            DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True),
            503,
            "database.unavailable",
        ),
    ],
    ids=["unexpected", "lost-database"],
)
def test_unexpected_errors_in_the_thread_reach_the_apps_handlers(
    api: DossierApi,
    taken: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    code: str,
) -> None:
    """An exception the service did not expect, raised in the worker thread, is answered by the app's handlers
    exactly as the route answers it (500 `server.error`; 503 `database.unavailable` for a lost connection),
    and nothing is written."""
    dossier = api.submit("congdan")["code"]
    api.call("GET", "/api/v1/me", "sg.tiepnhan", expect=200)
    before = api.row_counts()

    def failing(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(dossier_service, "act", failing)
    body = {"action": "accept", "payload": {}}
    path = f"/api/v1/dossiers/{dossier}/actions"
    taken.clear()
    fast = api.client.post(path, headers=api.auth("sg.tiepnhan"), json=body)
    assert taken == [True]
    assert fast.status_code == status
    assert_error(fast.json(), code)
    monkeypatch.setattr(app_module._FastJsonRoute, "_plan", lambda *_: None)
    route = api.client.post(path, headers=api.auth("sg.tiepnhan"), json=body)
    assert (route.status_code, route.content) == (fast.status_code, fast.content)
    assert api.row_counts() == before


def test_worker_threads_run_off_the_loop_and_stop_with_the_app(runtime: Runtime) -> None:
    app = create_app(runtime)
    threads: app_module.FastPathThreads = app.state.fast_path_threads
    with TestClient(app=app):
        names = {t.name for t in threading.enumerate()}
        assert sum(name.startswith("motcua-fast-") for name in names) == threads.size

        async def where() -> tuple[int, int]:
            return threading.get_ident(), await threads.run(threading.get_ident)

        loop_thread, worker_thread = asyncio.run(where())
        assert loop_thread != worker_thread
    assert not [t for t in threading.enumerate() if t.name.startswith("motcua-fast-") and t.is_alive()]


def test_worker_threads_keep_an_executors_semantics() -> None:
    """Results and exceptions reach the awaiting task; a job whose task was cancelled before it started is
    dropped; a started one runs to its end; queued jobs finish before `stop` returns."""
    threads = app_module.FastPathThreads(size=1)
    ran: list[str] = []
    gate = threading.Event()

    def blocking() -> str:
        assert gate.wait(10)
        ran.append("blocking")
        return "done"

    def record(name: str) -> Callable[[], str]:
        def call() -> str:
            ran.append(name)
            return name

        return call

    class Boom(Exception):
        pass

    def failing() -> None:
        raise Boom

    async def scenario() -> None:
        assert await threads.run(record("first")) == "first"
        with pytest.raises(Boom):
            await threads.run(failing)
        busy = asyncio.ensure_future(threads.run(blocking))
        queued = asyncio.ensure_future(threads.run(record("dropped")))
        await asyncio.sleep(0.01)
        busy.cancel()  # started: runs to its end
        queued.cancel()  # not started: dropped
        await asyncio.gather(busy, queued, return_exceptions=True)
        gate.set()
        assert await threads.run(record("after")) == "after"

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        threads.stop()
    assert ran == ["first", "blocking", "after"]
