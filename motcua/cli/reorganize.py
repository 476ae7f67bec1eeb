"""`motcua reorganize check|apply PLAN`: reorganisation plans (decision 0010).

`check` validates the plan file and prints what applying it would do (nothing is changed); `apply` applies it
in one transaction as the city administrator named by `--as` (their account must be active and hold the
city_admin role; the audit log records them). Any problem: a one-line reason per problem and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import inspect, select

from motcua.domain.errors import DomainError, Forbidden, NotFound
from motcua.domain.lifecycle import Actor, Status
from motcua.domain.reorganization import Plan, parse_plan
from motcua.services.identity import actor_from_row
from motcua.services.reorganization import apply_plan, plan_report
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.identity import users


@click.group(help="Phương án sắp xếp tổ chức: sáp nhập, chia tách, đổi tên, đổi mã đơn vị; giao lại thủ tục.")
def reorganize() -> None:
    pass


def _fail(exc: DomainError) -> SystemExit:
    problems = exc.details.get("problems") or []
    click.echo(f"Lỗi [{exc.code}]: {exc.message}", err=True)
    for problem in problems[1:]:
        click.echo(f"Lỗi [{problem['code']}]: {problem['message']}", err=True)
    return SystemExit(1)


def _read(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"Lỗi [reorg.unreadable]: không đọc được tệp {path} ({exc.__class__.__name__}).", err=True)
        raise SystemExit(1) from None
    try:
        return parse_plan(text)
    except DomainError as exc:
        raise _fail(exc) from None


def _runtime() -> Runtime:
    database = Database()
    with database.read() as conn:
        if not inspect(conn).has_table("reorganizations"):
            click.echo(
                "Lỗi: cơ sở dữ liệu chưa có bảng reorganizations — hãy chạy `motcua db setup`.", err=True
            )
            raise SystemExit(1)
    return Runtime(db=database, hooks=[])


def _admin(rt: Runtime, username: str) -> Actor:
    with rt.db.read() as conn:
        row = (
            conn.execute(select(users).where(users.c.username == username.strip().lower())).mappings().first()
        )
    if row is None:
        raise NotFound("reorg.unknown_account", f"Không có tài khoản «{username}».")
    if not row["active"]:
        raise Forbidden("reorg.inactive_account", f"Tài khoản «{username}» đã bị khóa.")
    return actor_from_row(dict(row))


@reorganize.command("check", help="Kiểm tra phương án và cho biết đơn vị, thủ tục, hồ sơ nào sẽ thay đổi.")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="In báo cáo dạng JSON.")
def check_command(plan_file: Path, as_json: bool) -> None:
    plan = _read(plan_file)
    rt = _runtime()
    try:
        report = plan_report(rt, plan)
    except DomainError as exc:
        raise _fail(exc) from None
    _print(report, as_json)


@reorganize.command(
    "apply", help="Áp dụng phương án (vào đúng ngày hiệu lực), với tư cách quản trị Thành phố."
)
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="Tên đăng nhập của quản trị Thành phố thực hiện.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
def apply_command(plan_file: Path, username: str, as_json: bool) -> None:
    plan = _read(plan_file)
    rt = _runtime()
    try:
        result = apply_plan(rt, _admin(rt, username), plan)
    except DomainError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    elif result["changed"]:
        click.echo(
            f"Đã áp dụng phương án «{plan.id}»: {result['summary']['moved']} hồ sơ đang giải quyết và "
            f"{result['summary']['officers_moved']} tài khoản cán bộ được chuyển."
        )
    else:
        click.echo(f"Phương án «{plan.id}» đã được áp dụng trước đó; không thay đổi gì.")


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    plan = report["plan"]
    click.echo(f"Phương án {plan['id']} — {plan['title']}")
    click.echo(f"Căn cứ: {plan['legal_basis']}; hiệu lực {plan['effective']}; SHA-256 {plan['sha256']}")
    if report["applied"]:
        click.echo("Đã được áp dụng trước đó: áp dụng lại không thay đổi gì.")
        return
    for unit in report["units"]["closing"]:
        after = f" → {unit['successor']}" if unit["successor"] else " (phiên bản mới)"
        click.echo(f"  đóng  {unit['agency_code']:<14} {unit['id']}{after}")
    for unit in report["units"]["opening"]:
        click.echo(f"  mở    {unit['agency_code']:<14} {unit['id']}  {unit['name']}")
    for item in report["procedures"]:
        implied = " (kéo theo đơn vị bị đóng)" if item["implied"] else ""
        click.echo(f"  thủ tục {item['code']}: {item['from']} → {item['to']}{implied}")
    dossiers = report["dossiers"]
    click.echo(f"Hồ sơ đang giải quyết sẽ chuyển: {dossiers['moving']}")
    for unit, statuses in dossiers["by_unit_and_status"].items():
        parts = ", ".join(f"{Status(int(code)).label_vi}: {n}" for code, n in sorted(statuses.items()))
        kept = dossiers["closed_kept"].get(unit, 0)
        click.echo(f"  {unit}: {parts or 'không có'}; hồ sơ đã kết thúc giữ nguyên đơn vị: {kept}")
    for unit, officers in report["officers"]["by_unit"].items():
        count = len(officers["accounts"])
        if count and officers["to"]:
            click.echo(f"  {count} tài khoản cán bộ của {unit} chuyển sang {officers['to']} (giữ vai trò).")
        elif count:
            click.echo(
                f"  lưu ý: {count} tài khoản cán bộ của {unit} giữ ở đơn vị bị đóng, không xử lý được hồ sơ."
            )
    if report["bundles_moving"]:
        click.echo(f"  Bộ hồ sơ liên thông đang mở chuyển sang đơn vị kế thừa: {report['bundles_moving']}")
