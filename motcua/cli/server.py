"""`motcua db …` (migrations, reference data, demo accounts) and `motcua serve`."""

from __future__ import annotations

import json
import os

import click

from motcua.domain.clock import SystemClock
from motcua.store.db import Database, database_url


@click.group("db", help="Cơ sở dữ liệu: cập nhật cấu trúc, nạp dữ liệu danh mục, tài khoản trình diễn.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Áp dụng các bản chuyển đổi cấu trúc (Alembic) tới phiên bản mới nhất.")
def upgrade_cmd() -> None:
    from motcua.store.migrate import upgrade

    upgrade(database_url())
    click.echo("Đã cập nhật cấu trúc cơ sở dữ liệu.")


@db_group.command(
    "setup", help="Cập nhật cấu trúc và nạp đơn vị, quy trình, danh mục thủ tục (chạy lại an toàn)."
)
@click.option("--demo/--no-demo", default=True, show_default=True, help="Tạo tài khoản trình diễn.")
def setup_cmd(demo: bool) -> None:
    from motcua.services.seed import DEMO_PASSWORD, ensure_demo_accounts, setup_reference_data
    from motcua.store.migrate import upgrade

    url = database_url()
    upgrade(url)
    db = Database(url)
    now = SystemClock().now()
    report = setup_reference_data(db, now=now)
    if demo:
        report["demo_accounts_created"] = ensure_demo_accounts(db, now=now)
        report["demo_password"] = DEMO_PASSWORD
    click.echo(json.dumps(report, ensure_ascii=False, default=str))


@click.command("serve", help="Chạy máy chủ web và API.")
@click.option("--host", default=lambda: os.environ.get("MOTCUA_HOST", "127.0.0.1"), show_default="127.0.0.1")
@click.option(
    "--port", default=lambda: int(os.environ.get("MOTCUA_PORT", "8000")), type=int, show_default="8000"
)
@click.option("--workers", default=1, type=int, show_default=True)
def serve_cmd(host: str, port: int, workers: int) -> None:
    import uvicorn

    # --- data-sharing gateway (development): without MOTCUA_REGISTRY_URL, start the registry sandbox and
    # the outbox worker in this process so the demo auto-fills and syncs (MOTCUA_SANDBOX=off to disable).
    from motcua.cli.sandbox import start_development_services

    _services = start_development_services()  # kept referenced while the server runs
    # --- end data-sharing gateway
    click.echo(f"motcua đang chạy tại http://{host}:{port} (CSDL: {database_url().split('@')[-1]})")
    uvicorn.run(
        "motcua.api.asgi:app", host=host, port=port, workers=workers, log_level="info", proxy_headers=False
    )
