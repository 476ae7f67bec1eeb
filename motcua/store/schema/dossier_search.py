"""What an officer's text box searches: each dossier's folded applicant name, code and applicant ID, per unit.

`dossier_search` holds, for every dossier and every unit it has been in (its receiving, competent and step
units), one row `(unit_id, dossier_id, search_text)`, where `search_text` is the accent-folded applicant name
(`motcua.domain.text.fold`: lower case, no tone or shape marks, đ → d), the code and the applicant ID in lower
case, separated by U+001F (a character a searched text never holds: `" ".join(text.split())` removes it, so a
search never matches across two fields). `motcua.services.workspace._text_match` searches it: a part of a name,
code or ID is `search_text LIKE '%<folded text>%'` over the rows of the officer's unit, and on PostgreSQL a
trigram GIN index (`pg_trgm`) finds them without reading each of the unit's dossiers (decision 0008).

Database triggers on `dossiers` keep it, whoever writes the dossiers (the lifecycle, `motcua import dossiers`
and its COPY, the benchmark generator, a fix in SQL):
- after an INSERT, one row per distinct unit of the new rows (PostgreSQL: once per statement, from its
  transition table — one set-based insert for a COPY of thousands of rows; SQLite: per row);
- after an UPDATE that changes a unit column, the name, the code or the applicant ID (a row trigger whose WHEN
  clause skips, without a function call, the actions that keep them — all of them in a lifecycle at one unit):
  the rows of the dossier's current units, upserted with the new text (so a renamed dossier's old text stays
  only on the rows of units it has left). On PostgreSQL one trigger, `tr_dossiers_update`, does this and
  `unit_procedures`' part (revision a3c9e5f7b1d2).
The table is written once per dossier, not on each action: every action rewrites the dossier row (no update is
HOT), so an index on `dossiers` itself would get new entries on every action; this one does not.
Rows are removed only with their dossier (a trigger after DELETE; motcua never deletes one): a unit's rows are
a SUPERSET of the dossiers in its scope, and the search joins them back to `dossiers` under the queue's own
scope, so a dossier that has left a unit is not listed there. Every dossier always has the row of its current
step unit (the key a search over a scope without one unit probes: "mine").

The fold is Python's on SQLite (`motcua_fold`, registered on every connection by `motcua.store.db`) and an SQL
port of the same steps on PostgreSQL (`motcua_fold(text)`, IMMUTABLE): NFD, remove the characters Python calls
combining (`unicodedata.combining`, listed below from Python's own tables), đ/Đ → d, lower case, runs of what
Python calls whitespace → one space, trimmed. The same result for Latin script (tests compare them); in other
scripts lower() follows the database's locale.

The same DDL is in the Alembic revisions d8e3f0b2a5c6 and a3c9e5f7b1d2 (migrations are frozen copies; keep
both in step).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
    literal_column,
    text,
)

from motcua.domain.text import fold
from motcua.store.schema import unit_procedures
from motcua.store.schema.base import metadata
from motcua.store.schema.dossiers import dossiers  # noqa: F401  (the table the key and triggers name)

SEPARATOR = "\x1f"  # between the name, the code and the ID: whitespace to str.split(), so never in a search

dossier_search = Table(
    "dossier_search",
    metadata,
    Column("unit_id", String(80), nullable=False),
    # No foreign key: its check costs ≈ 10 µs per row written (a third of the row's cost in a bulk import); the
    # rows are written and removed by the triggers below only.
    Column("dossier_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("search_text", Text, nullable=False),
    # The key carries the text on PostgreSQL (INCLUDE): a unit's rows are then read from the key alone, in
    # order, ≈ 100 to a page (an index-only scan), instead of one table page per row — a unit's rows are
    # spread over the whole table, written as the city's dossiers come. SQLite keeps the row in its key anyway.
    PrimaryKeyConstraint(
        "unit_id", "dossier_id", name="pk_dossier_search", postgresql_include=["search_text"]
    ),
    sqlite_with_rowid=False,
)
# The trigram index, on PostgreSQL. SQLite has no such index: there the same name is an empty partial index
# (`WHERE 0`: no row ever enters it, nothing to keep up), so both databases hold the schema the code declares;
# a search there reads the unit's rows of the primary key (narrow rows, the folded text among them).
Index(
    "ix_dossier_search_trgm",
    dossier_search.c.search_text,
    postgresql_using="gin",
    postgresql_ops={"search_text": "gin_trgm_ops"},
    sqlite_where=literal_column("0"),
)


def search_text(name: str, code: str, applicant_id: str) -> str:
    """The row's `search_text`, as the triggers compute it (tests)."""
    return SEPARATOR.join((fold(name), code.lower(), applicant_id.lower()))


# ---- the SQL port of `fold` for PostgreSQL, its character classes taken from Python's tables


def _class_of(predicate: Any) -> str:
    """A regular-expression bracket of every code point `predicate` accepts, as ranges of \\u/\\U escapes."""
    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        if 0xD800 <= point <= 0xDFFF or not predicate(chr(point)):
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))

    def escape(point: int) -> str:
        return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"

    return "[" + "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in ranges) + "]"


COMBINING_CLASS = _class_of(lambda ch: unicodedata.combining(ch) != 0)
WHITESPACE_CLASS = _class_of(lambda ch: re.fullmatch(r"\s", ch) is not None)

PG_FOLD_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_fold(value text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
    "PARALLEL SAFE AS $$ SELECT btrim(regexp_replace(lower(regexp_replace(translate(normalize(value, NFD), "
    f"'đĐ', 'dd'), E'{COMBINING_CLASS.replace(chr(92), chr(92) * 2)}', '', 'g')), "
    f"E'{WHITESPACE_CLASS.replace(chr(92), chr(92) * 2)}+', ' ', 'g'), ' ') $$"
)

UNIT_COLUMNS = ("receiving_unit_id", "competent_unit_id", "step_unit_id")
_WATCHED = (*UNIT_COLUMNS, "applicant_name", "code", "applicant_id")


def pg_rows(row: str, table: str = "") -> str:
    """`SELECT` of the `dossier_search` rows of the dossier `row` (or of each row of `table` AS `row`): one per
    distinct unit (a repeated unit gives NULL and is left out, so no DISTINCT sort), the text folded once per
    row kept."""
    source = f"{table} {row} CROSS JOIN LATERAL " if table else ""
    return (
        f"SELECT u.unit_id, {row}.id, motcua_fold({row}.applicant_name) || chr(31) || lower({row}.code) "
        f"|| chr(31) || lower({row}.applicant_id) FROM {source}(VALUES ({row}.receiving_unit_id), "
        f"(NULLIF({row}.competent_unit_id, {row}.receiving_unit_id)), (CASE WHEN {row}.step_unit_id "
        f"NOT IN ({row}.receiving_unit_id, {row}.competent_unit_id) THEN {row}.step_unit_id END)) AS u (unit_id) "
        "WHERE u.unit_id IS NOT NULL"
    )


_PG_UPSERT = (
    "INSERT INTO dossier_search (unit_id, dossier_id, search_text) {rows} "
    "ON CONFLICT (unit_id, dossier_id) DO UPDATE SET search_text = excluded.search_text"
)

# ---- PostgreSQL: a statement trigger for INSERT (transition table), a row trigger with WHEN for UPDATE.
PG_INSERTED_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_dossier_search_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + _PG_UPSERT.format(
        rows=pg_rows("n").replace("FROM (VALUES", "FROM new_dossiers n CROSS JOIN LATERAL (VALUES")
    )
    + "; RETURN NULL; END $$"
)
PG_INSERTED_TRIGGER_DDL = (
    "CREATE TRIGGER tr_dossiers_search_insert AFTER INSERT ON dossiers REFERENCING NEW TABLE AS new_dossiers "
    "FOR EACH STATEMENT EXECUTE FUNCTION motcua_dossier_search_inserted()"
)
# The UPDATE: one row trigger for both tables kept from `dossiers` (this one and `unit_procedures`, revision
# a3c9e5f7b1d2). Every action sets `step_unit_id` (unchanged, mostly): two triggers with WHEN clauses cost it
# ≈ 6–9 µs of backend CPU more than one (PostgreSQL 15, loops of 20,000 such updates, alternated, two runs:
# 34.5 → 25.5 and 32.8 → 26.8 µs per update; 11–11.5 without either) — each trigger's WHEN is prepared and
# evaluated per statement. The function then does each table's part only when that table's columns changed.
_CHANGED_CONDITION = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _WATCHED)
_UPDATE_WATCHED = tuple(dict.fromkeys((*unit_procedures.WATCHED, *_WATCHED)))
PG_UPDATED_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_dossiers_updated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF {unit_procedures.PG_MOVED_CONDITION} THEN {unit_procedures.PG_MOVED_STATEMENT}; END IF; "
    f"IF {_CHANGED_CONDITION} THEN {_PG_UPSERT.format(rows=pg_rows('NEW'))}; END IF; "
    "RETURN NULL; END $$"
)
PG_UPDATED_TRIGGER_DDL = (
    f"CREATE TRIGGER tr_dossiers_update AFTER UPDATE OF {', '.join(_UPDATE_WATCHED)} ON dossiers "
    f"FOR EACH ROW WHEN ({' OR '.join(f'OLD.{c} IS DISTINCT FROM NEW.{c}' for c in _UPDATE_WATCHED)}) "
    "EXECUTE FUNCTION motcua_dossiers_updated()"
)

# A dossier deleted (never by motcua: a fix in SQL, the tests) takes its rows along: once per statement, one
# pass over the table (no index on `dossier_id`: it would cost every insert for what never happens).
PG_DELETED_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_dossier_search_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "DELETE FROM dossier_search s USING old_dossiers o WHERE s.dossier_id = o.id; RETURN NULL; END $$"
)
PG_DELETED_TRIGGER_DDL = (
    "CREATE TRIGGER tr_dossiers_search_delete AFTER DELETE ON dossiers REFERENCING OLD TABLE AS old_dossiers "
    "FOR EACH STATEMENT EXECUTE FUNCTION motcua_dossier_search_deleted()"
)

# ---- SQLite: row triggers; `motcua_fold` is the Python function every connection registers.
_SQLITE_UPSERT = (
    "INSERT INTO dossier_search (unit_id, dossier_id, search_text) SELECT u, NEW.id, "
    "motcua_fold(NEW.applicant_name) || char(31) || lower(NEW.code) || char(31) || lower(NEW.applicant_id) "
    "FROM (SELECT NEW.receiving_unit_id AS u UNION SELECT "
    "NEW.competent_unit_id UNION SELECT NEW.step_unit_id) WHERE true "
    "ON CONFLICT (unit_id, dossier_id) DO UPDATE SET search_text = excluded.search_text;"
)
SQLITE_INSERTED_TRIGGER_DDL = (
    f"CREATE TRIGGER tr_dossiers_search_insert AFTER INSERT ON dossiers BEGIN {_SQLITE_UPSERT} END"
)
SQLITE_DELETED_TRIGGER_DDL = (
    "CREATE TRIGGER tr_dossiers_search_delete AFTER DELETE ON dossiers BEGIN "
    "DELETE FROM dossier_search WHERE dossier_id = OLD.id; END"
)
SQLITE_CHANGED_TRIGGER_DDL = (
    f"CREATE TRIGGER tr_dossiers_search_update AFTER UPDATE OF {', '.join(_WATCHED)} ON dossiers "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in _WATCHED)} BEGIN {_SQLITE_UPSERT} END"
)


def ddl(dialect: str) -> tuple[str, ...]:
    """The statements that create the fold function (PostgreSQL) and the triggers on `dialect`."""
    if dialect == "sqlite":
        return (SQLITE_INSERTED_TRIGGER_DDL, SQLITE_CHANGED_TRIGGER_DDL, SQLITE_DELETED_TRIGGER_DDL)
    if dialect == "postgresql":
        return (
            PG_FOLD_FUNCTION_DDL,
            PG_INSERTED_FUNCTION_DDL,
            PG_INSERTED_TRIGGER_DDL,
            PG_UPDATED_FUNCTION_DDL,
            PG_UPDATED_TRIGGER_DDL,
            PG_DELETED_FUNCTION_DDL,
            PG_DELETED_TRIGGER_DDL,
        )
    return ()


def _create_extension(target: Table, connection: Connection, **_: Any) -> None:
    """Before `dossier_search` is created — by `create_all`, or by an Alembic `op.create_table` (an autogenerated
    revision too, which knows nothing of extensions): its trigram index needs pg_trgm (contrib, a trusted
    extension). Listened on every Table, since Alembic creates its own Table object."""
    if target.name == dossier_search.name and connection.dialect.name == "postgresql":
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))


def _install(target: Table, connection: Connection, **_: Any) -> None:
    """After `create_all` made `dossier_search` (the trigger bodies name it; `dossiers` exists before it)."""
    for statement in ddl(connection.dialect.name):
        connection.execute(text(statement))


event.listen(Table, "before_create", _create_extension)
event.listen(dossier_search, "after_create", _install)
