"""Status sync to the National Public Service Portal (the sandbox's endpoint) through the outbox: nothing is
lost while the portal is down, and each dossier's changes arrive in order, once."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from motcua.cli.main import cli
from motcua.services.dossiers import NATIONAL_SYNC_TOPIC
from motcua.services.portal_sync import deliver_status_changes
from motcua.services.runtime import Runtime
from motcua.store.schema.outbox import outbox
from tests.api.conftest import KHAI_SINH, DossierApi
from tests.integrations.conftest import TOKEN, Sandbox, make_gateway


def _queued(api: DossierApi) -> dict[str, list[tuple[int, int]]]:
    """Every status change queued for the portal, per dossier, in the order it happened."""
    with api.db.read() as conn:
        rows = conn.execute(
            select(outbox.c.payload).where(outbox.c.topic == NATIONAL_SYNC_TOPIC).order_by(outbox.c.id)
        ).scalars()
        queued: dict[str, list[tuple[int, int]]] = {}
        for payload in rows:
            queued.setdefault(payload["code"], []).append((payload["seq"], payload["status"]))
    return queued


def _received(sandbox: Sandbox, code: str) -> list[tuple[int, int]]:
    return [(entry["thu_tu"], entry["trang_thai"]) for entry in sandbox.portal_log(code)]


def _pending(api: DossierApi) -> int:
    with api.db.read() as conn:
        return len(
            conn.execute(
                select(outbox.c.id).where(outbox.c.topic == NATIONAL_SYNC_TOPIC, outbox.c.done_at.is_(None))
            ).all()
        )


def test_portal_down_then_up_delivers_every_change_in_order_per_dossier(
    gw_api: DossierApi, gw_runtime: Runtime, sandbox: Sandbox
) -> None:
    gateway = make_gateway(sandbox.url, breaker_threshold=3, breaker_reset=0.2)
    sandbox.fault("portal", down=True)
    first = gw_api.submit("congdan", KHAI_SINH)["code"]
    second = gw_api.submit("congdan2", KHAI_SINH)["code"]
    gw_api.act("sg.tiepnhan", first, "accept")
    report = deliver_status_changes(gw_runtime, gateway=gateway)
    assert report.delivered == 0 and report.failed == 2 and report.waiting == 1  # first's accept waits
    gw_api.act("sg.tiepnhan", second, "accept")
    gw_api.act("sg.xuly", first, "forward")
    gw_api.clock.advance(timedelta(minutes=5))
    report = deliver_status_changes(gw_runtime, gateway=gateway)  # the breaker opens after 3 failures
    assert report.delivered == 0
    assert _received(sandbox, first) == [] and _received(sandbox, second) == []

    sandbox.clear_faults()
    time.sleep(0.25)  # the breaker half-opens
    for _ in range(6):
        gw_api.clock.advance(timedelta(hours=2))  # beyond the longest backoff
        deliver_status_changes(gw_runtime, gateway=gateway)
        if _pending(gw_api) == 0:
            break
    assert _pending(gw_api) == 0
    queued = _queued(gw_api)
    assert _received(sandbox, first) == queued[first]
    assert _received(sandbox, second) == queued[second]
    assert [status for _, status in queued[first]] == [1, 2, 4]
    entry = sandbox.portal_log(first)[0]
    assert entry["ma_thu_tuc"] == KHAI_SINH and entry["ten_trang_thai"] == "Mới đăng ký"
    assert entry["ma_don_vi"] == first.split("-")[0]
    gateway.close()


def test_a_delivery_retried_after_a_lost_reply_is_recorded_once(
    gw_api: DossierApi, gw_runtime: Runtime, sandbox: Sandbox
) -> None:
    gateway = make_gateway(sandbox.url)
    code = gw_api.submit("congdan", KHAI_SINH)["code"]
    assert deliver_status_changes(gw_runtime, gateway=gateway).delivered == 1
    with gw_api.db.transaction() as conn:  # as if the worker died before committing
        conn.execute(outbox.update().values(done_at=None))
    assert deliver_status_changes(gw_runtime, gateway=gateway).delivered == 1
    assert _received(sandbox, code) == [(1, 1)]
    gateway.close()


def test_motcua_worker_once_delivers_pending_changes(
    gw_api: DossierApi, sandbox: Sandbox, seeded_db: object, tmp_path: Path
) -> None:
    if gw_api.db.dialect != "sqlite":
        return  # the command runs once on the embedded database
    code = gw_api.submit("congdan", KHAI_SINH)["code"]
    gw_api.db.dispose()
    url = gw_api.db.engine.url.render_as_string(hide_password=False)
    env = {"MOTCUA_DATABASE_URL": url, "MOTCUA_REGISTRY_URL": sandbox.url, "MOTCUA_REGISTRY_TOKEN": TOKEN}
    result = CliRunner().invoke(cli, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert '"portal_delivered": 1' in result.output
    assert _received(sandbox, code) == [(1, 1)]
