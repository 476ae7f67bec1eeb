"""The hot statements run on the driver connection (`store.db.HotStatement`, issue #6): the same rows as
SQLAlchemy's execution, server-side prepared on PostgreSQL, and still correct after `DISCARD ALL` or a
connection the server ended."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from motcua.services import dossiers as dossier_service
from motcua.services.audit import verify_database
from motcua.services.dossiers import replay_check
from tests.api.conftest import DossierApi


def _load_statements() -> list[tuple[tuple[bool, bool, bool], Any]]:
    return list(dossier_service._LOAD_ROW.items())


def test_hot_rows_equal_sqlalchemy_rows(api: DossierApi) -> None:
    """Every variant of the row read gives what SQLAlchemy's own execution gives (types processed alike:
    instants in Ho Chi Minh City time, JSON decoded), on both databases."""
    code = api.submit("congdan")["code"]
    api.act("sg.tiepnhan", code, "accept")
    with api.db.transaction() as conn:
        for (_, lock, _), stmt in _load_statements():
            if lock and conn.dialect.name != "postgresql":
                continue
            hot = stmt.rows(conn, {"code": code})
            assert len(hot) == 1
            expected = conn.execute(stmt.clause, {"code": code}).mappings().one()
            assert dict(zip(stmt.columns, hot[0], strict=True)) == dict(expected)
            row = dict(expected)
            assert row["submitted_at"].utcoffset().total_seconds() == 7 * 3600
            assert isinstance(row["state"], dict)
        assert _load_statements()[0][1].rows(conn, {"code": "KHONG-CO"}) == []


def _prepared(conn: Any) -> list[str]:
    return list(conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())


@pytest.mark.parametrize("seeded_db", ["postgresql"], indirect=True)
def test_hot_statements_are_prepared_and_survive_discard_all(api: DossierApi) -> None:
    code = api.submit("congdan")["code"]
    stmt = dossier_service._LOAD_ROW[(True, True, True)]
    with api.db.engine.connect() as conn:
        with conn.begin():
            assert stmt.rows(conn, {"code": code})
            assert any("FOR UPDATE" in s for s in _prepared(conn))  # prepared on its first run
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.autocommit = True
        driver.execute("DISCARD ALL")  # what a connection pooler does between clients
        driver.autocommit = False
        assert not any("FOR UPDATE" in s for s in _prepared(conn))
        conn.commit()
        with conn.begin():
            assert stmt.rows(conn, {"code": code})  # prepared again, not "prepared statement does not exist"
            assert any("FOR UPDATE" in s for s in _prepared(conn))
    api.act("sg.tiepnhan", code, "accept")  # the whole action path after it
    assert verify_database(api.db).ok


@pytest.mark.parametrize("seeded_db", ["postgresql"], indirect=True)
def test_a_connection_ended_by_the_server_fails_one_request_then_the_next_works(api: DossierApi) -> None:
    """The server ends the pooled connection (a restart, an administrator): the hot statement raises
    SQLAlchemy's error (a 5xx for that one request, nothing committed), the connection is not handed out
    again, and the next action prepares its statements on a fresh connection and succeeds."""
    code = api.submit("congdan")["code"]
    stmt = dossier_service._LOAD_ROW[(True, True, True)]
    api.db.engine.dispose()  # one pooled connection: the one ended below is the next one handed out
    with api.db.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.commit()
    admin_url = api.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:  # not from the pool: that one is in it
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    with pytest.raises(DBAPIError), api.db.transaction() as conn:
        stmt.rows(conn, {"code": code})
    api.act("sg.tiepnhan", code, "accept")
    with api.db.read() as conn:
        assert replay_check(conn, code)
    assert verify_database(api.db).ok


@pytest.mark.parametrize("seeded_db", ["postgresql"], indirect=True)
def test_a_request_whose_connection_was_lost_answers_503_and_the_retry_works(api: DossierApi) -> None:
    """A database restart or failover ends the connection a request was given: the API answers 503 with a
    stable code, a Vietnamese message and `Retry-After` (not a 500 "unexpected error"), nothing is written,
    and the officer's retry goes through on a new connection."""
    code = api.submit("congdan")["code"]
    api.auth("sg.tiepnhan")  # the token is cached: the action's request needs one connection only
    api.db.engine.dispose()
    with api.db.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.commit()
    admin_url = api.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    body = {"action": "accept", "payload": {}}
    lost = api.client.post(f"/api/v1/dossiers/{code}/actions", json=body, headers=api.auth("sg.tiepnhan"))
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"] == "1"
    assert lost.json()["error"]["code"] == "database.unavailable"
    assert "cơ sở dữ liệu" in lost.json()["error"]["message"]
    assert api.call("GET", f"/api/v1/dossiers/{code}", "sg.tiepnhan", expect=200)["status"]["code"] == 1
    assert api.act("sg.tiepnhan", code, "accept")["status"]["code"] == 2
    with api.db.read() as conn:
        assert replay_check(conn, code)
    assert verify_database(api.db).ok


def test_a_page_whose_database_connection_was_lost_says_so() -> None:
    """The page error for a lost connection: 503, the message in the visitor's language and the code."""
    from motcua.web.errors import _describe

    lost = DBAPIError.instance(
        "SELECT 1", (), psycopg.OperationalError("gone"), psycopg.Error, connection_invalidated=True
    )
    assert _describe(lost, "vi") == (
        503,
        "Tạm thời mất kết nối tới cơ sở dữ liệu. Hãy thử lại sau giây lát.",
        "database.unavailable",
    )
    assert _describe(lost, "en")[0] == 503
    other = DBAPIError.instance("SELECT 1", (), psycopg.DataError("bad"), psycopg.Error)
    assert _describe(other, "vi")[0] == 500
