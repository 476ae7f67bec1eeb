"""name search: accent-folded search rows per unit, a trigram index (pg_trgm)

Revision ID: d8e3f0b2a5c6
Revises: c7d2e9a1f4b3
Create Date: 2026-12-06 10:30:00+07:00

An officer's text box searched a part of a name, code or ID by checking every dossier of the unit (327 + 378 ms
for a unit's "all" at 10 million dossiers), and accent-sensitively. `dossier_search` holds one row per dossier
and unit it has been in, with its folded name, code and ID: a unit's search reads its rows from the primary key,
which carries the text (INCLUDE, PostgreSQL), and a city-wide search the trigram GIN index (pg_trgm)
(`motcua/store/schema/dossier_search.py` says how, docs/decisions/0008-name-search.md why).
- PostgreSQL: `CREATE EXTENSION IF NOT EXISTS pg_trgm` (contrib; a trusted extension, so the database owner
  may create it), the IMMUTABLE function `motcua_fold(text)` (an SQL port of `motcua.domain.text.fold`), the
  table, its triggers on `dossiers`, committed first (a moment's lock on `dossiers`; every write after that
  keeps the table), a backfill by ranges of dossier ids, each its own short transaction that keeps what a
  trigger wrote meanwhile, then the GIN index built CONCURRENTLY once over the backfilled rows (faster than
  kept up row by row). Writers never wait for the backfill or the build (decision 0011).
- SQLite: the table, its row triggers (they call `motcua_fold`, the Python fold every motcua connection
  registers in `motcua.store.db`: a connection without it cannot insert dossiers), the backfill.
Time: at 834,500 dossiers (a scratch city on the benchmark machine, PostgreSQL 15, shared with other
work) 22.5 s of PostgreSQL CPU, 27 s wall: about 5 minutes expected at 10 million dossiers (linear; the GIN
build grows a little faster), writing ≈ 2–3 GB of WAL.
Killed halfway, the next upgrade runs it again (an INVALID index left by a killed build is rebuilt). The
downgrade leaves the pg_trgm extension.
The DDL is a copy of the schema module's as it was (a revision must not change when the code does).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from motcua.store import online_migrations as online

# revision identifiers, used by Alembic.
revision: str = "d8e3f0b2a5c6"
down_revision: str | Sequence[str] | None = "c7d2e9a1f4b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_FOLD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION motcua_fold(value text) RETURNS text LANGUAGE sql IMMUTABLE STRIC"
    "T PARALLEL SAFE AS $$ SELECT btrim(regexp_replace(lower(regexp_replace(translate(normalize(v"
    "alue, NFD), 'đĐ', 'dd'), E'[\\\\u0300-\\\\u034e\\\\u0350-\\\\u036f\\\\u0483-\\\\u0487\\\\u0591-\\\\u05bd\\\\u0"
    "5bf\\\\u05c1-\\\\u05c2\\\\u05c4-\\\\u05c5\\\\u05c7\\\\u0610-\\\\u061a\\\\u064b-\\\\u065f\\\\u0670\\\\u06d6-\\\\u06dc"
    "\\\\u06df-\\\\u06e4\\\\u06e7-\\\\u06e8\\\\u06ea-\\\\u06ed\\\\u0711\\\\u0730-\\\\u074a\\\\u07eb-\\\\u07f3\\\\u07fd\\\\u"
    "0816-\\\\u0819\\\\u081b-\\\\u0823\\\\u0825-\\\\u0827\\\\u0829-\\\\u082d\\\\u0859-\\\\u085b\\\\u0898-\\\\u089f\\\\u08"
    "ca-\\\\u08e1\\\\u08e3-\\\\u08ff\\\\u093c\\\\u094d\\\\u0951-\\\\u0954\\\\u09bc\\\\u09cd\\\\u09fe\\\\u0a3c\\\\u0a4d\\\\u"
    "0abc\\\\u0acd\\\\u0b3c\\\\u0b4d\\\\u0bcd\\\\u0c3c\\\\u0c4d\\\\u0c55-\\\\u0c56\\\\u0cbc\\\\u0ccd\\\\u0d3b-\\\\u0d3c\\\\"
    "u0d4d\\\\u0dca\\\\u0e38-\\\\u0e3a\\\\u0e48-\\\\u0e4b\\\\u0eb8-\\\\u0eba\\\\u0ec8-\\\\u0ecb\\\\u0f18-\\\\u0f19\\\\u0f"
    "35\\\\u0f37\\\\u0f39\\\\u0f71-\\\\u0f72\\\\u0f74\\\\u0f7a-\\\\u0f7d\\\\u0f80\\\\u0f82-\\\\u0f84\\\\u0f86-\\\\u0f87\\\\"
    "u0fc6\\\\u1037\\\\u1039-\\\\u103a\\\\u108d\\\\u135d-\\\\u135f\\\\u1714-\\\\u1715\\\\u1734\\\\u17d2\\\\u17dd\\\\u18a9"
    "\\\\u1939-\\\\u193b\\\\u1a17-\\\\u1a18\\\\u1a60\\\\u1a75-\\\\u1a7c\\\\u1a7f\\\\u1ab0-\\\\u1abd\\\\u1abf-\\\\u1ace\\\\u"
    "1b34\\\\u1b44\\\\u1b6b-\\\\u1b73\\\\u1baa-\\\\u1bab\\\\u1be6\\\\u1bf2-\\\\u1bf3\\\\u1c37\\\\u1cd0-\\\\u1cd2\\\\u1cd4"
    "-\\\\u1ce0\\\\u1ce2-\\\\u1ce8\\\\u1ced\\\\u1cf4\\\\u1cf8-\\\\u1cf9\\\\u1dc0-\\\\u1dff\\\\u20d0-\\\\u20dc\\\\u20e1\\\\u"
    "20e5-\\\\u20f0\\\\u2cef-\\\\u2cf1\\\\u2d7f\\\\u2de0-\\\\u2dff\\\\u302a-\\\\u302f\\\\u3099-\\\\u309a\\\\ua66f\\\\ua67"
    "4-\\\\ua67d\\\\ua69e-\\\\ua69f\\\\ua6f0-\\\\ua6f1\\\\ua806\\\\ua82c\\\\ua8c4\\\\ua8e0-\\\\ua8f1\\\\ua92b-\\\\ua92d\\\\"
    "ua953\\\\ua9b3\\\\ua9c0\\\\uaab0\\\\uaab2-\\\\uaab4\\\\uaab7-\\\\uaab8\\\\uaabe-\\\\uaabf\\\\uaac1\\\\uaaf6\\\\uabed"
    "\\\\ufb1e\\\\ufe20-\\\\ufe2f\\\\U000101fd\\\\U000102e0\\\\U00010376-\\\\U0001037a\\\\U00010a0d\\\\U00010a0f\\\\U"
    "00010a38-\\\\U00010a3a\\\\U00010a3f\\\\U00010ae5-\\\\U00010ae6\\\\U00010d24-\\\\U00010d27\\\\U00010eab-\\\\U"
    "00010eac\\\\U00010f46-\\\\U00010f50\\\\U00010f82-\\\\U00010f85\\\\U00011046\\\\U00011070\\\\U0001107f\\\\U00"
    "0110b9-\\\\U000110ba\\\\U00011100-\\\\U00011102\\\\U00011133-\\\\U00011134\\\\U00011173\\\\U000111c0\\\\U000"
    "111ca\\\\U00011235-\\\\U00011236\\\\U000112e9-\\\\U000112ea\\\\U0001133b-\\\\U0001133c\\\\U0001134d\\\\U0001"
    "1366-\\\\U0001136c\\\\U00011370-\\\\U00011374\\\\U00011442\\\\U00011446\\\\U0001145e\\\\U000114c2-\\\\U00011"
    "4c3\\\\U000115bf-\\\\U000115c0\\\\U0001163f\\\\U000116b6-\\\\U000116b7\\\\U0001172b\\\\U00011839-\\\\U000118"
    "3a\\\\U0001193d-\\\\U0001193e\\\\U00011943\\\\U000119e0\\\\U00011a34\\\\U00011a47\\\\U00011a99\\\\U00011c3f\\"
    "\\U00011d42\\\\U00011d44-\\\\U00011d45\\\\U00011d97\\\\U00016af0-\\\\U00016af4\\\\U00016b30-\\\\U00016b36\\\\"
    "U00016ff0-\\\\U00016ff1\\\\U0001bc9e\\\\U0001d165-\\\\U0001d169\\\\U0001d16d-\\\\U0001d172\\\\U0001d17b-\\\\"
    "U0001d182\\\\U0001d185-\\\\U0001d18b\\\\U0001d1aa-\\\\U0001d1ad\\\\U0001d242-\\\\U0001d244\\\\U0001e000-\\\\"
    "U0001e006\\\\U0001e008-\\\\U0001e018\\\\U0001e01b-\\\\U0001e021\\\\U0001e023-\\\\U0001e024\\\\U0001e026-\\\\"
    "U0001e02a\\\\U0001e130-\\\\U0001e136\\\\U0001e2ae\\\\U0001e2ec-\\\\U0001e2ef\\\\U0001e8d0-\\\\U0001e8d6\\\\U"
    "0001e944-\\\\U0001e94a]', '', 'g')), E'[\\\\u0009-\\\\u000d\\\\u001c-\\\\u0020\\\\u0085\\\\u00a0\\\\u1680\\\\u"
    "2000-\\\\u200a\\\\u2028-\\\\u2029\\\\u202f\\\\u205f\\\\u3000]+', ' ', 'g'), ' ') $$"
)
_PG_INSERTED_FUNCTION = (
    "CREATE OR REPLACE FUNCTION motcua_dossier_search_inserted() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN INSERT INTO dossier_search (unit_id, dossier_id, search_text) SELECT u.unit_id,"
    " n.id, motcua_fold(n.applicant_name) || chr(31) || lower(n.code) || chr(31) || lower(n.appli"
    "cant_id) FROM new_dossiers n CROSS JOIN LATERAL (VALUES (n.receiving_unit_id), (NULLIF(n.com"
    "petent_unit_id, n.receiving_unit_id)), (CASE WHEN n.step_unit_id NOT IN (n.receiving_unit_id"
    ", n.competent_unit_id) THEN n.step_unit_id END)) AS u (unit_id) WHERE u.unit_id IS NOT NULL "
    "ON CONFLICT (unit_id, dossier_id) DO UPDATE SET search_text = excluded.search_text; RETURN N"
    "ULL; END $$"
)
_PG_INSERTED_TRIGGER = (
    "CREATE TRIGGER tr_dossiers_search_insert AFTER INSERT ON dossiers REFERENCING NEW TABLE AS n"
    "ew_dossiers FOR EACH STATEMENT EXECUTE FUNCTION motcua_dossier_search_inserted()"
)
_PG_CHANGED_FUNCTION = (
    "CREATE OR REPLACE FUNCTION motcua_dossier_search_changed() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN INSERT INTO dossier_search (unit_id, dossier_id, search_text) SELECT u.unit_id, "
    "NEW.id, motcua_fold(NEW.applicant_name) || chr(31) || lower(NEW.code) || chr(31) || lower(NE"
    "W.applicant_id) FROM (VALUES (NEW.receiving_unit_id), (NULLIF(NEW.competent_unit_id, NEW.rec"
    "eiving_unit_id)), (CASE WHEN NEW.step_unit_id NOT IN (NEW.receiving_unit_id, NEW.competent_u"
    "nit_id) THEN NEW.step_unit_id END)) AS u (unit_id) WHERE u.unit_id IS NOT NULL ON CONFLICT ("
    "unit_id, dossier_id) DO UPDATE SET search_text = excluded.search_text; RETURN NULL; END $$"
)
_PG_CHANGED_TRIGGER = (
    "CREATE TRIGGER tr_dossiers_search_update AFTER UPDATE OF receiving_unit_id, competent_unit_i"
    "d, step_unit_id, applicant_name, code, applicant_id ON dossiers FOR EACH ROW WHEN (OLD.recei"
    "ving_unit_id IS DISTINCT FROM NEW.receiving_unit_id OR OLD.competent_unit_id IS DISTINCT FRO"
    "M NEW.competent_unit_id OR OLD.step_unit_id IS DISTINCT FROM NEW.step_unit_id OR OLD.applica"
    "nt_name IS DISTINCT FROM NEW.applicant_name OR OLD.code IS DISTINCT FROM NEW.code OR OLD.app"
    "licant_id IS DISTINCT FROM NEW.applicant_id) EXECUTE FUNCTION motcua_dossier_search_changed("
    ")"
)
_PG_DELETED_FUNCTION = (
    "CREATE OR REPLACE FUNCTION motcua_dossier_search_deleted() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN DELETE FROM dossier_search s USING old_dossiers o WHERE s.dossier_id = o.id; RET"
    "URN NULL; END $$"
)
_PG_DELETED_TRIGGER = (
    "CREATE TRIGGER tr_dossiers_search_delete AFTER DELETE ON dossiers REFERENCING OLD TABLE AS o"
    "ld_dossiers FOR EACH STATEMENT EXECUTE FUNCTION motcua_dossier_search_deleted()"
)
_SQLITE_INSERTED_TRIGGER = (
    "CREATE TRIGGER tr_dossiers_search_insert AFTER INSERT ON dossiers BEGIN INSERT INTO dossier_"
    "search (unit_id, dossier_id, search_text) SELECT u, NEW.id, motcua_fold(NEW.applicant_name) "
    "|| char(31) || lower(NEW.code) || char(31) || lower(NEW.applicant_id) FROM (SELECT NEW.recei"
    "ving_unit_id AS u UNION SELECT NEW.competent_unit_id UNION SELECT NEW.step_unit_id) WHERE tr"
    "ue ON CONFLICT (unit_id, dossier_id) DO UPDATE SET search_text = excluded.search_text; END"
)
_SQLITE_CHANGED_TRIGGER = (
    "CREATE TRIGGER tr_dossiers_search_update AFTER UPDATE OF receiving_unit_id, competent_unit_i"
    "d, step_unit_id, applicant_name, code, applicant_id ON dossiers WHEN OLD.receiving_unit_id I"
    "S NOT NEW.receiving_unit_id OR OLD.competent_unit_id IS NOT NEW.competent_unit_id OR OLD.ste"
    "p_unit_id IS NOT NEW.step_unit_id OR OLD.applicant_name IS NOT NEW.applicant_name OR OLD.cod"
    "e IS NOT NEW.code OR OLD.applicant_id IS NOT NEW.applicant_id BEGIN INSERT INTO dossier_sear"
    "ch (unit_id, dossier_id, search_text) SELECT u, NEW.id, motcua_fold(NEW.applicant_name) || c"
    "har(31) || lower(NEW.code) || char(31) || lower(NEW.applicant_id) FROM (SELECT NEW.receiving"
    "_unit_id AS u UNION SELECT NEW.competent_unit_id UNION SELECT NEW.step_unit_id) WHERE true O"
    "N CONFLICT (unit_id, dossier_id) DO UPDATE SET search_text = excluded.search_text; END"
)
_SQLITE_DELETED_TRIGGER = (
    "CREATE TRIGGER tr_dossiers_search_delete AFTER DELETE ON dossiers BEGIN DELETE FROM dossier_"
    "search WHERE dossier_id = OLD.id; END"
)
_PG_BACKFILL = (
    "INSERT INTO dossier_search (unit_id, dossier_id, search_text) SELECT u.unit_id, d.id, motcua"
    "_fold(d.applicant_name) || chr(31) || lower(d.code) || chr(31) || lower(d.applicant_id) FROM"
    " dossiers d CROSS JOIN LATERAL (VALUES (d.receiving_unit_id), (NULLIF(d.competent_unit_id, d"
    ".receiving_unit_id)), (CASE WHEN d.step_unit_id NOT IN (d.receiving_unit_id, d.competent_uni"
    "t_id) THEN d.step_unit_id END)) AS u (unit_id) WHERE u.unit_id IS NOT NULL"
)
# PostgreSQL, online (decision 0011): the same per range of dossier ids, each range its own transaction, after the
# triggers. A row a trigger wrote meanwhile is kept: it is never older than the batch's snapshot of the dossier.
_PG_BACKFILL_BATCH = (
    _PG_BACKFILL + " AND d.id > :low AND d.id <= :high ON CONFLICT (unit_id, dossier_id) DO NOTHING"
)
_SQLITE_BACKFILL = (
    "INSERT INTO dossier_search (unit_id, dossier_id, search_text) SELECT unit_id, id, "
    "motcua_fold(applicant_name) || char(31) || lower(code) || char(31) || lower(applicant_id) FROM ("
    "SELECT receiving_unit_id AS unit_id, id, applicant_name, code, applicant_id FROM dossiers "
    "UNION SELECT competent_unit_id, id, applicant_name, code, applicant_id FROM dossiers "
    "UNION SELECT step_unit_id, id, applicant_name, code, applicant_id FROM dossiers)"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    again = True if dialect == "postgresql" else None  # PostgreSQL: the revision may run again after a kill
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(_PG_FOLD_FUNCTION)
    op.create_table(
        "dossier_search",
        sa.Column("unit_id", sa.String(length=80), nullable=False),
        sa.Column("dossier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "unit_id", "dossier_id", name=op.f("pk_dossier_search"), postgresql_include=["search_text"]
        ),
        sqlite_with_rowid=False,
        if_not_exists=again,
    )
    if dialect == "postgresql":
        for trigger in (
            "tr_dossiers_search_insert",
            "tr_dossiers_search_update",
            "tr_dossiers_search_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON dossiers")  # left by an interrupted run
        for statement in (
            _PG_INSERTED_FUNCTION,
            _PG_INSERTED_TRIGGER,
            _PG_CHANGED_FUNCTION,
            _PG_CHANGED_TRIGGER,
            _PG_DELETED_FUNCTION,
            _PG_DELETED_TRIGGER,
        ):
            op.execute(statement)
        online.backfill("dossier_search", _PG_BACKFILL_BATCH)  # commits the table and triggers first
        online.create_index(  # CONCURRENTLY, once over the backfilled rows
            "ix_dossier_search_trgm",
            "dossier_search",
            ["search_text"],
            maintenance_work_mem="512MB",  # the build sorts in memory, not on disk
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )
    elif dialect == "sqlite":
        op.create_index(
            "ix_dossier_search_trgm", "dossier_search", ["search_text"], sqlite_where=sa.literal_column("0")
        )
        for statement in (
            _SQLITE_INSERTED_TRIGGER,
            _SQLITE_CHANGED_TRIGGER,
            _SQLITE_DELETED_TRIGGER,
            _SQLITE_BACKFILL,
        ):
            op.execute(statement)


def downgrade() -> None:
    on_dossiers = " ON dossiers" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"DROP TRIGGER IF EXISTS tr_dossiers_search_delete{on_dossiers}")
    op.execute(f"DROP TRIGGER IF EXISTS tr_dossiers_search_update{on_dossiers}")
    op.execute(f"DROP TRIGGER IF EXISTS tr_dossiers_search_insert{on_dossiers}")
    op.drop_table("dossier_search")  # and its index
    if on_dossiers:
        op.execute("DROP FUNCTION IF EXISTS motcua_dossier_search_deleted()")
        op.execute("DROP FUNCTION IF EXISTS motcua_dossier_search_changed()")
        op.execute("DROP FUNCTION IF EXISTS motcua_dossier_search_inserted()")
        op.execute("DROP FUNCTION IF EXISTS motcua_fold(text)")
