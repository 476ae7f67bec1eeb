"""API fixtures: a database seeded with the real units, workflows and catalog (once per session per backend,
cloned per test), a runtime with a fixed clock, and an HTTP client on the real Litestar app."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import MetaData

from motcua.api.app import create_app
from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import VN_TZ, FixedClock
from motcua.services.runtime import Runtime
from motcua.services.seed import DEMO_PASSWORD, ensure_demo_accounts, setup_reference_data
from motcua.store.db import Database
from tests import pg
from tests.conftest import DATABASES, _new_pg_database

SEED_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=VN_TZ)


def _seed(database: Database) -> None:
    setup_reference_data(database, now=SEED_TIME)
    ensure_demo_accounts(database, now=SEED_TIME)


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "seeded.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    _seed(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def seeded_pg_template(pg_server: pg.PgServer, pg_template: str, schema: MetaData) -> Iterator[str]:
    name = f"{pg_server.name_prefix}_seeded"
    database = Database(pg_server.create_database(name, template=pg_template))
    _seed(database)
    database.dispose()
    yield name
    pg_server.drop_database(name)


@pytest.fixture(params=DATABASES)
def seeded_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh copy of the seeded database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "seeded.sqlite3"
        shutil.copyfile(request.getfixturevalue("seeded_sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
    else:
        yield from _new_pg_database(request, template=request.getfixturevalue("seeded_pg_template"))


@pytest.fixture(scope="session")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.vietnam()


@pytest.fixture
def runtime(seeded_db: Database, clock: FixedClock, calendar: BusinessCalendar) -> Runtime:
    return Runtime(db=seeded_db, clock=clock, calendar=calendar)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def login(client: TestClient[Any]) -> Callable[[str], dict[str, str]]:
    """`login("sg.tiepnhan")` → the Authorization header of a fresh bearer token for that demo account."""
    cache: dict[str, dict[str, str]] = {}

    def _login(username: str) -> dict[str, str]:
        if username not in cache:
            response = client.post(
                "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert response.status_code == 200, response.text
            cache[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return cache[username]

    return _login
