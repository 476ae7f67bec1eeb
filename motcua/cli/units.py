"""`motcua units load|list`: the organisation registry (city, departments, communes, police).

A DomainError (e.g. an unknown --kind) becomes a one-line reason and exit status 1 in `motcua.cli.main`.
"""

from __future__ import annotations

from datetime import date

import click
from sqlalchemy import Connection, inspect

from motcua.domain.clock import SystemClock
from motcua.services.units import list_units, load_units
from motcua.store.db import Database


@click.group(help="Danh mục đơn vị: thành phố, sở ngành, phường/xã/đặc khu, công an.")
def units() -> None:
    pass


def _require_tables(conn: Connection) -> None:
    if not inspect(conn).has_table("units"):
        click.echo("Lỗi: cơ sở dữ liệu chưa có bảng units — hãy chạy `motcua db setup` trước.", err=True)
        raise SystemExit(1)


@units.command(help="Nạp danh mục đơn vị từ tệp dữ liệu (chạy lại không thêm gì nếu không đổi).")
def load() -> None:
    today = SystemClock().now().date()
    with Database().transaction() as conn:
        _require_tables(conn)
        added = load_units(conn, today=today)
    click.echo(f"Đã thêm {added} phiên bản đơn vị.")


@units.command("list", help="Liệt kê đơn vị có hiệu lực vào một ngày.")
@click.option("--kind", help="Loại đơn vị, ví dụ phuong, xa, so, cong_an_xa.")
@click.option("--parent", "parent_id", help="Mã (id) đơn vị cấp trên.")
@click.option("--q", help='Tìm theo tên, không phân biệt dấu (ví dụ: "sai gon"), hoặc theo mã.')
@click.option("--on", "on_text", help="Ngày hiệu lực YYYY-MM-DD (mặc định: hôm nay).")
def list_command(kind: str | None, parent_id: str | None, q: str | None, on_text: str | None) -> None:
    on = _parse_day(on_text) if on_text else SystemClock().now().date()
    with Database().read() as conn:
        _require_tables(conn)
        rows = list_units(conn, on=on, kind=kind, parent_id=parent_id, q=q)
    for row in rows:
        click.echo(f"{row['agency_code']:<14}  {row['kind']:<11}  {row['id']:<45}  {row['name']}")
    click.echo(f"— {len(rows)} đơn vị, hiệu lực ngày {on.isoformat()}")


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("ngày phải có dạng YYYY-MM-DD", param_hint="--on") from None
