"""Dossier codes under concurrency, on both databases: `<agency code>-<yymmdd>-<4-digit daily sequence>` with no
gaps and no duplicates per receiving agency and day; concurrent actions on one dossier never both apply."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from motcua.services.audit import audit_trail
from motcua.services.dossiers import replay_check
from motcua.store.schema.dossiers import dossier_events, dossiers
from tests.api.conftest import DossierApi

SAI_GON = "068.00.70.H29"
THREADS = 8


def _in_threads(streams: list[list[Callable[[], Any]]]) -> list[Any]:
    """Run each stream of calls on its own thread, all threads starting at the same moment."""
    barrier = threading.Barrier(len(streams))

    def run(stream: list[Callable[[], Any]]) -> list[Any]:
        barrier.wait(timeout=30)
        return [call() for call in stream]

    with ThreadPoolExecutor(len(streams)) as pool:
        return [result for results in pool.map(run, streams) for result in results]


def _agency_code(api: DossierApi, unit_id: str) -> str:
    units = api.call("GET", f"/api/v1/units?q={unit_id}", expect=200)["items"]
    return str(next(unit["agency_code"] for unit in units if unit["id"] == unit_id))


def test_forty_simultaneous_filings_get_forty_consecutive_codes_per_ward(api: DossierApi) -> None:
    ben_thanh = _agency_code(api, "phuong-ben-thanh")
    for username in ("congdan", "congdan2"):
        api.auth(username)  # log in before the race

    def filing(username: str, unit_id: str) -> Callable[[], str]:
        return lambda: str(api.submit(username, unit_id=unit_id)["code"])

    # 8 threads, each filing 5 times at Phường Sài Gòn and once, in the middle, at Phường Bến Thành.
    streams = [
        [filing(("congdan", "congdan2")[thread % 2], "phuong-sai-gon") for _ in range(5)]
        for thread in range(THREADS)
    ]
    for thread, stream in enumerate(streams):
        stream.insert(thread % 5, filing("congdan2", "phuong-ben-thanh"))
    codes = _in_threads(streams)
    assert len(codes) == 48

    sai_gon_codes = sorted(code for code in codes if code.startswith(SAI_GON))
    assert sai_gon_codes == [f"{SAI_GON}-260302-{seq:04d}" for seq in range(1, 41)]
    assert sorted(code for code in codes if code.startswith(ben_thanh)) == [
        f"{ben_thanh}-260302-{seq:04d}" for seq in range(1, 9)
    ]
    with api.db.read() as conn:
        stored = conn.execute(select(dossiers.c.code)).scalars().all()
    assert sorted(stored) == sorted(codes)  # every filing stored once
    assert api.track(f"{SAI_GON}-260302-0040")["status"]["code"] == 1


def test_the_sequence_restarts_each_day(api: DossierApi) -> None:
    api.at("2026-03-02 16:55")
    assert [api.submit("congdan")["code"] for _ in range(2)] == [
        f"{SAI_GON}-260302-0001",
        f"{SAI_GON}-260302-0002",
    ]
    api.at("2026-03-03 00:05")  # a filing just after midnight belongs to the new day
    assert api.submit("congdan")["code"] == f"{SAI_GON}-260303-0001"
    api.at("2026-03-07 10:00")  # online filings are also taken on a Saturday
    assert api.submit("congdan2")["code"] == f"{SAI_GON}-260307-0001"


Attempt = tuple[str, str, dict[str, Any]]  # (username, action, payload)


def _attempt(username: str, action: str, **payload: Any) -> Attempt:
    return (username, action, payload)


def _race(api: DossierApi, code: str, first: Attempt, second: Attempt) -> list[dict[str, Any]]:
    """Two actions on one dossier at the same moment; returns both responses as {status, body}."""

    def sender(username: str, action: str, payload: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        def send() -> dict[str, Any]:
            body = {"action": action, "payload": payload}
            response = api.client.post(
                f"/api/v1/dossiers/{code}/actions", json=body, headers=api.auth(username)
            )
            return {"status": response.status_code, "body": response.json()}

        return send

    api.auth(first[0])
    api.auth(second[0])
    return _in_threads([[sender(*first)], [sender(*second)]])


def _exactly_one_wins(api: DossierApi, code: str, outcomes: list[dict[str, Any]], events: int) -> str:
    """One 200 and one 409; the dossier has `events` events numbered 1..n, replays, and each is audited once.
    Returns the action that won."""
    assert sorted(outcome["status"] for outcome in outcomes) == [200, 409], outcomes
    loser = next(outcome["body"] for outcome in outcomes if outcome["status"] == 409)
    assert loser["error"]["code"] in {
        "dossier.concurrent_update",
        "dossier.action_not_allowed_in_status",
        "dossier.action_not_in_step",
    }
    with api.db.read() as conn:
        dossier_id = conn.execute(select(dossiers.c.id).where(dossiers.c.code == code)).scalar_one()
        seqs = (
            conn.execute(
                select(dossier_events.c.seq)
                .where(dossier_events.c.dossier_id == dossier_id)
                .order_by(dossier_events.c.seq)
            )
            .scalars()
            .all()
        )
        assert replay_check(conn, code)
        assert len(audit_trail(conn, "dossier", code)) == events
    assert seqs == list(range(1, events + 1))
    view = api.get("sg.giamsat", code)
    assert view["version"] == events
    return str(view["history"][-1]["type"])


def test_an_accept_and_a_refusal_at_the_same_moment_only_one_applies(api: DossierApi) -> None:
    reason = {"reason": "Hồ sơ không thuộc thẩm quyền giải quyết"}
    for _ in range(4):  # a race is not always a real overlap: try several times
        code = api.submit("congdan")["code"]
        accept, refuse = (
            _attempt("sg.tiepnhan", "accept"),
            _attempt("sg.tiepnhan", "refuse_reception", **reason),
        )
        won = _exactly_one_wins(api, code, _race(api, code, accept, refuse), events=2)
        assert api.get("congdan", code)["status"]["code"] == {"accept": 2, "refuse_reception": 3}[won]


def test_the_citizen_withdrawing_while_the_desk_refuses_only_one_applies(api: DossierApi) -> None:
    reason = {"reason": "Hồ sơ không thuộc thẩm quyền giải quyết"}
    for _ in range(4):
        code = api.submit("congdan")["code"]
        withdraw, refuse = (
            _attempt("congdan", "withdraw"),
            _attempt("sg.tiepnhan", "refuse_reception", **reason),
        )
        won = _exactly_one_wins(api, code, _race(api, code, withdraw, refuse), events=2)
        assert api.track(code)["status"]["code"] == {"withdraw": 7, "refuse_reception": 3}[won]


def test_a_double_click_and_crossing_actions_apply_once(api: DossierApi) -> None:
    missing = {"missing": ["Giấy chứng sinh (bản chính)"]}
    for _ in range(3):
        code = api.submit("congdan")["code"]
        accept = _attempt("sg.tiepnhan", "accept")
        assert _exactly_one_wins(api, code, _race(api, code, accept, accept), events=2) == "accept"
        forward, request = (
            _attempt("sg.xuly", "forward"),
            _attempt("sg.xuly", "request_supplement", **missing),
        )
        _exactly_one_wins(api, code, _race(api, code, forward, request), events=3)
    with api.db.read() as conn:
        duplicated = conn.execute(
            select(dossier_events.c.dossier_id, dossier_events.c.seq)
            .group_by(dossier_events.c.dossier_id, dossier_events.c.seq)
            .having(func.count() > 1)
        ).all()
    assert duplicated == []
