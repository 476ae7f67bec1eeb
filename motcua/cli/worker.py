"""`motcua worker`: runs the background jobs of the outbox — signed documents (receipts, slips, results), status
sync to the National Public Service Portal and the linked parts of Decree 63/2024 bundles — in a loop (or once,
with `--once`)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

import click

from motcua.integrations.gateway import Gateway
from motcua.services.runtime import Runtime
from motcua.store.db import Database

log = logging.getLogger("motcua.worker")


def worker_round(rt: Runtime, gateway: Gateway, *, limit: int = 50) -> dict[str, int]:
    """One pass over every job kind; returns how many jobs of each kind moved."""
    from motcua.services.bundles import run_bundle_jobs
    from motcua.services.documents import run_document_jobs
    from motcua.services.portal_sync import deliver_status_changes

    sync = deliver_status_changes(rt, gateway=gateway, limit=limit)
    advanced = run_bundle_jobs(rt, gateway=gateway, limit=limit)
    issued = run_document_jobs(rt, limit=limit)  # last: bundles' actions queue documents too
    return {
        "portal_delivered": sync.delivered,
        "portal_failed": sync.failed,
        "portal_waiting": sync.waiting,
        "bundles_advanced": advanced,
        "documents_issued": issued,
    }


class BackgroundWorker(threading.Thread):
    """The worker loop in a daemon thread (used by `motcua serve` in development)."""

    def __init__(self, rt: Runtime, gateway: Gateway, *, interval: float = 2.0) -> None:
        super().__init__(name="motcua-worker", daemon=True)
        self.rt, self.gateway, self.interval = rt, gateway, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                worker_round(self.rt, self.gateway)
            except Exception:  # the loop must outlive a database or network hiccup
                log.exception("worker round failed; retrying in %.1f s", self.interval)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


@click.command(
    "worker",
    help="Chạy công việc nền: phát hành văn bản ký số, đồng bộ trạng thái lên Cổng DVCQG, hồ sơ liên thông.",
)
@click.option("--once", is_flag=True, help="Chạy một lượt rồi dừng (dùng cho kiểm thử, cron).")
@click.option("--interval", default=2.0, type=float, show_default=True, help="Số giây giữa hai lượt.")
@click.option("--limit", default=50, type=int, show_default=True, help="Số việc tối đa mỗi loại mỗi lượt.")
def worker_cmd(once: bool, interval: float, limit: int) -> None:
    from motcua.services.gateway import gateway_for

    rt = Runtime(db=Database())
    gateway = gateway_for(rt)
    if once:
        click.echo(json.dumps(worker_round(rt, gateway, limit=limit)))
        return
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"motcua worker: mỗi {interval:g} giây (Ctrl+C để dừng).")
    while not stop.is_set():
        try:
            report = worker_round(rt, gateway, limit=limit)
        except Exception as exc:  # keep running; the next round retries
            click.echo(f"Lỗi trong lượt chạy: {type(exc).__name__}: {exc}", err=True)
        else:
            if any(report.values()):
                click.echo(json.dumps(report))
        stop.wait(interval)
