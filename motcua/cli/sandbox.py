"""`motcua sandbox`: the registry and portal sandbox over HTTP; and the development services `motcua serve`
starts when no data-sharing platform is configured."""

from __future__ import annotations

import os
from typing import Any

import click

DEFAULT_PORT = 8900


@click.command(
    "sandbox", help="Chạy hệ thống giả lập cơ sở dữ liệu quốc gia và Cổng DVCQG (dữ liệu tổng hợp)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Chỉ nên dùng 127.0.0.1.")
@click.option(
    "--port",
    default=lambda: int(os.environ.get("MOTCUA_SANDBOX_PORT", DEFAULT_PORT)),
    type=int,
    show_default=str(DEFAULT_PORT),
)
@click.option("--token", envvar="MOTCUA_REGISTRY_TOKEN", default=None, help="Mã xác thực (Bearer) bắt buộc.")
@click.option("--seed", default=2026, type=int, show_default=True, help="Hạt giống sinh dữ liệu.")
def sandbox_cmd(host: str, port: int, token: str | None, seed: int) -> None:
    import uvicorn

    from motcua.integrations.sandbox.app import create_sandbox_app

    click.echo(f"Sandbox tại http://{host}:{port} — đặt MOTCUA_REGISTRY_URL=http://{host}:{port} cho motcua.")
    click.echo(
        "Công dân mẫu: 079090001234 Nguyễn Văn An, 079192004321 Trần Thị Bình; doanh nghiệp 0300588569."
    )
    uvicorn.run(create_sandbox_app(token=token, seed=seed), host=host, port=port, log_level="warning")


def start_development_services() -> list[Any]:
    """For `motcua serve` without `MOTCUA_REGISTRY_URL`: start the sandbox on 127.0.0.1 in the background,
    point the gateway at it, and run the outbox worker in-process, so the demo auto-fills and syncs.
    Returns the running services (keep a reference). `MOTCUA_SANDBOX=off` disables it all."""
    if os.environ.get("MOTCUA_REGISTRY_URL") or os.environ.get("MOTCUA_SANDBOX", "").lower() == "off":
        return []
    from motcua.cli.worker import BackgroundWorker
    from motcua.integrations.sandbox.app import create_sandbox_app
    from motcua.integrations.sandbox.server import BackgroundServer
    from motcua.services.gateway import gateway_for
    from motcua.services.runtime import Runtime
    from motcua.store.db import Database

    port = int(os.environ.get("MOTCUA_SANDBOX_PORT", "0"))
    sandbox = BackgroundServer(create_sandbox_app(), port=port).start()
    os.environ["MOTCUA_REGISTRY_URL"] = sandbox.url
    click.echo(f"Sandbox dữ liệu quốc gia (giả lập) tại {sandbox.url}; công việc nền chạy cùng máy chủ.")
    rt = Runtime(db=Database())
    worker = BackgroundWorker(rt, gateway_for(rt))
    worker.start()
    return [sandbox, worker]
