"""`motcua outbox list|retry|discard`: the background jobs from the server's shell (decision 0009).

Whoever runs these has the database's credentials, so no login is asked; retries and discards are audited
under `cli:<system user>`. A DomainError (unknown job, a job that is not dead, no reason) becomes a one-line
reason and exit status 1 in `motcua.cli.main`.
"""

from __future__ import annotations

import getpass
import json

import click

from motcua.domain.clock import SystemClock
from motcua.services import outbox as outbox_service
from motcua.store.db import Database

CLI_ROLE = "operator"


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):  # no user name in this environment (a container)
        return "cli:unknown"


@click.group(help="Công việc nền (outbox): xem việc đang chờ, việc đã ngừng thử; thử lại hoặc bỏ.")
def outbox() -> None:
    pass


@outbox.command("list", help="Liệt kê công việc nền theo trạng thái và chủ đề, kèm số lượng.")
@click.option(
    "--state",
    type=click.Choice(outbox_service.LIST_STATES),
    default="dead",
    show_default=True,
    help="dead: đã ngừng thử, chờ quyết định; discarded: đã bỏ; pending: đang chờ chạy; done: đã xong.",
)
@click.option("--topic", help="Chủ đề, ví dụ national_portal.status, documents.issue, bundles.advance.")
@click.option("--limit", default=50, type=click.IntRange(1, 1000), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="In JSON (mỗi dòng một việc).")
def list_command(state: str, topic: str | None, limit: int, as_json: bool) -> None:
    now = SystemClock().now()
    with Database().read() as conn:
        items = outbox_service.list_jobs(conn, state=state, topic=topic, limit=limit)
        counts = outbox_service.job_counts(conn)
        health = outbox_service.outbox_health(conn, now=now)
    if as_json:
        for item in items:
            click.echo(json.dumps(item, ensure_ascii=False))
        return
    for item in items:
        when = item["dead_at"] or item["done_at"] or item["available_at"]
        error = (item["last_error"] or "").splitlines()[0][:120] if item["last_error"] else ""
        click.echo(
            f"{item['id']:>10}  {item['topic']:<24}  {item['key']:<28}  {item['attempts']:>3}  {when}  {error}"
        )
        if item["discarded"]:
            click.echo(
                f"{'':>10}  bỏ bởi {item['discarded_by']} lúc {item['discarded_at']}: {item['discard_reason']}"
            )
    click.echo(f"— {len(items)} việc ({state}{', ' + topic if topic else ''})")
    for name, c in counts.items():
        click.echo(
            f"  {name:<24}  chờ {c['pending']:>7}  ngừng thử {c['dead']:>5}  đã bỏ {c['discarded']:>5}"
        )
    age = health["oldest_pending_age_seconds"]
    click.echo(f"  việc chờ lâu nhất: {'—' if age is None else f'{age} giây'}")


@outbox.command(help="Thử lại một việc đã ngừng thử: về hàng chờ, đếm lại số lần thử, chạy ngay lượt sau.")
@click.argument("job_id", type=click.IntRange(min=1))
def retry(job_id: int) -> None:
    with Database().transaction() as conn:
        result = outbox_service.retry_dead_job(
            conn, job_id, now=SystemClock().now(), actor_id=_operator(), actor_role=CLI_ROLE, unit_id=None
        )
    click.echo(f"Đã đưa việc {result['id']} ({result['topic']}, {result['key']}) về hàng chờ.")


@outbox.command(help="Bỏ một việc đã ngừng thử (vẫn giữ lại, ghi người bỏ và lý do).")
@click.argument("job_id", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Lý do bỏ (5–500 ký tự).")
def discard(job_id: int, reason: str) -> None:
    with Database().transaction() as conn:
        result = outbox_service.discard_dead_job(
            conn,
            job_id,
            reason=reason,
            now=SystemClock().now(),
            actor_id=_operator(),
            actor_role=CLI_ROLE,
            unit_id=None,
        )
    click.echo(f"Đã bỏ việc {result['id']} ({result['topic']}, {result['key']}).")
