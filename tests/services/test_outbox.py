"""The outbox keeps work until it succeeds: failures are retried later, successes run once."""

from __future__ import annotations

from datetime import timedelta

from motcua.domain.clock import FixedClock
from motcua.services.outbox import Job, claim, enqueue, run_once
from motcua.store.db import Database


def test_a_failing_job_is_retried_with_backoff_until_it_succeeds(db: Database, clock: FixedClock) -> None:
    with db.transaction() as conn:
        enqueue(conn, topic="t", key="k1", payload={"n": 1}, now=clock.now())
    calls: list[int] = []
    portal_up = False

    def handler(job: Job) -> None:
        calls.append(job.attempts)
        if not portal_up:
            raise ConnectionError("portal down")

    assert run_once(db, {"t": handler}, now=clock.now()) == 0
    assert run_once(db, {"t": handler}, now=clock.now()) == 0  # backing off: not claimed again yet
    assert calls == [0]
    portal_up = True
    assert run_once(db, {"t": handler}, now=clock.advance(timedelta(seconds=5))) == 1
    assert calls == [0, 1]
    assert run_once(db, {"t": handler}, now=clock.advance(timedelta(hours=2))) == 0
    with db.read() as conn:
        assert claim(conn, topic="t", now=clock.now()) == []


def test_jobs_run_in_order_and_only_their_topic(db: Database, clock: FixedClock) -> None:
    with db.transaction() as conn:
        for n in range(3):
            enqueue(conn, topic="a", key=f"k{n}", payload={"n": n}, now=clock.now())
        enqueue(conn, topic="b", key="x", payload={}, now=clock.now())
    seen: list[int] = []
    assert run_once(db, {"a": lambda job: seen.append(job.payload["n"])}, now=clock.now()) == 3
    assert seen == [0, 1, 2]
    with db.read() as conn:
        assert [j.key for j in claim(conn, topic="b", now=clock.now())] == ["x"]
