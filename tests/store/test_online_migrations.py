"""Schema upgrades a working city can take (decision 0011): on PostgreSQL a revision's backfill and index builds
never make a writer of `dossiers` wait, a revision killed halfway ends, run again, in the same schema, an
INVALID index left by a killed concurrent build is rebuilt, and no revision builds an index on an existing
table without `motcua.store.online_migrations`."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text

from motcua.store import online_migrations
from motcua.store.db import Database
from motcua.store.migrate import MIGRATIONS_DIR, current, upgrade

BEFORE_BACKFILLS = (
    "e9f4a1c3b7d8"  # the parent of c7d2e9a1f4b3 (unit_procedures), then d8e3f0b2a5c6 (dossier_search)
)
DOSSIERS = 260
BATCH = 50  # → 6 batches per backfill

_INSERT = (
    "INSERT INTO dossiers (code, procedure_code, procedure_name, city_procedure_version, workflow_id, "
    "workflow_version, channel, applicant_id, applicant_name, submitted_by, receiving_unit_id, "
    "competent_unit_id, status, step, step_unit_id, submitted_at, version, state, form_data, updated_at) "
    "VALUES (:code, :procedure, 'Thủ tục', 1, 'wf', 1, 'online', :applicant, :name, :applicant, :receiving, "
    ":competent, 1, 'buoc', :step, '2026-12-01 08:00:00', 1, '{}', '{}', '2026-12-01 08:00:00')"
)
# What dossier_search must hold for each dossier's current units (revision d8e3f0b2a5c6's backfill).
_EXPECTED_SEARCH = (
    "SELECT u.unit_id, d.id, motcua_fold(d.applicant_name) || chr(31) || lower(d.code) || chr(31) || "
    "lower(d.applicant_id) FROM dossiers d CROSS JOIN LATERAL (VALUES (d.receiving_unit_id), "
    "(NULLIF(d.competent_unit_id, d.receiving_unit_id)), (CASE WHEN d.step_unit_id NOT IN (d.receiving_unit_id, "
    "d.competent_unit_id) THEN d.step_unit_id END)) AS u (unit_id) WHERE u.unit_id IS NOT NULL"
)
# Locks that make an INSERT or UPDATE of `dossiers` wait (they conflict with ROW EXCLUSIVE).
_BLOCKING_LOCKS = (
    "SELECT count(*) FROM pg_locks WHERE relation = 'dossiers'::regclass AND pid <> pg_backend_pid() "
    "AND granted AND mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')"
)


def _url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def _dossier(
    n: int, name: str, receiving: str = "u-1", competent: str = "u-2", step: str = "u-1"
) -> dict[str, str]:
    return dict(
        code=f"HS-{n:06d}",
        procedure=f"1.{n % 7}",
        applicant=f"cd-{n}",
        name=name,
        receiving=receiving,
        competent=competent,
        step=step,
    )


@pytest.fixture
def pg_db(empty_db: Database) -> Database:
    if empty_db.dialect != "postgresql":
        pytest.skip("online schema changes are PostgreSQL's; SQLite runs each revision in one transaction")
    return empty_db


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(online_migrations, "BATCH_ROWS", BATCH)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(online_migrations, "between_batches", None)
    yield calls


def _fill(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(text(_INSERT), [_dossier(n, f"Nguyễn Văn {n}") for n in range(1, DOSSIERS + 1)])


def _search_is_complete(conn: Connection) -> None:
    """Every dossier's current units have their row, with the dossier's current text."""
    expected = set(conn.exec_driver_sql(_EXPECTED_SEARCH).all())
    stored = set(conn.exec_driver_sql("SELECT unit_id, dossier_id, search_text FROM dossier_search").all())
    assert expected <= stored
    pairs = set(
        conn.exec_driver_sql(
            "SELECT u.unit_id, d.procedure_name, d.procedure_code FROM dossiers d CROSS JOIN LATERAL "
            "(VALUES (d.receiving_unit_id), (d.competent_unit_id), (d.step_unit_id)) AS u (unit_id)"
        ).all()
    )
    kept = set(
        conn.exec_driver_sql("SELECT unit_id, procedure_name, procedure_code FROM unit_procedures").all()
    )
    assert pairs <= kept


def test_writers_do_not_wait_for_a_backfill_or_an_index_build(
    pg_db: Database,
    schema: MetaData,
    small_batches: None,
    hook: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _url(pg_db)
    upgrade(url, BEFORE_BACKFILLS)
    _fill(pg_db)
    writer = Database(url)
    added = iter(range(DOSSIERS + 1, DOSSIERS + 1000))

    def write(name: str, done: int) -> None:
        """Another connection files a dossier and acts on two (one already backfilled, one not yet): none of it
        may wait for a lock, and no lock that would make it wait is held by anyone."""
        hook.append((name, done))
        with writer.transaction() as conn:
            assert conn.exec_driver_sql(_BLOCKING_LOCKS).scalar() == 0
            conn.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            n = next(added)
            conn.execute(
                text(_INSERT), _dossier(n, f"Trần Thị {n}", receiving="u-3", competent="u-3", step="u-3")
            )
            for target in (max(done, 1), min(done + 1, DOSSIERS)):  # done, and the batch to come
                conn.execute(
                    text(
                        "UPDATE dossiers SET applicant_name = :name, step_unit_id = :step, "
                        "procedure_code = :procedure WHERE id = :id"
                    ),
                    dict(name=f"Lê Văn {n}", step=f"u-step-{n}", procedure=f"9.{n}", id=target),
                )

    monkeypatch.setattr(online_migrations, "between_batches", write)
    try:
        upgrade(url, "heads")
    finally:
        writer.dispose()
    names = [name for name, _ in hook]
    assert names.count("unit_procedures") == names.count("dossier_search") == DOSSIERS // BATCH + 1
    assert {"index:ix_dossier_search_trgm", "index:ix_dossiers_open_due"} <= set(names)
    with pg_db.read() as conn:
        _search_is_complete(conn)
        assert conn.exec_driver_sql("SELECT count(*) FROM dossiers").scalar() == DOSSIERS + len(hook)
        assert compare_metadata(MigrationContext.configure(conn), schema) == []


def test_a_revision_killed_halfway_ends_in_the_same_schema_when_run_again(
    pg_db: Database,
    schema: MetaData,
    small_batches: None,
    hook: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _url(pg_db)
    upgrade(url, BEFORE_BACKFILLS)
    _fill(pg_db)

    def crash(name: str, done: int) -> None:
        hook.append((name, done))
        if name == "dossier_search" and done >= 2 * BATCH:
            raise KeyboardInterrupt  # the process dies between two batches

    monkeypatch.setattr(online_migrations, "between_batches", crash)
    with pytest.raises(KeyboardInterrupt):
        upgrade(url, "heads")
    assert current(url) == "c7d2e9a1f4b3"  # the finished revision is stamped, the killed one is not
    with pg_db.read() as conn:  # its triggers and part of its rows are committed
        assert 0 < conn.exec_driver_sql("SELECT count(*) FROM dossier_search").scalar() < DOSSIERS
    killed_at = hook[-1][1]
    hook.clear()
    monkeypatch.setattr(online_migrations, "between_batches", lambda name, done: hook.append((name, done)))
    upgrade(url, "heads")
    # the backfill resumed after its last committed batch: the batches before it were not done again
    resumed = [done for name, done in hook if name == "dossier_search"]
    assert resumed and resumed[0] == killed_at + BATCH
    with pg_db.read() as conn:
        _search_is_complete(conn)
        assert compare_metadata(MigrationContext.configure(conn), schema) == []  # no progress table left
        invalid = conn.exec_driver_sql("SELECT count(*) FROM pg_index WHERE NOT indisvalid").scalar()
    assert invalid == 0


def test_an_invalid_index_left_by_a_killed_build_is_rebuilt(pg_db: Database, schema: MetaData) -> None:
    url = _url(pg_db)
    upgrade(url, "d94d081a352f")  # the parent of a1c0de5e55a1 (ix_dossiers_due_id)
    _fill(pg_db)
    with pg_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with pytest.raises(Exception, match="division by zero"):  # a concurrent build that fails halfway
            conn.exec_driver_sql("CREATE INDEX CONCURRENTLY ix_dossiers_due_id ON dossiers ((1 / (id - id)))")
        assert (
            conn.exec_driver_sql(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_dossiers_due_id'::regclass"
            ).scalar()
            is False
        )
    upgrade(url, "heads")
    with pg_db.read() as conn:
        valid, definition = conn.exec_driver_sql(
            "SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indexrelid = 'ix_dossiers_due_id'::regclass"
        ).one()
        assert compare_metadata(MigrationContext.configure(conn), schema) == []
    assert valid is True
    assert definition.endswith("USING btree (due_at, id)")


# --- the static check: every index on an existing table goes through the helper -----------------------------


def unsafe_index_builds(source: str) -> list[str]:
    """The indexes an upgrade() builds on a table it did not create, other than by `online.create_index` /
    `online.replace_index` (op.create_index, batch_op.create_index, raw CREATE INDEX)."""
    tree = ast.parse(source)
    upgrade_fn = next(
        (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "upgrade"), None
    )
    if upgrade_fn is None:
        return []
    created: set[str] = set()
    found: list[tuple[str, str]] = []
    batch_tables: dict[str, str] = {}
    for node in ast.walk(upgrade_fn):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "batch_alter_table"
                    and isinstance(item.optional_vars, ast.Name)
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                ):
                    batch_tables[item.optional_vars.id] = str(call.args[0].value)
    for node in ast.walk(upgrade_fn):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        if owner == "op" and node.func.attr == "create_table" and node.args:
            created.add(str(getattr(node.args[0], "value", "")))
        elif owner == "op" and node.func.attr == "create_index" and len(node.args) > 1:
            found.append((str(getattr(node.args[0], "value", "?")), str(getattr(node.args[1], "value", "?"))))
        elif owner in batch_tables and node.func.attr == "create_index" and node.args:
            found.append((str(getattr(node.args[0], "value", "?")), batch_tables[owner]))
    for node in ast.walk(tree):  # raw DDL anywhere in the file
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            upper = " ".join(node.value.split()).upper()
            if ("CREATE INDEX" in upper or "CREATE UNIQUE INDEX" in upper) and "CONCURRENTLY" not in upper:
                found.append(("raw SQL", upper.split(" ON ", 1)[-1].split(" ", 1)[0].lower()))
    return [f"{name} on {table}" for name, table in found if table not in created]


def test_no_revision_builds_an_index_on_an_existing_table_without_the_helper() -> None:
    unsafe = {
        path.name: found
        for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py"))
        if (found := unsafe_index_builds(path.read_text(encoding="utf-8")))
    }
    assert unsafe == {}, (
        "build indexes on existing tables with motcua.store.online_migrations.create_index "
        f"(CONCURRENTLY on PostgreSQL; decision 0011): {unsafe}"
    )


def test_the_static_check_catches_an_index_built_in_the_transaction() -> None:
    bad = """
def upgrade() -> None:
    op.create_index("ix_dossiers_x", "dossiers", ["x"])
    with op.batch_alter_table("dossier_events") as batch_op:
        batch_op.create_index("ix_events_y", ["y"])
    op.execute("CREATE INDEX ix_outbox_z ON outbox (z)")
    op.create_table("fresh", sa.Column("a", sa.Integer()))
    op.create_index("ix_fresh_a", "fresh", ["a"])
"""
    good = """
def upgrade() -> None:
    online.create_index("ix_dossiers_x", "dossiers", ["x"])
"""
    assert unsafe_index_builds(bad) == [
        "ix_dossiers_x on dossiers",
        "ix_events_y on dossier_events",
        "raw SQL on outbox",
    ]
    assert unsafe_index_builds(good) == []
