"""Status sync and the outbox's dead letters (decision 0009): a change the portal refuses for good (a 4xx about
the message) is given up at once and no longer holds the dossier's later changes back; credentials refused
(401) are the city's configuration, retried; a change whose dossier is gone is given up; retried by the
administrator, a dead change is delivered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from motcua.services.dossiers import NATIONAL_SYNC_TOPIC
from motcua.services.outbox import enqueue, retry_dead_job
from motcua.services.portal_sync import deliver_status_changes
from motcua.services.runtime import Runtime
from motcua.store.schema.outbox import outbox
from tests.api.conftest import KHAI_SINH, DossierApi
from tests.integrations.conftest import Sandbox, make_gateway


def _jobs(api: DossierApi) -> list[tuple[int, int, bool, bool]]:
    """(id, seq, done, dead) of every portal job, in order."""
    with api.db.read() as conn:
        rows = conn.execute(
            select(outbox.c.id, outbox.c.payload, outbox.c.done_at, outbox.c.dead_at)
            .where(outbox.c.topic == NATIONAL_SYNC_TOPIC)
            .order_by(outbox.c.id)
        ).all()
    return [(r.id, r.payload["seq"], r.done_at is not None, r.dead_at is not None) for r in rows]


def test_a_change_the_portal_refuses_dies_at_once_and_later_changes_still_go(
    gw_api: DossierApi, gw_runtime: Runtime, sandbox: Sandbox
) -> None:
    gateway = make_gateway(sandbox.url)
    code = gw_api.submit("congdan", KHAI_SINH)["code"]
    gw_api.act("sg.tiepnhan", code, "accept")
    sandbox.fault("portal", fail_next=1, status=422)
    report = deliver_status_changes(gw_runtime, gateway=gateway)
    assert (report.delivered, report.failed, report.waiting) == (0, 1, 1)
    (first, _, done, dead), (_, _, later_done, later_dead) = _jobs(gw_api)
    assert not later_done and not later_dead  # held back this round behind the earlier change
    assert not done and dead  # dead at its first attempt: retrying cannot cure a 422
    with gw_api.db.read() as conn:
        error = conn.execute(select(outbox.c.last_error).where(outbox.c.id == first)).scalar_one()
    assert error.startswith("registry.rejected")
    report = deliver_status_changes(
        gw_runtime, gateway=gateway, now=gw_api.clock.advance(timedelta(seconds=1))
    )
    assert report.delivered == 1  # the dead change no longer holds the later one
    assert [(e["thu_tu"], e["trang_thai"]) for e in sandbox.portal_log(code)] == [(2, 2)]
    with gw_api.db.transaction() as conn:
        retry_dead_job(
            conn, first, now=gw_api.clock.now(), actor_id="tp.quantri", actor_role="city_admin", unit_id=None
        )
    assert deliver_status_changes(gw_runtime, gateway=gateway).delivered == 1
    assert sorted(e["thu_tu"] for e in sandbox.portal_log(code)) == [1, 2]  # each carries its sequence number
    assert [(done, dead) for _, _, done, dead in _jobs(gw_api)] == [(True, False), (True, False)]
    gateway.close()


def test_refused_credentials_are_retried_not_given_up(
    gw_api: DossierApi, gw_runtime: Runtime, sandbox: Sandbox
) -> None:
    gateway = make_gateway(sandbox.url, token="wrong-token")
    gw_api.submit("congdan", KHAI_SINH)
    report = deliver_status_changes(gw_runtime, gateway=gateway)
    assert report.failed == 1
    assert [(done, dead) for _, _, done, dead in _jobs(gw_api)] == [(False, False)]
    gateway.close()
    fixed = make_gateway(sandbox.url)
    assert (
        deliver_status_changes(
            gw_runtime, gateway=fixed, now=gw_api.clock.advance(timedelta(hours=1))
        ).delivered
        == 1
    )
    fixed.close()


def test_a_change_of_a_dossier_that_no_longer_exists_is_given_up(
    gw_api: DossierApi, gw_runtime: Runtime, sandbox: Sandbox
) -> None:
    gateway = make_gateway(sandbox.url)
    with gw_api.db.transaction() as conn:
        enqueue(
            conn,
            topic=NATIONAL_SYNC_TOPIC,
            key="000.00.00.H29-260302-9999",
            payload={
                "code": "000.00.00.H29-260302-9999",
                "seq": 1,
                "status": 1,
                "at": "2026-03-02T09:00:00+07:00",
            },
            now=gw_api.clock.now(),
        )
    assert deliver_status_changes(gw_runtime, gateway=gateway).failed == 1
    [(job_id, _, done, dead)] = _jobs(gw_api)
    assert dead and not done
    with gw_api.db.read() as conn:
        assert (
            conn.execute(select(outbox.c.last_error).where(outbox.c.id == job_id))
            .scalar_one()
            .startswith("dossier.not_found")
        )
    assert sandbox.portal_log() == []
    gateway.close()
