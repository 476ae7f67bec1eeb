"""`motcua audit …`: check that the hash-chained audit log has not been changed or cut."""

from __future__ import annotations

import click
from sqlalchemy import inspect

from motcua.domain.errors import NotFound
from motcua.services.audit import verify_database
from motcua.store.db import Database
from motcua.store.schema.audit import audit_log


@click.group(help="Nhật ký kiểm toán (append-only, chuỗi mã băm).")
def audit() -> None:
    pass


@audit.command(help="Kiểm tra toàn vẹn nhật ký kiểm toán; thoát với mã 1 nếu có bản ghi bị sửa hoặc xoá.")
def verify() -> None:
    db = Database()
    try:
        if not inspect(db.engine).has_table(audit_log.name):
            raise NotFound(
                "audit.no_log", "Cơ sở dữ liệu chưa có nhật ký kiểm toán (hãy chạy `motcua db setup` trước)."
            )
        report = verify_database(db)
    finally:
        db.dispose()
    if report.ok:
        click.echo(f"Nhật ký kiểm toán toàn vẹn: {report.checked} bản ghi, {report.chains} chuỗi")
        return
    click.echo(
        f"Nhật ký kiểm toán KHÔNG toàn vẹn: {len(report.problems)} vấn đề "
        f"({report.checked} bản ghi, {report.chains} chuỗi):"
    )
    for problem in report.problems:
        click.echo(f"- {problem.message}")
    raise SystemExit(1)
