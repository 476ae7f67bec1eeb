"""`motcua validate cccd|mst NUMBER`: check an identifier and print its parts as JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import click

from motcua.domain.clock import SystemClock
from motcua.domain.errors import InvalidInput
from motcua.domain.identifiers import CccdInfo, MstInfo, parse_cccd, parse_mst


@click.group(help="Kiểm tra số định danh cá nhân (CCCD) và mã số doanh nghiệp (MST).")
def validate() -> None:
    pass


def _report(parse: Callable[[], CccdInfo | MstInfo]) -> None:
    """Print the parsed parts as JSON, or the reason on stderr with exit status 1."""
    try:
        parts = parse()
    except InvalidInput as exc:
        click.echo(f"Không hợp lệ [{exc.code}]: {exc.message}", err=True)
        raise SystemExit(1) from None
    click.echo(json.dumps(dataclasses.asdict(parts), ensure_ascii=False, indent=2))


@validate.command(
    help="Kiểm tra số định danh cá nhân 12 chữ số; in tỉnh đăng ký khai sinh, giới tính, năm sinh."
)
@click.argument("number")
def cccd(number: str) -> None:
    today = SystemClock().now().date()
    _report(lambda: parse_cccd(number, today=today))


@validate.command(help="Kiểm tra mã số doanh nghiệp / mã số thuế (10 chữ số, hoặc XXXXXXXXXX-NNN).")
@click.argument("number")
def mst(number: str) -> None:
    _report(lambda: parse_mst(number))
