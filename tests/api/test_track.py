"""Public tracking reads only the state fields it shows (issue #6): its answer must be exactly the one rendered
from the whole decoded state (`state_from_dict` → `_dates`, `_timeliness`), byte for byte (the ETag hashes
the bytes), on both paths (PostgreSQL's awaited lookup, the sync lookup), in every status, paused or not,
with an apology's later appointment, late or early, and for instants stored in another offset."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from motcua.domain.clock import to_vn
from motcua.domain.lifecycle import state_from_dict
from motcua.services import dossiers as dossier_service
from motcua.services.runtime import Runtime
from motcua.store.schema.dossiers import dossiers
from tests.api.conftest import DossierApi


def reference_answer(runtime: Runtime, code: str) -> dict[str, Any]:
    """The public answer as it was built before tracking read fields: the whole state decoded."""
    with runtime.db.read() as conn:
        row = conn.execute(
            select(dossiers.c.procedure_code, dossiers.c.procedure_name, dossiers.c.state).where(
                dossiers.c.code == code
            )
        ).one()
        units = runtime.directory(conn, runtime.clock.now().date())
    state = state_from_dict(row.state)
    return {
        "code": state.code,
        "procedure": {"code": row.procedure_code, "name": row.procedure_name},
        "status": {"code": int(state.status), "label": state.status.label_vi},
        "receiving_unit": dossier_service._unit_ref(units, state.receiving_unit_id)["name"],
        "dates": dossier_service._dates(state),
        "timeliness": dossier_service._timeliness(runtime, state),
        "paused": state.paused_at is not None,
    }


def assert_tracks_as_reference(api: DossierApi, runtime: Runtime, code: str) -> dict[str, Any]:
    expected = msgspec.json.encode(reference_answer(runtime, code))
    response = api.client.get(f"/api/v1/track/{code}")
    assert response.status_code == 200
    assert response.content == expected  # same fields, same order, same text
    assert response.headers["etag"] == f'"{hashlib.blake2b(expected, digest_size=12).hexdigest()}"'
    assert msgspec.json.encode(dossier_service.track(runtime, code)) == expected  # the sync path
    answer: dict[str, Any] = response.json()
    return answer


def test_tracking_equals_the_whole_state_rendering_in_every_state(api: DossierApi, runtime: Runtime) -> None:
    api.at("2026-03-02 09:00")
    submitted = api.submit("congdan")["code"]
    assert assert_tracks_as_reference(api, runtime, submitted)["timeliness"] is None  # no deadline yet

    def accepted() -> str:
        api.at("2026-03-02 09:00")
        code: str = api.submit("congdan")["code"]
        api.at("2026-03-02 09:30")
        api.act("sg.tiepnhan", code, "accept")
        return code

    paused = accepted()
    api.at("2026-03-02 10:00")
    api.act("sg.xuly", paused, "request_supplement", missing=["Giấy chứng sinh (bản chính)"])
    resumed = accepted()
    api.act("sg.xuly", resumed, "request_supplement", missing=["Giấy chứng sinh (bản chính)"])
    api.at("2026-03-04 14:00")
    api.act("congdan", resumed, "supplement", note="Đã nộp bổ sung", documents=["giay-chung-sinh.pdf"])
    apologised = accepted()
    api.at("2026-03-02 10:00")
    api.act("sg.xuly", apologised, "apologise", reason="Chờ xác minh", new_due_at="2026-03-10T16:00:00+07:00")
    withdrawn = accepted()
    api.act("congdan", withdrawn, "withdraw")
    refused = accepted()
    api.act("sg.xuly", refused, "forward")
    api.act("sg.pheduyet", refused, "refuse", reason="Không đủ điều kiện")
    early = accepted()
    api.at("2026-03-02 10:00")
    for username, action, payload in [
        ("sg.xuly", "forward", {}),
        ("sg.pheduyet", "approve", {}),
        ("sg.xuly", "issue_result", {"result": {"so": "1/2026"}}),
        ("sg.traketqua", "return_result", {"method": "desk"}),
    ]:
        api.act(username, early, action, **payload)
    late = accepted()
    api.at("2026-03-09 10:00")  # a week later: past the due Tuesday
    api.act("sg.xuly", late, "forward")
    api.act("sg.pheduyet", late, "approve")
    api.act("sg.xuly", late, "issue_result", result={"so": "2/2026"})

    answers = {
        code: assert_tracks_as_reference(api, runtime, code)
        for code in (submitted, paused, resumed, apologised, withdrawn, refused, early, late)
    }
    assert answers[paused]["paused"] is True and answers[resumed]["paused"] is False
    assert answers[apologised]["dates"]["due_at"] == "2026-03-10T16:00:00+07:00"
    assert answers[apologised]["dates"]["legal_due_at"] != answers[apologised]["dates"]["due_at"]
    assert answers[withdrawn]["timeliness"] is None  # a withdrawn dossier is not judged
    assert answers[refused]["status"]["code"] == 9  # a refusal is a result, judged like any other
    assert answers[early]["timeliness"]["code"] == "early"
    assert answers[late]["timeliness"]["code"] == "late"
    assert answers[apologised]["timeliness"]["code"] == "overdue"  # judged on the legal deadline
    assert answers[early]["dates"]["closed_at"] == "2026-03-02T10:00:00+07:00"


def test_instants_stored_in_another_form_are_shown_in_vietnam_time(api: DossierApi, runtime: Runtime) -> None:
    """A state written by another system (a legacy import) may hold UTC or fractional instants: the answer
    converts them as decoding the whole state did."""
    api.at("2026-03-02 09:00")
    code = api.submit("congdan")["code"]
    api.at("2026-03-02 09:30")
    api.act("sg.tiepnhan", code, "accept")
    with runtime.db.read() as conn:
        state = dict(conn.execute(select(dossiers.c.state).where(dossiers.c.code == code)).scalar_one())
    state["submitted_at"] = "2026-03-02T02:00:00+00:00"
    state["accepted_at"] = "2026-03-02T09:30:00.000000+07:00"
    state["due_at"] = "2026-03-03T02:30:00.250000Z"
    state["legal_due_at"] = None
    with runtime.db.transaction() as conn:
        conn.execute(update(dossiers).where(dossiers.c.code == code).values(state=state))
    answer = assert_tracks_as_reference(api, runtime, code)
    assert answer["dates"]["submitted_at"] == "2026-03-02T09:00:00+07:00"
    assert answer["dates"]["accepted_at"] == "2026-03-02T09:30:00+07:00"
    assert answer["dates"]["legal_due_at"] == answer["dates"]["due_at"] == "2026-03-03T09:30:00.250000+07:00"


_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5, minutes=-30))])


@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    offset=_OFFSETS,
    spec=st.sampled_from(["auto", "seconds", "microseconds", "minutes", "milliseconds"]),
)
def test_an_instant_shown_equals_its_decoding(moment: datetime, offset: timezone, spec: str) -> None:
    stored = moment.replace(tzinfo=offset).isoformat(timespec=spec)
    assert dossier_service._vn_iso(stored) == to_vn(datetime.fromisoformat(stored)).isoformat()
    vn = to_vn(moment.replace(tzinfo=offset)).isoformat(timespec=spec)  # the engine's own form
    assert dossier_service._vn_iso(vn) == to_vn(datetime.fromisoformat(vn)).isoformat()
    assert dossier_service._vn_iso(None) is None


def test_the_before_send_hook_runs_on_the_event_loop(runtime: Runtime) -> None:
    """Litestar runs a sync `before_send` hook in a worker thread for EACH ASGI message (two thread hops per
    request, ≈ 0.09 ms of CPU on every request, /healthz included): the app's hooks must be coroutines."""
    from litestar.utils.sync import AsyncCallable

    from motcua.api.app import create_app

    app = create_app(runtime)
    assert app.before_send and not any(isinstance(hook, AsyncCallable) for hook in app.before_send)


def test_tracking_is_answered_before_routing_with_the_routes_bytes(
    api: DossierApi, runtime: Runtime, monkeypatch: Any
) -> None:
    """On PostgreSQL (once the day's units are cached) the app answers a lookup before Litestar's router
    (`MotcuaApp`); the answer — status, headers, body, the 304 — is the route's, byte for byte. Errors and
    SQLite still reach the route, and are rendered as always."""
    from litestar import Litestar

    code = api.submit("congdan")["code"]
    client = api.client
    app = client.app
    by_route = client.get(f"/api/v1/track/{code}")  # the route (and the day's units are cached now)
    etag = by_route.headers["etag"]
    routed: list[str] = []
    real_call = Litestar.__call__

    async def counting(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            routed.append(scope["path"])
        await real_call(self, scope, receive, send)

    monkeypatch.setattr(Litestar, "__call__", counting)
    fast = client.get(f"/api/v1/track/{code}")
    not_modified = client.get(f"/api/v1/track/{code}", headers={"If-None-Match": etag})
    missing = client.get("/api/v1/track/068.00.70.H29-260302-9999")
    malformed = client.get("/api/v1/track/khong-phai-ma")
    postgres = runtime.db.dialect == "postgresql"
    expected_routed = ["/api/v1/track/068.00.70.H29-260302-9999", "/api/v1/track/khong-phai-ma"]
    if not postgres:
        expected_routed = [f"/api/v1/track/{code}"] * 2 + expected_routed
    assert routed == expected_routed
    assert isinstance(app, Litestar)
    assert (fast.status_code, fast.content) == (200, by_route.content)
    assert fast.headers.multi_items() == by_route.headers.multi_items()
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert (
        not_modified.headers["etag"] == etag and not_modified.headers["cache-control"] == "public, max-age=5"
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "dossier.not_found"
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "dossier_code.invalid"
