"""`motcua catalog import|load-city|search`: the national procedure catalog and the HCMC layer."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import Connection, inspect

from motcua.domain.clock import SystemClock
from motcua.domain.errors import DomainError
from motcua.services.catalog import NATIONAL_FILE, import_national_file, load_city_layer, search_procedures
from motcua.services.workflows import workflow_ids
from motcua.store.db import Database

MAX_REJECTED_SHOWN = 50
ONLINE_LABELS = {"toan_trinh": "trực tuyến toàn trình", "mot_phan": "trực tuyến một phần"}


@click.group(help="Danh mục thủ tục hành chính: danh mục quốc gia và danh mục của Thành phố.")
def catalog() -> None:
    pass


def _require_tables(conn: Connection) -> None:
    if not inspect(conn).has_table("procedures"):
        click.echo("Lỗi: cơ sở dữ liệu chưa có bảng procedures — hãy chạy `motcua db setup` trước.", err=True)
        raise SystemExit(1)


def _fail(exc: DomainError) -> SystemExit:
    click.echo(f"Lỗi [{exc.code}]: {exc.message}", err=True)
    for problem in exc.details.get("problems", [])[1:]:
        click.echo(f"  - {problem['message']}", err=True)
    return SystemExit(1)


@catalog.command(
    "import",
    help="Nhập danh mục thủ tục quốc gia từ tệp JSON Lines (.jsonl hoặc .jsonl.gz); mặc định là tệp kèm gói. "
    "Chạy lại không tạo gì mới nếu nội dung không đổi; bản ghi thay đổi được lưu thành phiên bản mới.",
)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def import_command(file: Path | None) -> None:
    now = SystemClock().now()
    with Database().transaction() as conn:
        _require_tables(conn)
        try:
            report = import_national_file(conn, file or NATIONAL_FILE, now=now)
        except DomainError as exc:
            raise _fail(exc) from None
    click.echo(report.summary())
    for rejected in report.rejected[:MAX_REJECTED_SHOWN]:
        click.echo(f"  - [{rejected.code}] {rejected.reason}")
    if len(report.rejected) > MAX_REJECTED_SHOWN:
        click.echo(f"  … và {len(report.rejected) - MAX_REJECTED_SHOWN} dòng bị loại khác.")


@catalog.command(
    "load-city",
    help="Nạp danh mục thủ tục của Thành phố (hcmc_procedures.yaml và biểu mẫu điện tử) kèm gói, "
    "sau khi đã nhập danh mục quốc gia.",
)
@click.option("--file", "yaml_path", type=click.Path(dir_okay=False, path_type=Path), help="Tệp YAML khác.")
@click.option(
    "--forms", "forms_dir", type=click.Path(file_okay=False, path_type=Path), help="Thư mục biểu mẫu."
)
def load_city_command(yaml_path: Path | None, forms_dir: Path | None) -> None:
    now = SystemClock().now()
    with Database().transaction() as conn:
        _require_tables(conn)
        try:
            report = load_city_layer(
                conn, yaml_path=yaml_path, forms_dir=forms_dir, workflow_ids=workflow_ids(), now=now
            )
        except DomainError as exc:
            raise _fail(exc) from None
    click.echo(report.summary())


@catalog.command("search", help="Tìm thủ tục theo tên (không phân biệt dấu) hoặc theo mã.")
@click.argument("q", required=False)
@click.option("--field", help='Lĩnh vực, ví dụ "Hộ tịch".')
@click.option("--level", type=click.Choice(["bo", "tinh", "xa", "khac"]), help="Cấp thực hiện.")
@click.option("--online", "online_only", is_flag=True, help="Chỉ thủ tục Thành phố cung cấp trực tuyến.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def search_command(
    q: str | None, field: str | None, level: str | None, online_only: bool, limit: int
) -> None:
    with Database().read() as conn:
        _require_tables(conn)
        try:
            items, total = search_procedures(
                conn, q=q, field=field, level=level, online_only=online_only, limit=limit
            )
        except DomainError as exc:
            raise _fail(exc) from None
    for item in items:
        online = ONLINE_LABELS.get(item["online"] or "")
        mark = f" [{online}]" if online else (" [Thành phố cung cấp]" if item["offered"] else "")
        click.echo(f"{item['code']}  {item['name']}{mark}")
    click.echo(f"— {len(items)}/{total} thủ tục")
