"""Revision c7d2e9a1f4b3 (`unit_procedures`): the migrations make the same triggers as `create_all`, the
upgrade fills the table from the dossiers already stored, and the downgrade removes table and triggers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, text

from motcua.store.db import Database
from motcua.store.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from tests import pg

BEFORE = "f3b8d1e6a4c7"


def _url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def _triggers(database: Database) -> list[tuple[str, ...]]:
    """This revision's triggers on `dossiers` as the database stores them (and, on PostgreSQL, their
    functions' bodies), with the UPDATE trigger revision a3c9e5f7b1d2 made of it and `dossier_search`'s;
    other revisions' triggers are theirs to check."""
    with database.read() as conn:
        if database.dialect == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'dossiers' "
                "AND name LIKE 'tr_dossiers_unit_procedures_%' ORDER BY name"
            ).all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT t.tgname, pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'dossiers'::regclass "
                "AND NOT t.tgisinternal "
                "AND t.tgname IN ('tr_dossiers_unit_procedures_insert', 'tr_dossiers_unit_procedures_update', "
                "'tr_dossiers_update') "
                "ORDER BY t.tgname"
            ).all()
    return [tuple(row) for row in rows]


@pytest.fixture
def declared(
    empty_db: Database, schema: MetaData, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Database]:
    """A second database of `empty_db`'s kind, made by `create_all`."""
    if empty_db.dialect == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'declared.sqlite3'}")
        schema.create_all(database.engine)
        yield database
        database.dispose()
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    name = f"{server.name_prefix}_declared"
    database = Database(server.create_database(name))
    schema.create_all(database.engine)
    try:
        yield database
    finally:
        database.dispose()
        server.drop_database(name)


def test_the_migrations_make_the_triggers_create_all_makes(
    empty_db: Database, declared: Database, schema: MetaData
) -> None:
    upgrade(_url(empty_db), "heads")
    made = _triggers(empty_db)
    assert [row[0] for row in made] == [
        "tr_dossiers_unit_procedures_insert",
        # PostgreSQL: one UPDATE trigger shared with `dossier_search` (revision a3c9e5f7b1d2)
        "tr_dossiers_update" if empty_db.dialect == "postgresql" else "tr_dossiers_unit_procedures_update",
    ]
    assert made == _triggers(declared)
    with empty_db.read() as conn:  # and the same table and index (as tests/store/test_migrations.py checks)
        assert compare_metadata(MigrationContext.configure(conn), schema) == []


_DOSSIER = (
    "INSERT INTO dossiers (code, procedure_code, procedure_name, city_procedure_version, workflow_id, "
    "workflow_version, channel, applicant_id, applicant_name, submitted_by, receiving_unit_id, "
    "competent_unit_id, status, step, step_unit_id, submitted_at, version, state, form_data, updated_at) "
    "VALUES (:code, :procedure, :name, 1, 'wf', 1, 'online', 'cd-1', 'A', 'cd-1', :receiving, :competent, 1, "
    "'buoc', :step, '2026-12-01 08:00:00', 1, '{}', '{}', '2026-12-01 08:00:00')"
)


def test_the_upgrade_fills_the_table_and_the_downgrade_removes_it(empty_db: Database) -> None:
    url = _url(empty_db)
    upgrade(url, BEFORE)
    with empty_db.transaction() as conn:
        for code, procedure, name, receiving, competent, step in (
            ("A-1", "1.1", "Một", "u-1", "u-1", "u-1"),
            ("A-2", "1.1", "Một", "u-1", "u-2", "u-3"),
            ("A-3", "1.2", "Hai", "u-2", "u-2", "u-2"),
        ):
            conn.execute(
                text(_DOSSIER),
                dict(
                    code=code,
                    procedure=procedure,
                    name=name,
                    receiving=receiving,
                    competent=competent,
                    step=step,
                ),
            )
    upgrade(url, "heads")
    with empty_db.read() as conn:
        kept = set(
            conn.exec_driver_sql("SELECT unit_id, procedure_code, procedure_name FROM unit_procedures").all()
        )
    assert kept == {
        ("u-1", "1.1", "Một"),
        ("u-2", "1.1", "Một"),
        ("u-3", "1.1", "Một"),
        ("u-2", "1.2", "Hai"),
    }
    command.downgrade(alembic_config(url, migrations=MIGRATIONS_DIR), BEFORE)
    assert _triggers(empty_db) == []
    with empty_db.transaction() as conn:  # dossiers are written without the table
        conn.execute(
            text(_DOSSIER),
            dict(code="A-4", procedure="1.3", name="Ba", receiving="u-1", competent="u-1", step="u-1"),
        )
        if empty_db.dialect == "postgresql":
            functions = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_proc WHERE proname IN ('motcua_unit_procedures_inserted', 'motcua_unit_procedures_moved')"
            ).scalar()
            assert functions == 0
        tables = conn.exec_driver_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'unit_procedures'"
            if empty_db.dialect == "postgresql"
            else "SELECT count(*) FROM sqlite_master WHERE name = 'unit_procedures'"
        ).scalar()
        assert tables == 0
    upgrade(url, "heads")
    with empty_db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM unit_procedures").scalar() == 5
