"""Revision a3c9e5f7b1d2: on PostgreSQL one AFTER UPDATE trigger on `dossiers` keeps both `unit_procedures` and
`dossier_search` (it was two). The migrations make what `create_all` makes; each table gets exactly its part
of a change (a rename touches only the search rows, a new procedure only the procedure pairs, a move both);
the downgrade puts the two triggers back and they still work; upgrading again gives the one trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import MetaData, insert, select, text, update

from motcua.domain.text import fold
from motcua.store.db import Database
from motcua.store.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from motcua.store.schema.dossier_search import dossier_search
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.unit_procedures import unit_procedures
from tests import pg
from tests.services.test_name_search import _row

BEFORE = "f0a5b2c8d1e9"
UPDATE_TRIGGERS = ("tr_dossiers_search_update", "tr_dossiers_unit_procedures_update", "tr_dossiers_update")


def _url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def _update_triggers(database: Database) -> list[tuple[Any, ...]]:
    """The UPDATE triggers on `dossiers` that keep the two tables, with their definitions (and, on PostgreSQL,
    their functions' bodies)."""
    names = ", ".join(f"'{name}'" for name in UPDATE_TRIGGERS)
    with database.read() as conn:
        if database.dialect == "sqlite":
            query = f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({names}) ORDER BY name"
        else:
            query = (
                "SELECT t.tgname, pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'dossiers'::regclass "
                f"AND NOT t.tgisinternal AND t.tgname IN ({names}) ORDER BY t.tgname"
            )
        return [tuple(row) for row in conn.exec_driver_sql(query).all()]


def _kept(database: Database) -> tuple[set[tuple[str, ...]], set[tuple[str, str]]]:
    """(unit_procedures rows, dossier_search (unit, text) rows)."""
    with database.read() as conn:
        pairs = {tuple(r) for r in conn.execute(select(unit_procedures)).all()}
        searched = {
            (r.unit_id, r.search_text.split("\x1f")[0]) for r in conn.execute(select(dossier_search)).all()
        }
    return pairs, searched


def _check_each_table_gets_its_part(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(text("DELETE FROM dossiers"))
        conn.execute(text("DELETE FROM unit_procedures"))
        conn.execute(insert(dossiers), [_row(1, "Nguyễn Thị Mai")])
    start_pairs, start_search = _kept(database)
    assert start_pairs == {("u-1", "Thủ tục thử", "1.000001")}
    assert start_search == {("u-1", fold("Nguyễn Thị Mai"))}

    def change(**values: Any) -> tuple[set[tuple[str, ...]], set[tuple[str, str]]]:
        with database.transaction() as conn:
            conn.execute(update(dossiers).values(**values))
        return _kept(database)

    # An action at the same unit (it sets the step unit, unchanged): neither table changes.
    assert change(step_unit_id="u-1", status=3, version=2) == (start_pairs, start_search)
    # A rename: the search row only.
    pairs, searched = change(applicant_name="Trần Văn Nam")
    assert pairs == start_pairs and searched == {("u-1", "tran van nam")}
    # Another procedure: the procedure pair only.
    pairs, searched = change(procedure_code="1.000002", procedure_name="Thủ tục khác")
    assert pairs == start_pairs | {("u-1", "Thủ tục khác", "1.000002")} and searched == {
        ("u-1", "tran van nam")
    }
    # A move to another unit's step: both.
    pairs, searched = change(step_unit_id="u-2")
    assert ("u-2", "Thủ tục khác", "1.000002") in pairs
    assert searched == {("u-1", "tran van nam"), ("u-2", "tran van nam")}


@pytest.fixture
def declared(empty_db: Database, schema: MetaData, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A second database of `empty_db`'s kind, made by `create_all`."""
    if empty_db.dialect == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'declared.sqlite3'}")
        schema.create_all(database.engine)
        yield database
        database.dispose()
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    name = f"{server.name_prefix}_declared_update"
    database = Database(server.create_database(name))
    schema.create_all(database.engine)
    try:
        yield database
    finally:
        database.dispose()
        server.drop_database(name)


def test_one_update_trigger_as_create_all_makes_it(empty_db: Database, declared: Database) -> None:
    upgrade(_url(empty_db), "heads")
    made = _update_triggers(empty_db)
    expected = (
        ["tr_dossiers_update"]
        if empty_db.dialect == "postgresql"
        else ["tr_dossiers_search_update", "tr_dossiers_unit_procedures_update"]  # SQLite: unchanged
    )
    assert [row[0] for row in made] == expected
    assert made == _update_triggers(declared)
    _check_each_table_gets_its_part(declared)
    _check_each_table_gets_its_part(empty_db)


def test_the_downgrade_puts_the_two_triggers_back(empty_db: Database) -> None:
    url = _url(empty_db)
    upgrade(url, BEFORE)
    before = _update_triggers(empty_db)
    assert [row[0] for row in before] == ["tr_dossiers_search_update", "tr_dossiers_unit_procedures_update"]
    upgrade(url, "heads")
    command.downgrade(alembic_config(url, migrations=MIGRATIONS_DIR), BEFORE)
    assert _update_triggers(empty_db) == before
    if empty_db.dialect == "postgresql":
        with empty_db.read() as conn:
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_proc WHERE proname = 'motcua_dossiers_updated'"
            )
            assert left.scalar() == 0
    _check_each_table_gets_its_part(empty_db)
    upgrade(url, "heads")
    _check_each_table_gets_its_part(empty_db)
