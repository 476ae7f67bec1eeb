"""The outbox's dead letters through HTTP and the CLI (decision 0009): the city administrator lists jobs by
state and topic with counts, retries or discards a dead one (audited, stable 4xx codes otherwise); anyone
else gets 403; `/healthz/outbox` gives monitoring the dead count and the oldest pending job's age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from motcua.cli.main import cli
from motcua.services.dossiers import NATIONAL_SYNC_TOPIC
from motcua.services.outbox import Job, PermanentJobError, RetryPolicy, run_once
from motcua.store.schema.audit import audit_log
from motcua.store.schema.outbox import outbox
from tests.api.conftest import DossierApi

ADMIN_OUTBOX = "/api/v1/admin/outbox"


def _refuse(job: Job) -> None:
    raise PermanentJobError("registry.rejected", "Cổng không chấp nhận thông điệp")


def _kill_the_portal_jobs(api: DossierApi) -> list[int]:
    """The portal's status changes queued so far, given up (a permanent refusal); their ids."""
    run_once(api.db, {NATIONAL_SYNC_TOPIC: _refuse}, now=api.clock.now(), policy=RetryPolicy())
    with api.db.read() as conn:
        return list(conn.execute(select(outbox.c.id).where(outbox.c.dead_at.is_not(None))).scalars())


def test_the_city_admin_lists_retries_and_discards_dead_jobs(api: DossierApi) -> None:
    first = api.submit("congdan")["code"]
    second = api.submit("congdan2")["code"]
    dead, other = _kill_the_portal_jobs(api)
    api.submit("congdan")  # one pending
    api.clock.advance(timedelta(minutes=3))
    listed = api.call("GET", ADMIN_OUTBOX, "tp.quantri", expect=200)
    assert [(j["id"], j["key"], j["state"]) for j in listed["items"]] == [
        (dead, first, "dead"),
        (other, second, "dead"),
    ]
    assert listed["items"][0]["last_error"].startswith("registry.rejected")
    assert listed["counts"] == {NATIONAL_SYNC_TOPIC: {"pending": 1, "dead": 2, "discarded": 0}}
    assert listed["health"] == {"dead": 2, "pending": 1, "oldest_pending_age_seconds": 180}
    pending = api.call(
        "GET", f"{ADMIN_OUTBOX}?state=pending&topic={NATIONAL_SYNC_TOPIC}", "tp.quantri", expect=200
    )
    assert len(pending["items"]) == 1 and pending["items"][0]["state"] == "pending"
    assert api.call("GET", f"{ADMIN_OUTBOX}?topic=documents.issue", "tp.quantri", expect=200)["items"] == []

    retried = api.call("POST", f"{ADMIN_OUTBOX}/{dead}/retry", "tp.quantri", expect=200)
    assert retried["state"] == "pending"
    discarded = api.call(
        "POST",
        f"{ADMIN_OUTBOX}/{other}/discard",
        "tp.quantri",
        json={"reason": "Hồ sơ thử nghiệm"},
        expect=200,
    )
    assert discarded["discarded"] is True
    with api.db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(outbox).where(outbox.c.id.in_([dead, other])))}
    assert rows[dead].dead_at is None and rows[dead].attempts == 0
    assert rows[other].discarded_by == "tp.quantri" and rows[other].discard_reason == "Hồ sơ thử nghiệm"
    with api.db.read() as conn:
        audited = conn.execute(
            select(
                audit_log.c.actor_id, audit_log.c.actor_role, audit_log.c.action, audit_log.c.object_id
            ).where(audit_log.c.object_type == "outbox_job")
        ).all()
    assert sorted(tuple(a) for a in audited) == [
        ("tp.quantri", "city_admin", "outbox.job_discarded", str(other)),
        ("tp.quantri", "city_admin", "outbox.job_retried", str(dead)),
    ]
    after = api.call("GET", f"{ADMIN_OUTBOX}?state=discarded", "tp.quantri", expect=200)
    assert [j["id"] for j in after["items"]] == [other] and after["items"][0][
        "discard_reason"
    ] == "Hồ sơ thử nghiệm"
    assert api.call("GET", ADMIN_OUTBOX, "tp.quantri", expect=200)["health"]["dead"] == 0


def test_refusals_have_stable_codes_and_change_nothing(api: DossierApi) -> None:
    api.submit("congdan")
    [dead] = _kill_the_portal_jobs(api)
    for user in ("congdan", "sg.tiepnhan", "sg.quantri"):  # a citizen, an officer, a unit's administrator
        for method, path, body in (
            ("GET", ADMIN_OUTBOX, None),
            ("POST", f"{ADMIN_OUTBOX}/{dead}/retry", None),
            ("POST", f"{ADMIN_OUTBOX}/{dead}/discard", {"reason": "không cần nữa"}),
        ):
            refused = api.call(method, path, user, json=body, expect=403)
            assert refused["error"]["code"] == "outbox.city_admin_only"
            assert "quản trị Thành phố" in refused["error"]["message"]
    api.call("GET", ADMIN_OUTBOX, expect=401)
    missing = api.call("POST", f"{ADMIN_OUTBOX}/987654/retry", "tp.quantri", expect=404)
    assert missing["error"]["code"] == "outbox.job_not_found"
    no_reason = api.call(
        "POST", f"{ADMIN_OUTBOX}/{dead}/discard", "tp.quantri", json={"reason": " "}, expect=400
    )
    assert no_reason["error"]["code"] == "outbox.reason_required"
    assert api.call("POST", f"{ADMIN_OUTBOX}/{dead}/discard", "tp.quantri", json={}, expect=400)["error"][
        "code"
    ] == ("request.invalid")
    bad_state = api.call("GET", f"{ADMIN_OUTBOX}?state=lost", "tp.quantri", expect=400)
    assert bad_state["error"]["code"] == "outbox.bad_state"
    api.call("POST", f"{ADMIN_OUTBOX}/{dead}/retry", "tp.quantri", expect=200)
    again = api.call("POST", f"{ADMIN_OUTBOX}/{dead}/retry", "tp.quantri", expect=409)
    assert again["error"]["code"] == "outbox.not_dead" and "đang chờ chạy" in again["error"]["message"]
    with api.db.read() as conn:
        actions = conn.execute(
            select(audit_log.c.action).where(audit_log.c.object_type == "outbox_job")
        ).scalars()
        assert list(actions) == ["outbox.job_retried"]  # only the one change that was made


def test_healthz_outbox_reports_dead_jobs_and_the_oldest_pending_age(api: DossierApi) -> None:
    assert api.call("GET", "/healthz/outbox", expect=200) == {
        "status": "ok",
        "outbox": {"dead": 0, "pending": 0, "oldest_pending_age_seconds": None},
    }
    api.submit("congdan")
    _kill_the_portal_jobs(api)
    api.submit("congdan2")
    api.clock.advance(timedelta(hours=2))
    health = api.call("GET", "/healthz/outbox", expect=200)
    assert health["outbox"] == {"dead": 1, "pending": 1, "oldest_pending_age_seconds": 7200}
    assert api.call("GET", "/healthz", expect=200) == {"status": "ok"}  # liveness stays database-free


@pytest.fixture
def cli_env(api: DossierApi) -> dict[str, str]:
    return {"MOTCUA_DATABASE_URL": api.db.engine.url.render_as_string(hide_password=False)}


def test_the_cli_lists_retries_and_discards(api: DossierApi, cli_env: dict[str, str]) -> None:
    code = api.submit("congdan")["code"]
    second = api.submit("congdan2")["code"]
    dead, other = _kill_the_portal_jobs(api)
    runner = CliRunner()
    listed = runner.invoke(
        cli, ["outbox", "list", "--state", "dead", "--topic", NATIONAL_SYNC_TOPIC], env=cli_env
    )
    assert listed.exit_code == 0, listed.output
    assert code in listed.output and second in listed.output and "registry.rejected" in listed.output
    assert "— 2 việc" in listed.output and "ngừng thử     2" in listed.output
    retried = runner.invoke(cli, ["outbox", "retry", str(dead)], env=cli_env)
    assert retried.exit_code == 0 and "về hàng chờ" in retried.output
    discarded = runner.invoke(cli, ["outbox", "discard", str(other), "--reason", "dữ liệu thử"], env=cli_env)
    assert discarded.exit_code == 0, discarded.output
    with api.db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(outbox).where(outbox.c.id.in_([dead, other])))}
        audited = conn.execute(
            select(audit_log.c.actor_id, audit_log.c.action).where(audit_log.c.object_type == "outbox_job")
        ).all()
    assert rows[dead].dead_at is None and rows[other].discard_reason == "dữ liệu thử"
    assert rows[other].discarded_by.startswith("cli:")
    assert sorted(a.action for a in audited) == ["outbox.job_discarded", "outbox.job_retried"]
    assert all(a.actor_id.startswith("cli:") for a in audited)
    as_json = runner.invoke(cli, ["outbox", "list", "--state", "pending", "--json"], env=cli_env)
    assert as_json.exit_code == 0 and f'"id": {dead}' in as_json.output


def test_the_cli_refuses_bad_input_with_one_line_and_a_non_zero_status(
    api: DossierApi, cli_env: dict[str, str]
) -> None:
    import subprocess
    import sys

    api.submit("congdan")
    [dead] = _kill_the_portal_jobs(api)
    api.db.dispose()
    env = {**__import__("os").environ, **cli_env}
    for args, reason in (
        (["outbox", "retry", "999999"], "Lỗi [outbox.job_not_found]"),
        (["outbox", "discard", str(dead), "--reason", "x"], "Lỗi [outbox.reason_required]"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "motcua.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.startswith("Lỗi")]
        assert len(lines) == 1 and lines[0].startswith(reason)
    bad = CliRunner().invoke(cli, ["outbox", "list", "--state", "lost"], env=cli_env)
    assert bad.exit_code == 2 and "lost" in bad.output
