"""Schema migrations with Alembic, configured in code (no alembic.ini).

Scripts live in the package folder `motcua/store/migrations` (revisions under `versions/`). Each function
takes a database URL (default: `database_url()`) and runs on `make_engine`, so SQLite gets the same pragmas
as the application.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script

from motcua.store.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, *, migrations: Path = MIGRATIONS_DIR) -> Config:
    """An Alembic config for `migrations`; the URL travels in `attributes` (no %-escaping needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("path_separator", "os")
    config.set_main_option("timezone", "Asia/Ho_Chi_Minh")
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.is_file():  # new revision files come out lint-clean (development installs have ruff)
        config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
        for hook, options in (("ruff_fix", "check --fix --quiet"), ("ruff_format", "format --quiet")):
            config.set_section_option("post_write_hooks", f"{hook}.type", "exec")
            config.set_section_option("post_write_hooks", f"{hook}.executable", str(ruff))
            config.set_section_option(
                "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
            )
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head", *, migrations: Path = MIGRATIONS_DIR) -> None:
    """Migrate the database to `revision`, each revision in its own transaction (env.py,
    `transaction_per_migration`): a finished revision is stamped and never redone, and a revision may commit
    part of its work early to build an index or backfill a table without blocking writers
    (`motcua.store.online_migrations`, decision 0011). Killed halfway, run it again: it resumes."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:  # not in a transaction: Alembic begins one per revision
            config = alembic_config(url, migrations=migrations)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()  # anything Alembic's own reads began outside a revision's transaction
    finally:
        db.dispose()


def current(url: str | None = None) -> str | None:
    """The revision the database is at, or None for a database Alembic has never migrated."""
    db = Database(url)
    try:
        with db.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        db.dispose()


def autogenerate(url: str | None, message: str, *, migrations: Path = MIGRATIONS_DIR) -> Path:
    """Write a new revision with the difference between the database at `url` and the tables in code.

    Returns the path of the new script: read it before committing (autogenerate misses renames).
    """
    (migrations / "versions").mkdir(exist_ok=True)
    db = Database(url)
    try:
        with db.transaction() as conn:
            config = alembic_config(url, migrations=migrations)
            config.attributes["connection"] = conn
            script = command.revision(config, message=message, autogenerate=True)
    finally:
        db.dispose()
    if not isinstance(script, Script):
        raise RuntimeError(f"alembic did not write one revision: {script!r}")
    return Path(script.path)
