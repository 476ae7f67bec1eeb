"""Shared fixtures. Every database test runs on SQLite and on a real PostgreSQL (see tests/pg.py).

Sections: time · databases · seeded databases. Database fixtures: `db` (both databases, every table, empty),
`sqlite_db` (SQLite only), `empty_db` (both databases, no tables: for migrations), `seeded_db` (both databases
with the real units, workflows, catalog and demo accounts; the API and browser tests use it).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from motcua.domain.clock import VN_TZ, FixedClock
from motcua.services.seed import ensure_demo_accounts, setup_reference_data
from motcua.store.db import Database
from motcua.store.schema import load_all
from tests import pg

# --- time -------------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    """Monday 2 March 2026, 09:00 in Ho Chi Minh City."""
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ))


# --- databases ----------------------------------------------------------------------------------------

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="pg", marks=pytest.mark.postgres),
]


def pytest_report_header() -> str:
    return pg.describe()


@pytest.fixture(scope="session")
def schema() -> MetaData:
    """The shared metadata with every table of every `motcua.store.schema` module registered."""
    return load_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, schema: MetaData) -> Path:
    """A SQLite file with every table, created once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("sqlite_template") / "template.sqlite3"
    template = Database(f"sqlite:///{path}")
    schema.create_all(template.engine)
    template.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    """This worker's PostgreSQL server. Without one: skipped, except in CI where both databases must run."""
    try:
        server = pg.start_server(os.environ.get("PYTEST_XDIST_WORKER", "main"))
    except pg.PostgresUnavailable as unavailable:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test both databases: {unavailable}", pytrace=False)
        pytest.skip(str(unavailable))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: pg.PgServer, schema: MetaData) -> Iterator[str]:
    """Name of a PostgreSQL database with every table and no rows, to clone (never connect to it)."""
    name = f"{pg_server.name_prefix}_tpl"
    template = Database(pg_server.create_database(name))
    schema.create_all(template.engine)
    template.dispose()  # a template must have no open connection when it is cloned
    yield name
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def pg_database(pg_server: pg.PgServer, pg_template: str) -> Iterator[str]:
    """This worker's PostgreSQL database for `db`: every table; each test empties it before it runs.

    Emptying (TRUNCATE … RESTART IDENTITY CASCADE, 20-50 ms) measured 3-5× faster on this machine than
    cloning the template per test (CREATE DATABASE … TEMPLATE, 80-180 ms). Clone (`_new_pg_database`) when
    a test needs rows that are expensive to make, such as seeded reference data.
    """
    name = f"{pg_server.name_prefix}_tests"
    pg_server.create_database(name, template=pg_template)
    yield name
    pg_server.drop_database(name)


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database with every table: an SQLite file (so concurrency is real), then PostgreSQL."""
    if request.param == "sqlite":
        yield from _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    name = request.getfixturevalue("pg_database")
    server.clear_database(name)
    database = Database(server.url(name))
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database with every table, for tests that need no PostgreSQL run."""
    yield from _sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture(params=DATABASES)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A new database with no tables at all (for migrations), on SQLite then PostgreSQL."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield database
        database.dispose()
    else:
        yield from _new_pg_database(request, template=None)


_pg_database_numbers = itertools.count(1)


def _new_pg_database(request: pytest.FixtureRequest, template: str | None) -> Iterator[Database]:
    """A new PostgreSQL database on this worker's server (a clone of `template`), dropped afterwards."""
    server: pg.PgServer = request.getfixturevalue("pg_server")
    name = f"{server.name_prefix}_t{next(_pg_database_numbers)}"
    database = Database(server.create_database(name, template=template))
    try:
        yield database
    finally:
        database.dispose()
        server.drop_database(name)


def _sqlite_copy(template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "motcua.sqlite3"
    shutil.copyfile(template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


# --- seeded databases -----------------------------------------------------------------------------------

SEED_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=VN_TZ)


def seed_reference_data(database: Database) -> None:
    """The real units, workflows and catalog, and the demo accounts (password `DEMO_PASSWORD`)."""
    setup_reference_data(database, now=SEED_TIME)
    ensure_demo_accounts(database, now=SEED_TIME)


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A seeded SQLite file, made once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("seeded") / "seeded.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    seed_reference_data(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def seeded_pg_template(pg_server: pg.PgServer, pg_template: str, schema: MetaData) -> Iterator[str]:
    """Name of a seeded PostgreSQL database to clone (never connect to it)."""
    name = f"{pg_server.name_prefix}_seeded"
    database = Database(pg_server.create_database(name, template=pg_template))
    seed_reference_data(database)
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
