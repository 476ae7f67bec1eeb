"""Gateway fixtures: the sandbox registry over real HTTP on a free 127.0.0.1 port (one per session, reset
for every test), a gateway pointed at it with short timeouts, and the API fixtures (seeded SQLite and
PostgreSQL databases, the Litestar app) with that gateway installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from motcua.integrations.gateway import Gateway, GatewayConfig
from motcua.integrations.sandbox.app import create_sandbox_app
from motcua.integrations.sandbox.server import BackgroundServer
from motcua.services.gateway import install_gateway
from motcua.services.runtime import Runtime
from tests.api.conftest import (  # noqa: F401 - fixtures shared with the API tests
    DossierApi,
    api,
    calendar,
    client,
    runtime,
)

TOKEN = "sandbox-test-token"
CONGDAN = "079090001234"  # Nguyễn Văn An (demo account `congdan`)
CONGDAN2 = "079192004321"  # Trần Thị Bình, his wife (`congdan2`)
SON = "079222001357"  # their son, under 6
FATHER = "079060001122"  # An's father, alive
MOTHER = "079162003344"  # An's mother: death notified, not registered yet
BUSINESS = "0300588569"  # Công ty TNHH Một Cửa Sài Gòn, represented by An (`doanhnghiep`)


class Sandbox:
    """The running sandbox and its admin switches."""

    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        self.url = server.url
        self.admin = httpx.Client(base_url=server.url, timeout=5)

    def fault(self, target: str = "registries", **spec: Any) -> None:
        response = self.admin.put("/admin/faults", json={"target": target, **spec})
        assert response.status_code == 200, response.text

    def clear_faults(self) -> None:
        self.admin.delete("/admin/faults").raise_for_status()

    def requests(self, target: str) -> int:
        counts: dict[str, int] = self.admin.get("/admin/stats").json()["requests"]
        return counts.get(target, 0)

    def portal_log(self, code: str | None = None) -> list[dict[str, Any]]:
        params = {"ma_ho_so": code} if code else {}
        items: list[dict[str, Any]] = self.admin.get("/portal/dossier-statuses", params=params).json()[
            "items"
        ]
        return items


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_sandbox_app(token=TOKEN)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: BackgroundServer) -> Iterator[Sandbox]:
    handle = Sandbox(sandbox_server)
    handle.admin.post("/admin/reset").raise_for_status()
    yield handle
    handle.admin.close()


def make_gateway(url: str, **options: Any) -> Gateway:
    """A gateway at the sandbox with test-sized timeouts and backoff (fresh circuit breakers)."""
    settings: dict[str, Any] = {
        "read_timeout": 0.5,
        "connect_timeout": 0.5,
        "retries": 2,
        "backoff": 0.01,
        "backoff_max": 0.02,
        "breaker_threshold": 3,
        "breaker_reset": 30.0,
    }
    settings.update(options)
    return Gateway(GatewayConfig.for_base_url(url, token=settings.pop("token", TOKEN), **settings))


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[Gateway]:
    built = make_gateway(sandbox.url)
    yield built
    built.close()


@pytest.fixture
def gw_runtime(runtime: Runtime, gateway: Gateway) -> Runtime:  # noqa: F811 - the imported fixture
    """The API runtime (seeded database, fixed clock) using the sandbox gateway."""
    install_gateway(runtime, gateway)
    return runtime


@pytest.fixture
def gw_api(gw_runtime: Runtime, api: DossierApi) -> DossierApi:  # noqa: F811 - the imported fixture
    """The HTTP API driver, on an app whose runtime talks to the sandbox."""
    return api
