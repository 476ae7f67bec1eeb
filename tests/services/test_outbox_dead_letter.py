"""The outbox's dead letters (decision 0009): a job that keeps failing is given up after its topic's attempts,
or at once on a permanent error; a dead job is never run again; the administrator retries it (it then runs and
can succeed) or discards it (who, when, why); both are audited; the health figures count what needs a look.
The migration builds the same table and indexes as the declared schema."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from motcua.domain.clock import FixedClock
from motcua.domain.errors import Conflict, InvalidInput, NotFound
from motcua.services.outbox import (
    POLICY_FILE,
    Job,
    PermanentJobError,
    RetryPolicy,
    claim,
    discard_dead_job,
    enqueue,
    job_counts,
    list_jobs,
    load_policy,
    outbox_health,
    parse_policy,
    retry_dead_job,
    run_once,
)
from motcua.store.db import Database
from motcua.store.schema.audit import audit_log
from motcua.store.schema.outbox import outbox

POLICY = RetryPolicy(default=3, by_topic={"slow": 5})
ADMIN = {"actor_id": "tp.quantri", "actor_role": "city_admin", "unit_id": "thanh-pho-ho-chi-minh"}


def _row(db: Database, job_id: int) -> Any:
    with db.read() as conn:
        return conn.execute(select(outbox).where(outbox.c.id == job_id)).one()


def _enqueue(db: Database, clock: FixedClock, topic: str = "t", key: str = "k") -> int:
    with db.transaction() as conn:
        enqueue(conn, topic=topic, key=key, payload={"n": 1}, now=clock.now())
        return int(conn.execute(select(outbox.c.id).order_by(outbox.c.id.desc()).limit(1)).scalar_one())


class Flaky:
    """A handler failing (or failing for good) as told, recording the attempts it saw."""

    def __init__(self, outcome: str = "fail") -> None:
        self.outcome = outcome
        self.calls: list[int] = []

    def __call__(self, job: Job) -> None:
        self.calls.append(job.attempts)
        if self.outcome == "fail":
            raise ConnectionError("portal down")
        if self.outcome == "permanent":
            raise PermanentJobError("registry.rejected", "Cổng không chấp nhận")


def test_a_job_failing_max_attempts_times_is_dead_and_never_run_again(
    db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = _enqueue(db, clock)
    handler = Flaky()
    with caplog.at_level(logging.WARNING, logger="motcua.worker"):
        for _ in range(6):
            run_once(db, {"t": handler}, now=clock.advance(timedelta(hours=2)), policy=POLICY)
    assert handler.calls == [0, 1, 2]  # three attempts (the topic's default), then never again
    row = _row(db, job_id)
    assert row.dead_at is not None and row.done_at is None and row.attempts == 3
    assert row.last_error == "ConnectionError: portal down"
    deaths = [r for r in caplog.records if "is dead" in r.getMessage()]
    assert len(deaths) == 1 and deaths[0].levelno == logging.WARNING and str(job_id) in deaths[0].getMessage()
    with db.read() as conn:
        assert claim(conn, topic="t", now=clock.advance(timedelta(days=30))) == []


def test_each_topic_has_its_own_number_of_attempts(db: Database, clock: FixedClock) -> None:
    slow = _enqueue(db, clock, topic="slow")
    handler = Flaky()
    for _ in range(8):
        run_once(db, {"slow": handler}, now=clock.advance(timedelta(hours=2)), policy=POLICY)
    assert handler.calls == [0, 1, 2, 3, 4]
    assert _row(db, slow).dead_at is not None


def test_a_permanent_error_kills_the_job_at_once(db: Database, clock: FixedClock) -> None:
    job_id = _enqueue(db, clock)
    handler = Flaky("permanent")
    run_once(db, {"t": handler}, now=clock.now(), policy=POLICY)
    run_once(db, {"t": handler}, now=clock.advance(timedelta(hours=2)), policy=POLICY)
    assert handler.calls == [0]
    row = _row(db, job_id)
    assert row.dead_at == clock.now() - timedelta(hours=2) and row.attempts == 1
    assert row.last_error.startswith("registry.rejected:")


def test_retry_brings_a_dead_job_back_now_and_it_then_succeeds(db: Database, clock: FixedClock) -> None:
    job_id = _enqueue(db, clock)
    handler = Flaky("permanent")
    run_once(db, {"t": handler}, now=clock.now(), policy=POLICY)
    with db.transaction() as conn:
        result = retry_dead_job(conn, job_id, now=clock.advance(timedelta(minutes=1)), **ADMIN)
    assert result["state"] == "pending"
    row = _row(db, job_id)
    assert row.dead_at is None and row.attempts == 0 and row.available_at == clock.now()
    handler.outcome = "ok"
    assert run_once(db, {"t": handler}, now=clock.now(), policy=POLICY) == 1
    assert handler.calls == [0, 0]
    row = _row(db, job_id)
    assert row.done_at == clock.now() and row.attempts == 1
    with db.read() as conn:
        audited = conn.execute(
            select(audit_log.c.actor_id, audit_log.c.action, audit_log.c.object_type, audit_log.c.data).where(
                audit_log.c.object_id == str(job_id)
            )
        ).all()
    assert [(a.actor_id, a.action, a.object_type) for a in audited] == [
        ("tp.quantri", "outbox.job_retried", "outbox_job")
    ]
    assert audited[0].data["attempts"] == 1 and audited[0].data["last_error"].startswith("registry.rejected")


def test_discard_keeps_the_job_dead_with_who_and_why_and_is_audited(db: Database, clock: FixedClock) -> None:
    job_id = _enqueue(db, clock)
    run_once(db, {"t": Flaky("permanent")}, now=clock.now(), policy=POLICY)
    with db.transaction() as conn, pytest.raises(InvalidInput) as no_reason:
        discard_dead_job(conn, job_id, reason="  x ", now=clock.now(), **ADMIN)
    assert no_reason.value.code == "outbox.reason_required"
    with db.transaction() as conn:
        discard_dead_job(conn, job_id, reason="Hồ sơ  đã bị hủy\n theo quyết định", now=clock.now(), **ADMIN)
    row = _row(db, job_id)
    assert row.dead_at is not None and row.discarded_at == clock.now()
    assert (row.discarded_by, row.discard_reason) == ("tp.quantri", "Hồ sơ đã bị hủy theo quyết định")
    with db.transaction() as conn, pytest.raises(Conflict) as twice:
        discard_dead_job(conn, job_id, reason="lần nữa thôi", now=clock.now(), **ADMIN)
    assert twice.value.code == "outbox.already_discarded"
    with db.read() as conn:
        assert [j["id"] for j in list_jobs(conn, state="discarded")] == [job_id]
        assert list_jobs(conn, state="dead") == []
        audited = conn.execute(
            select(audit_log.c.action, audit_log.c.data).where(audit_log.c.object_id == str(job_id))
        ).one()
    assert audited.action == "outbox.job_discarded" and audited.data["reason"] == row.discard_reason


def test_only_a_dead_job_is_retried_or_discarded(db: Database, clock: FixedClock) -> None:
    pending = _enqueue(db, clock)
    with db.transaction() as conn, pytest.raises(NotFound) as missing:
        retry_dead_job(conn, 999_999, now=clock.now(), **ADMIN)
    assert missing.value.code == "outbox.job_not_found"
    with db.transaction() as conn, pytest.raises(Conflict) as not_dead:
        retry_dead_job(conn, pending, now=clock.now(), **ADMIN)
    assert not_dead.value.code == "outbox.not_dead" and "đang chờ chạy" in not_dead.value.message
    run_once(db, {"t": Flaky("ok")}, now=clock.now(), policy=POLICY)
    with db.transaction() as conn, pytest.raises(Conflict) as done:
        discard_dead_job(conn, pending, reason="không cần nữa", now=clock.now(), **ADMIN)
    assert done.value.code == "outbox.not_dead" and "đã xong" in done.value.message
    with db.read() as conn:
        assert (
            conn.execute(select(audit_log.c.id)).first() is None
        )  # refused: nothing changed, nothing logged


def test_counts_lists_and_health_figures(db: Database, clock: FixedClock) -> None:
    start = clock.now()
    dead = _enqueue(db, clock, topic="a", key="dead")
    discarded = _enqueue(db, clock, topic="a", key="discarded")
    run_once(db, {"a": Flaky("permanent")}, now=clock.now(), policy=POLICY)
    clock.advance(timedelta(minutes=10))
    _enqueue(db, clock, topic="a", key="waiting")
    _enqueue(db, clock, topic="b", key="waiting")
    with db.transaction() as conn:
        discard_dead_job(conn, discarded, reason="dữ liệu thử nghiệm", now=clock.now(), **ADMIN)
    now = clock.advance(timedelta(minutes=5))
    with db.read() as conn:
        assert job_counts(conn) == {
            "a": {"pending": 1, "dead": 1, "discarded": 1},
            "b": {"pending": 1, "dead": 0, "discarded": 0},
        }
        assert outbox_health(conn, now=now) == {"dead": 1, "pending": 2, "oldest_pending_age_seconds": 300}
        assert [j["id"] for j in list_jobs(conn)] == [dead, discarded]  # every dead one
        assert [j["key"] for j in list_jobs(conn, state="pending", topic="b")] == ["waiting"]
        view = list_jobs(conn, state="dead")[0]
        assert view["state"] == "dead" and view["discarded"] is False and view["payload"] == {"n": 1}
        assert view["dead_at"] == start.isoformat()
        with pytest.raises(InvalidInput):
            list_jobs(conn, state="lost")
    run_once(db, {"a": Flaky("ok"), "b": Flaky("ok")}, now=now, policy=POLICY)
    with db.read() as conn:
        assert outbox_health(conn, now=now) == {"dead": 1, "pending": 0, "oldest_pending_age_seconds": None}
        assert [j["key"] for j in list_jobs(conn, state="done")] == ["waiting", "waiting"]


def test_the_shipped_policy_is_valid_and_a_bad_one_is_refused() -> None:
    policy = load_policy(POLICY_FILE)
    assert policy.max_attempts("national_portal.status") == 84
    assert policy.max_attempts("documents.issue") == 36 and policy.max_attempts("anything.else") == 36
    shipped = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    for bad in (
        None,
        {"max_attempts": {"t": 3}},  # no default
        {"max_attempts": {"default": 0}},
        {"max_attempts": {"default": True}},
        {"max_attempts": {"default": "36"}},
        {"max_attempts": {"default": 36, "t": 5000}},
        {"attempts": shipped["max_attempts"]},
    ):
        with pytest.raises(InvalidInput) as refused:
            parse_policy(bad)
        assert refused.value.code == "outbox.bad_policy"


# ---------------------------------------------------------------- the state machine, over random histories

_topics = itertools.count(1)
OUTCOMES = st.lists(st.sampled_from(["ok", "fail", "permanent", "retry", "discard"]), min_size=1, max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outcomes=OUTCOMES, max_attempts=st.integers(min_value=1, max_value=4))
def test_a_job_follows_its_state_machine(
    db: Database, clock: FixedClock, outcomes: list[str], max_attempts: int
) -> None:
    """Whatever happens: a done job never changes, a dead job is never run, attempts count every run exactly,
    a job dies exactly at its topic's limit or on a permanent error, and only a dead job is retried or
    discarded (a discarded one stays dead until retried)."""
    topic = f"p{next(_topics)}"  # each example its own topic: examples share the database
    policy = RetryPolicy(default=max_attempts)
    job_id = _enqueue(db, clock, topic=topic)
    state, attempts, runs, discarded = "pending", 0, 0, False
    handler = Flaky()
    for outcome in outcomes:
        now = clock.advance(timedelta(hours=2))  # always past the backoff
        before = _row(db, job_id)
        if outcome in ("retry", "discard"):
            with db.transaction() as conn:
                try:
                    if outcome == "retry":
                        retry_dead_job(conn, job_id, now=now, **ADMIN)
                    else:
                        discard_dead_job(conn, job_id, reason="lý do thử", now=now, **ADMIN)
                except Conflict:
                    assert state != "dead" or (outcome == "discard" and discarded)
                else:
                    assert state == "dead"
                    if outcome == "retry":
                        state, attempts, discarded = "pending", 0, False
                    else:
                        assert not discarded
                        discarded = True
        else:
            handler.outcome = outcome
            run_once(db, {topic: handler}, now=now, policy=policy)
            if state == "pending":
                runs += 1
                attempts += 1
                if outcome == "ok":
                    state = "done"
                elif outcome == "permanent" or attempts >= max_attempts:
                    state = "dead"
        row = _row(db, job_id)
        assert len(handler.calls) == runs
        assert row.attempts == attempts
        found = "done" if row.done_at is not None else "dead" if row.dead_at is not None else "pending"
        assert found == state
        assert (row.discarded_at is not None) == discarded
        if before.done_at is not None:
            assert tuple(row) == tuple(before)  # a done job never changes
        assert not (row.done_at is not None and row.dead_at is not None)


# ---------------------------------------------------------------- the migration


def _outbox_indexes(db: Database) -> dict[str, str]:
    """The outbox's index definitions as the database reports them, normalised for comparison."""
    with db.read() as conn:
        if db.dialect == "sqlite":
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'")
            ).all()
        else:
            rows = conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox'")
            ).all()
    return {
        name: " ".join(
            (sql or "").replace('"', "").replace("(done_at", "done_at").replace("null)", "null").split()
        ).lower()
        for name, sql in rows
    }


def test_the_dead_letter_revision_builds_the_declared_outbox(db: Database, empty_db: Database) -> None:
    """Upgraded to e9f4a1c3b7d8 (its own revision, not "head"), the
    outbox has the declared columns and the same partial indexes as `create_all`; it downgrades and upgrades."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import MetaData

    from motcua.store.migrate import MIGRATIONS_DIR, alembic_config, upgrade

    if db.dialect != empty_db.dialect:
        pytest.skip("compared on the same database kind")
    url = empty_db.engine.url.render_as_string(hide_password=False)
    upgrade(url, "e9f4a1c3b7d8")
    declared = MetaData()
    outbox.to_metadata(declared)
    with empty_db.read() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), declared)
    assert [d for d in differences if "outbox" in repr(d) and d[0] != "remove_table"] == []
    migrated = _outbox_indexes(empty_db)
    assert migrated == _outbox_indexes(db)
    assert "(topic, id) where done_at is null" in migrated["ix_outbox_pending"]  # claim's order
    assert "dead_at is not null" in migrated["ix_outbox_dead"]
    command.downgrade(alembic_config(url, migrations=MIGRATIONS_DIR), "f3b8d1e6a4c7")
    downgraded = _outbox_indexes(empty_db)
    assert "ix_outbox_dead" not in downgraded and "(topic, available_at)" in downgraded["ix_outbox_pending"]
    upgrade(url, "e9f4a1c3b7d8")
    assert _outbox_indexes(empty_db) == migrated
