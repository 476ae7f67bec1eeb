"""Browser tests: the real app served by uvicorn on 127.0.0.1 (a background thread) over a seeded database,
driven by Debian's Chromium through Playwright.

Fixtures
- `live_server` — the running app, on SQLite then PostgreSQL (one server per database per session, the clock
  reset to Mon 2 Mar 2026 09:00 before each test): `.url`, `.clock` (a `FixedClock` to advance), `.db`,
  `.count(table)`.
- `browser` — headless `/usr/bin/chromium` (skipped when missing, except under `CI`).
- `page_phone` (360×740, mobile, touch), `page_desktop` (1280×800), `device_page` (both, one test each);
  each is a fresh browser context (no cookies) whose relative URLs go to `live_server`.
- `login_as(page, "congdan")` — log in through the form (demo password).
- `web_client` — Litestar's `TestClient` on the same app setup, for fast checks that need no browser.
Helpers (assertions, screenshots): `tests/web/helpers.py`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar.testing import TestClient
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Table, func, select

from motcua.api.app import create_app
from motcua.domain.clock import VN_TZ, FixedClock
from motcua.services.files import LocalBlobStore
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from tests.conftest import DATABASES, _new_pg_database
from tests.web.helpers import login_as as _login_as

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
START = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)  # a Monday, 09:00 in Ho Chi Minh City
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
DEVICES = {"phone": PHONE, "desktop": DESKTOP}


@dataclass
class LiveServer:
    url: str
    backend: str  # "sqlite" | "postgresql"
    db: Database
    clock: FixedClock
    runtime: Runtime

    def count(self, table: Table, *where: Any) -> int:
        """Rows in `table` (matching `where`), read straight from the server's database."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def make_app(
    database: Database, clock: FixedClock, files: Path, extra_routes: list[Any] | None = None
) -> Any:
    """The production app factory over a test database and clock, with a throwaway secret key."""
    runtime = Runtime(db=database, clock=clock, blobs=LocalBlobStore(files))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTCUA_SECRET_KEY", secrets.token_hex(32))
        return create_app(runtime, extra_routes=extra_routes)


@contextmanager
def _seeded_copy(request: pytest.FixtureRequest, folder: Path) -> Iterator[Database]:
    """A copy of the seeded database (`request.param` names the backend), removed afterwards."""
    if request.param == "sqlite":
        path = folder / "live.sqlite3"
        shutil.copyfile(request.getfixturevalue("seeded_sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        try:
            yield database
        finally:
            database.dispose()
    else:
        yield from _new_pg_database(request, template=request.getfixturevalue("seeded_pg_template"))


@pytest.fixture(scope="session", params=DATABASES)
def _live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    with _seeded_copy(request, folder) as database:
        clock = FixedClock(START)
        app = make_app(database, clock, folder / "files")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the live server did not start", pytrace=False)
            time.sleep(0.02)
        port = listener.getsockname()[1]
        try:
            yield LiveServer(f"http://127.0.0.1:{port}", request.param, database, clock, app.state.runtime)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            listener.close()


@pytest.fixture
def live_server(_live_server: LiveServer) -> LiveServer:
    """The running app for this test, its clock back at the start instant."""
    _live_server.clock.set(START)
    return _live_server


# --- browser -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium. Without it: skipped, except in CI where the browser tests must run."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _open_page(browser: Browser, server: LiveServer, device: dict[str, Any]) -> Iterator[Page]:
    context = browser.new_context(
        base_url=server.url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **device
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page_phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A 360×740 touch phone."""
    yield from _open_page(browser, live_server, PHONE)


@pytest.fixture
def page_desktop(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A 1280×800 desktop."""
    yield from _open_page(browser, live_server, DESKTOP)


@pytest.fixture(params=list(DEVICES))
def device_page(request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """The test runs twice: on the phone, then on the desktop (`request.param` names which)."""
    yield from _open_page(browser, live_server, DEVICES[request.param])


@pytest.fixture
def login_as() -> Callable[..., None]:
    """`login_as(page, "congdan")`: log in through the login form with the demo password."""
    return _login_as


# --- without a browser ---------------------------------------------------------------------------------


@pytest.fixture
def web_client(seeded_db: Database, clock: FixedClock, tmp_path: Path) -> Iterator[TestClient[Any]]:
    """The real app in-process (no browser), over a fresh seeded database, on both databases."""
    with TestClient(app=make_app(seeded_db, clock, tmp_path / "files")) as client:
        yield client
