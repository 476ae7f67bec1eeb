"""`motcua import dossiers FILE`: dossiers from a legacy system's export (see services/legacy_import.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from motcua.domain.clock import SystemClock
from motcua.services.legacy_import import DEFAULT_BATCH, ImportReport, import_dossiers, write_rejections
from motcua.store.db import Database

MAX_REJECTED_SHOWN = 20


@click.group("import", help="Nhập dữ liệu từ hệ thống cũ.")
def import_group() -> None:
    pass


@import_group.command(
    "dossiers",
    help="Nhập hồ sơ từ tệp xuất của hệ thống cũ (.csv, .json, .jsonl; có thể nén .gz): kiểm tra từng dòng, "
    "ghi theo lô (COPY trên PostgreSQL). Dòng sai bị từ chối kèm số dòng và lý do; thoát với mã 2 nếu có "
    "dòng bị từ chối. Chạy lại sau khi bị ngắt: phần đã nhập được báo là dossier.exists.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ghi toàn bộ các dòng bị từ chối ra tệp CSV (line, code, reason, message).",
)
@click.option("--batch", "batch_size", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
def dossiers_command(file: Path, report_path: Path | None, batch_size: int, as_json: bool) -> None:
    db = Database()
    try:
        report = import_dossiers(
            db, file, now=SystemClock().now(), batch_size=batch_size, on_batch=_progress(as_json)
        )
    finally:
        db.dispose()
    if report_path is not None:
        with report_path.open("w", encoding="utf-8", newline="") as out:
            write_rejections(report, out)
    _print(report, as_json)
    if report.rejected:
        raise SystemExit(2)


def _progress(quiet: bool) -> Callable[[ImportReport], None]:
    def show(report: ImportReport) -> None:
        if not quiet and sys.stderr.isatty():
            click.echo(f"  … {report.rows} dòng, {report.imported} hồ sơ đã nhập", err=True)

    return show


def _print(report: ImportReport, as_json: bool) -> None:
    if as_json:
        data = report.as_dict() | {
            "rejected_rows": [
                {"line": r.line, "code": r.code, "reason": r.reason, "message": r.message}
                for r in report.rejected[:MAX_REJECTED_SHOWN]
            ]
        }
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(report.summary())
    for rejected in sorted(report.rejected, key=lambda r: r.line)[:MAX_REJECTED_SHOWN]:
        click.echo(f"  dòng {rejected.line}: [{rejected.reason}] {rejected.message}")
    if len(report.rejected) > MAX_REJECTED_SHOWN:
        click.echo(
            f"  … và {len(report.rejected) - MAX_REJECTED_SHOWN} dòng khác (dùng --report để xem hết)."
        )
