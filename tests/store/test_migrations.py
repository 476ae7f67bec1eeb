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
