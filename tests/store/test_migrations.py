"""The committed Alembic revisions build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect

from motcua.store.db import Database
from motcua.store.migrate import MIGRATIONS_DIR, alembic_config, current, upgrade


def _url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def test_upgrade_to_head_matches_the_declared_schema(empty_db: Database, schema: MetaData) -> None:
    url = _url(empty_db)
    upgrade(url)
    head = ScriptDirectory.from_config(alembic_config(url, migrations=MIGRATIONS_DIR)).get_current_head()
    assert current(url) == head
    with empty_db.read() as conn:
        tables = set(inspect(conn).get_table_names())
        differences = compare_metadata(MigrationContext.configure(conn), schema)
    assert set(schema.tables) <= tables
    assert differences == [], (
        f"the schema drifted from the migrations; autogenerate a revision: {differences}"
    )


def test_upgrade_twice_changes_nothing(empty_db: Database) -> None:
    url = _url(empty_db)
    upgrade(url)
    first = current(url)
    upgrade(url)
    assert current(url) == first


def test_the_lighter_writes_revision_downgrades_and_upgrades_again(
    empty_db: Database, schema: MetaData
) -> None:
    """f3b8d1e6a4c7 (partial indexes, lz4) can be undone and redone on both databases; the events keep their key."""
    from alembic import command

    url = _url(empty_db)
    upgrade(url)
    command.downgrade(alembic_config(url, migrations=MIGRATIONS_DIR), "e5a7c3f1b9d2")
    with empty_db.read() as conn:
        found = inspect(conn)
        indexes = {index["name"] for index in found.get_indexes("dossiers")}
        foreign_keys = found.get_foreign_keys("dossier_events")
    assert {
        "ix_dossiers_submitted_by",
        "ix_dossiers_assignee_status",
        "ix_dossiers_competent_unit_status",
    } <= indexes
    assert not indexes & {"ix_dossiers_submitted_by_other", "ix_dossiers_assignee_open"}
    assert [fk["referred_table"] for fk in foreign_keys] == ["dossiers"]
    upgrade(url)
    with empty_db.read() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema) == []
        if empty_db.dialect == "postgresql":
            compression = dict(
                conn.exec_driver_sql(
                    "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'dossiers'::regclass "
                    "AND attname IN ('state', 'form_data')"
                ).all()
            )
            lz4 = conn.exec_driver_sql(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
            ).scalar()
            assert compression == (
                {"state": "l", "form_data": "l"} if lz4 else {"state": "", "form_data": ""}
            )
