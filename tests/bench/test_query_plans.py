"""The queries benchmark (`python -m bench --only queries`) explains every SELECT a use case issues.

It failed at the end of a 10M-dossier generation (session 9) because a hot statement (store/db.py) carries
PostgreSQL's own `$1` placeholders, which psycopg's default cursor does not accept.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bench.suites import _explain, capture_selects
from motcua.services.runtime import units_token
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers
from tests import pg


@pytest.fixture
def pg_db(pg_server: pg.PgServer, pg_database: str) -> Iterator[Database]:
    pg_server.clear_database(pg_database)
    database = Database(pg_server.url(pg_database))
    yield database
    database.dispose()


def test_both_kinds_of_placeholders_are_explained(pg_db: Database) -> None:
    with capture_selects(pg_db) as captured, pg_db.read() as conn:
        units_token(conn)  # a hot statement: `$1`
        conn.execute(select(dossiers.c.code).where(dossiers.c.code == "G01.99-261206-0001")).all()  # `%(x)s`
    assert [("$1" in sql, bool(params)) for sql, params in captured] == [(True, True), (False, True)]

    explained = [_explain(pg_db, sql, params) for sql, params in captured]

    assert "units_version" in explained[0]["plan"]
    assert "dossiers" in explained[1]["sql"] and explained[1]["execution_ms"] >= 0
