"""`motcua bench generate --dossiers N`: a realistic city of dossiers for benchmarks (services/bench_data.py)."""

from __future__ import annotations

import json
import sys
import time

import click

from motcua.domain.clock import SystemClock
from motcua.services.bench_data import generate
from motcua.services.legacy_import import DEFAULT_BATCH, ImportReport
from motcua.store.db import Database


@click.group("bench", help="Dữ liệu và công cụ đo hiệu năng (xem bench/README.md).")
def bench_group() -> None:
    pass


@bench_group.command(
    "generate",
    help="Sinh hồ sơ của một năm (168 đơn vị cấp xã, thủ tục theo phân bố Zipf, mọi trạng thái) qua đúng "
    "đường nhập hàng loạt của `motcua import dossiers`. Nạp dữ liệu danh mục nếu chưa có.",
)
@click.option("--dossiers", "count", required=True, type=click.IntRange(1), help="Số hồ sơ cần sinh.")
@click.option("--seed", default=1, show_default=True, type=int, help="Hạt giống ngẫu nhiên (tái lập được).")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3660))
@click.option("--batch", "batch_size", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(1))
def generate_command(count: int, seed: int, days: int, batch_size: int) -> None:
    db = Database()
    started = time.perf_counter()

    def progress(report: ImportReport) -> None:
        if sys.stderr.isatty():
            rate = report.imported / max(time.perf_counter() - started, 1e-9)
            click.echo(f"  … {report.imported}/{count} hồ sơ ({rate:,.0f}/giây)", err=True)

    try:
        report = generate(
            db,
            dossiers=count,
            now=SystemClock().now(),
            seed=seed,
            days=days,
            batch_size=batch_size,
            on_batch=progress,
        )
    finally:
        db.dispose()
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    if report.rejected:
        first = report.rejected[0]
        click.echo(
            f"Lỗi: {len(report.rejected)} hồ sơ sinh ra bị từ chối, ví dụ dòng {first.line}: "
            f"[{first.reason}] {first.message}",
            err=True,
        )
        raise SystemExit(1)
