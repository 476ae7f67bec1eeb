"""The HTTP hot path (issue #6): answers built without re-reading, few statements per action, HTTP caching of
public tracking, the connection pool's idle ping, the reference-data caches, the city-wide list's capped total."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, text

from motcua.domain.lifecycle import Action, ActorKind
from motcua.services import dossiers as dossier_service
from motcua.services.audit import verify_database
from motcua.services.documents import DOCUMENTS_TOPIC, document_job
from motcua.services.dossiers import replay_check
from motcua.services.hooks import EventContext
from motcua.services.identity import actor_from_row, get_user
from motcua.services.runtime import Runtime
from motcua.store import db as db_module
from motcua.store.db import Database
from motcua.store.schema.outbox import outbox
from tests.api.conftest import KHAI_SINH, DossierApi

LIFECYCLE = [
    ("sg.tiepnhan", "accept", {}),
    ("sg.xuly", "forward", {"note": "Đủ điều kiện"}),
    ("sg.pheduyet", "approve", {}),
    ("sg.xuly", "issue_result", {"result": {"so": "123/2026"}}),
    ("sg.traketqua", "return_result", {"method": "desk"}),
]
HEAVY = ("form_data", "files", "history")


@contextmanager
def _each_statement(database: Database, record: Any) -> Iterator[None]:
    """`record(conn, cursor, statement, …)` is called for each statement sent meanwhile."""
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []
    with _each_statement(database, lambda *args: seen.append(args[2])):
        yield seen


def test_answers_equal_a_fresh_read_at_every_step(api: DossierApi) -> None:
    """The submission's and every action's answer (built from the state just written, no re-read) is what a
    later GET shows; the summary view is the full view without form data, files and history."""
    created = api.submit("congdan")
    assert created == api.get("congdan", created["code"])
    code = created["code"]
    for username, action, payload in LIFECYCLE:
        if action == "issue_result":  # the summary view of the same action
            body = {"action": action, "payload": payload}
            summary = api.call(
                "POST", f"/api/v1/dossiers/{code}/actions?view=summary", username, json=body, expect=200
            )
            assert set(HEAVY).isdisjoint(summary)
            full = api.get(username, code)
            assert summary == {k: v for k, v in full.items() if k not in HEAVY}
            continue
        answer = api.act(username, code, action, **payload)
        assert answer == api.get(username, code)
    assert api.get("sg.giamsat", code)["status"]["code"] == 10 or api.get("sg.giamsat", code)["outcome"]
    with api.db.read() as conn:
        assert replay_check(conn, code)
    report = verify_database(api.db)
    assert report.ok, report.problems


def _officer(runtime: Runtime, username: str) -> Any:
    with runtime.db.read() as conn:
        return actor_from_row(get_user(conn, username) or {})


@contextmanager
def autocommitted(database: Database) -> Iterator[list[bool]]:
    """For each statement sent: whether its PostgreSQL connection was in autocommit (no BEGIN, no COMMIT)."""
    seen: list[bool] = []

    def record(conn: Any, *_: Any) -> None:
        seen.append(bool(getattr(conn.connection.driver_connection, "autocommit", False)))

    with _each_statement(database, record):
        yield seen


def test_an_action_is_two_statements_on_postgresql(api: DossierApi, runtime: Runtime) -> None:
    """Without event hooks, an action on PostgreSQL is two statements outside any transaction (no BEGIN, no
    COMMIT: decision 0013): the read of the row, and ONE statement writing the row, the event, the outbox job
    and the audit entry; on SQLite the same rows are written one by one in a transaction."""
    code = api.submit("congdan")["code"]
    rt = Runtime(db=runtime.db, clock=runtime.clock, calendar=runtime.calendar, hooks=[])
    actor = _officer(runtime, "sg.tiepnhan")
    assert actor.kind is ActorKind.OFFICER
    before = api.row_counts()
    with statements(runtime.db) as seen, autocommitted(runtime.db) as alone:
        dossier_service.act(rt, actor, code, Action.ACCEPT, {}, summary=True)
    dossier_reads = [s for s in seen if s.startswith("SELECT dossiers.")]
    writes = [s for s in seen if s.lstrip().startswith(("INSERT", "UPDATE", "WITH"))]
    assert len(dossier_reads) == 1  # the answer is not read back
    if runtime.db.dialect == "postgresql":
        assert "FOR UPDATE" not in dossier_reads[0]
        assert len(writes) == 1, writes  # (the rest: this new runtime's first look at units and workflow)
        assert all(alone), list(zip(seen, alone, strict=True))
    after = api.row_counts()
    assert after["dossier_events"] == before["dossier_events"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    with runtime.db.read() as conn:
        jobs = conn.execute(
            select(outbox.c.payload)
            .where(outbox.c.topic == dossier_service.NATIONAL_SYNC_TOPIC, outbox.c.key == code)
            .order_by(outbox.c.id)
        ).scalars()
        assert [(job["seq"], job["status"]) for job in jobs] == [(1, 1), (2, 2)]  # submitted, accepted
    assert verify_database(runtime.db).ok


class _CompetitorFirst:
    """Stands in for the action's one statement: runs `compete` (another officer's action, committed) first."""

    def __init__(self, original: Any, compete: Any) -> None:
        self.original, self.compete = original, compete

    def rows(self, conn: Any, params: dict[str, Any]) -> Any:
        compete, self.compete = self.compete, None
        if compete is not None:
            compete()
        return self.original.rows(conn, params)


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        # both assign: the second is decided again on the first's state, and done after it
        ("assign", "assign", None),
        # both accept: the second is refused as if sent after the first (not a bare "changed meanwhile")
        ("accept", "accept", "dossier.action_not_allowed_in_status"),
    ],
)
def test_an_action_that_lost_the_race_is_decided_again_on_the_winners_state(
    api: DossierApi,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    then: str,
    expected: str | None,
) -> None:
    """On PostgreSQL an action reads the row without a lock and writes it if its version is unchanged (decision
    0013). Another action committed between the two: the write changes nothing, and the action is run again with
    the row locked, on the winner's state — what the officers would get had they clicked one after the other."""
    if runtime.db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers: no action can commit between another's read and write")
    code = api.submit("congdan")["code"]
    if first == "assign":
        api.act("sg.tiepnhan", code, "accept")
    username = "sg.quantri" if first == "assign" else "sg.tiepnhan"
    payload = {"assignee_id": "sg.xuly"} if first == "assign" else {}
    actor = _officer(runtime, username)
    won: list[dict[str, Any]] = []

    def compete() -> None:
        won.append(dossier_service.act(runtime, actor, code, Action(first), payload))

    monkeypatch.setattr(
        dossier_service, "_STORE_ACTION_ALONE", _CompetitorFirst(dossier_service._STORE_ACTION_ALONE, compete)
    )
    before = api.get(username, code)
    if expected is None:
        answer = dossier_service.act(runtime, actor, code, Action(then), payload)
        assert won and answer["version"] == won[0]["version"] + 1 == before["version"] + 2
        assert answer == api.get(username, code)
    else:
        with pytest.raises(Exception) as refused:
            dossier_service.act(runtime, actor, code, Action(then), payload)
        assert getattr(refused.value, "code", None) == expected
        assert won and api.get(username, code)["version"] == before["version"] + 1
    types = [h["type"] for h in api.get(username, code)["history"]]
    assert types.count(then) == (2 if expected is None else 1)
    with runtime.db.read() as conn:
        assert replay_check(conn, code)
    assert verify_database(runtime.db).ok


def test_the_documents_job_is_written_with_the_action(api: DossierApi, runtime: Runtime) -> None:
    """With the shipped hooks, the job queueing an action's document (the receipt on acceptance, the result on
    issuing) is the one the documents hook queues — same topic, key and payload, committed with the action —
    and on PostgreSQL it is written by the action's own statement (no separate INSERT); a submission answers
    with no files without reading them."""
    with statements(runtime.db) as seen:
        created = api.submit("congdan")
    assert created["files"] == [] and not [s for s in seen if "dossier_files" in s]
    code = created["code"]
    for username, action, payload in LIFECYCLE[:4]:
        with statements(runtime.db) as seen:
            api.act(username, code, action, **payload)
        if runtime.db.dialect == "postgresql":
            assert not [s for s in seen if s.lstrip().startswith("INSERT INTO outbox")], seen
    with runtime.db.read() as conn:
        row = conn.execute(
            select(dossier_service.dossiers).where(dossier_service.dossiers.c.code == code)
        ).one()
        jobs = conn.execute(
            select(outbox.c.key, outbox.c.payload, outbox.c.created_at, outbox.c.done_at)
            .where(outbox.c.topic == DOCUMENTS_TOPIC)
            .order_by(outbox.c.id)
        ).all()
        events = dossier_service.history(conn, row.id)
        state = dossier_service.state_from_dict(row.state)
        actors = {e.seq: actor_from_row(get_user(conn, e.actor_id) or {}) for e in events}
    expected = []
    for e in events:
        ctx = EventContext(None, runtime, row.id, state, e, actors[e.seq], {})  # type: ignore[arg-type]
        job = document_job(ctx)
        if job is not None:
            expected.append((job[1], job[2], e.at, None))
    assert len(jobs) == 2 and jobs[0].payload["kind"] == "giay_tiep_nhan"  # the receipt, then the result
    assert [tuple(job) for job in jobs] == expected
    assert verify_database(runtime.db).ok


def test_public_tracking_is_cacheable_and_revalidates(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    first = api.client.get(f"/api/v1/track/{code}")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=5"
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = api.client.get(f"/api/v1/track/{code}", headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    other = api.client.get(f"/api/v1/track/{code}", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.json() == first.json()
    api.act("sg.tiepnhan", code, "accept")
    changed = api.client.get(f"/api/v1/track/{code}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["status"]["code"] != first.json()["status"]["code"]
    missing = api.client.get("/api/v1/track/068.00.70.H29-260302-9999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "dossier.not_found"
    assert api.client.get("/api/v1/track/khong-phai-ma").status_code == 400


def test_the_submission_caches_follow_forget_catalog(api: DossierApi, runtime: Runtime) -> None:
    """The procedure and the workflow's latest version are cached per process; `forget_catalog` drops them."""
    api.submit("congdan")
    today = runtime.clock.now().date()
    with runtime.db.read() as conn, statements(runtime.db) as seen:
        procedure = runtime.city_procedure(conn, KHAI_SINH, today)
        workflow = runtime.latest_workflow(conn, procedure.workflow)
        assert seen == []  # both from the cache filled by the submission
        runtime.forget_catalog()
        assert runtime.city_procedure(conn, KHAI_SINH, today) == procedure
        assert runtime.latest_workflow(conn, procedure.workflow) is workflow
        assert len(seen) == 2


def test_an_online_level_change_applies_at_once_to_submissions_in_the_same_process(
    api: DossierApi, runtime: Runtime
) -> None:
    """The city admin withdraws online filing of a procedure: the next online submission in this process is
    refused, although the procedure had just been cached by a submission."""
    from motcua.services.admin import set_online_level

    api.submit("congdan")  # fills the cache
    with runtime.db.read() as conn:
        admin = actor_from_row(get_user(conn, "tp.quantri") or {})
    assert set_online_level(runtime, admin, KHAI_SINH, "khong")["changed"] is True
    refused = api.submit("congdan", expect=400)
    assert refused["error"]["code"] == "dossier.not_online"


def test_an_idle_pooled_connection_that_died_is_replaced(seeded_db: Database, monkeypatch: Any) -> None:
    """The pool pings a connection idle for longer than PING_AFTER_IDLE_SECONDS and swaps a dead one for a
    new one: after the server dropped it (a database restart), the next request does not fail."""
    if seeded_db.dialect != "postgresql":
        pytest.skip("the pool ping is for PostgreSQL (SQLite has no server connection)")
    database = Database(seeded_db.engine.url.render_as_string(hide_password=False))
    try:
        with database.read() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with seeded_db.read_one() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        with database.read() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        database.dispose()


def test_read_one_runs_without_a_transaction_on_postgresql(seeded_db: Database) -> None:
    with seeded_db.read_one() as conn:
        value = conn.execute(text("SELECT 1")).scalar_one()
        if seeded_db.dialect == "postgresql":
            raw = conn.connection.dbapi_connection
            assert raw is not None and raw.autocommit  # type: ignore[attr-defined]
    assert value == 1
    with seeded_db.read() as conn:  # the pooled connection is back to transactions
        if seeded_db.dialect == "postgresql":
            raw = conn.connection.dbapi_connection
            assert raw is not None and not raw.autocommit  # type: ignore[attr-defined]


def test_the_city_wide_list_has_a_capped_total_and_due_order(
    api: DossierApi, runtime: Runtime, monkeypatch: Any
) -> None:
    codes = [api.submit("congdan")["code"] for _ in range(3)]
    monitor = api.call("GET", "/api/v1/dossiers", "tp.giamsat", expect=200)
    assert monitor["total"] == 3 and monitor["total_is_capped"] is False
    monkeypatch.setattr(dossier_service, "LIST_COUNT_CAP", 2)
    capped = api.call("GET", "/api/v1/dossiers?limit=5", "tp.giamsat", expect=200)
    assert capped["total"] == 2 and capped["total_is_capped"] is True
    assert sorted(item["code"] for item in capped["items"]) == sorted(codes)  # the page is not capped
    ward = api.call("GET", "/api/v1/dossiers", "sg.giamsat", expect=200)  # a unit's "all": capped too
    assert ward["total"] == 2 and ward["total_is_capped"] is True and len(ward["items"]) == 3
    # the dossiers received at the unit reach the cap: the union is not counted
    ward = api.call("GET", "/api/v1/dossiers?status=1", "sg.giamsat", expect=200)
    assert ward["total"] == 2 and ward["total_is_capped"] is True
    monkeypatch.setattr(dossier_service, "LIST_COUNT_CAP", 4)  # they do not: every arm is counted, exactly
    ward = api.call("GET", "/api/v1/dossiers", "sg.giamsat", expect=200)
    assert ward["total"] == 3 and ward["total_is_capped"] is False
    monkeypatch.setattr(dossier_service, "LIST_COUNT_CAP", 2)
    new = api.call("GET", "/api/v1/dossiers?queue=new", "sg.tiepnhan", expect=200)  # the active queues: exact
    assert new["total"] == 3 and new["total_is_capped"] is False
    dues = [item["due_at"] for item in capped["items"]]
    assert dues == sorted(dues, key=lambda due: (due is None, due or ""))


def test_tracking_survives_a_dropped_connection_and_matches_the_sync_lookup(
    api: DossierApi, runtime: Runtime
) -> None:
    """On PostgreSQL the lookup is awaited on the event loop (`track_async`, its own connections); one that
    the server dropped is replaced without an error. Both paths give the same answer."""
    code = api.submit("congdan")["code"]
    first = api.track(code)
    assert first == dossier_service.track(runtime, code)
    if runtime.db.dialect != "postgresql":
        assert runtime.db.async_reader is None
        return
    assert runtime.db.async_reader is not None
    with runtime.db.read_one() as conn:
        dropped = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND query = :lookup"
            ),
            {"lookup": dossier_service._TRACK_SQL},
        ).all()
    assert dropped == [(True,)]  # the lookup's own connection
    assert api.track(code) == first
