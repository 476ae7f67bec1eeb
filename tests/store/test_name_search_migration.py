"""Revision d8e3f0b2a5c6 backfills `dossier_search` from the dossiers already stored, and can be undone."""

from __future__ import annotations

from alembic import command
from sqlalchemy import insert, inspect, select

from motcua.store.db import Database
from motcua.store.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from motcua.store.schema.dossier_search import dossier_search, search_text
from motcua.store.schema.dossiers import dossiers
from tests.services.test_name_search import OTHER, UNIT, _row


def test_the_name_search_revision_backfills_and_downgrades(empty_db: Database) -> None:
    url = empty_db.engine.url.render_as_string(hide_password=False)
    upgrade(url, "f3b8d1e6a4c7")
    rows = [
        _row(1, "Nguyễn Thị Mai"),
        _row(2, "  Đặng  VĂN Ánh ", competent_unit_id=OTHER),
        _row(3, "Lê Văn Tám", receiving_unit_id=OTHER, competent_unit_id=OTHER),
    ]
    with empty_db.transaction() as conn:
        conn.execute(insert(dossiers), rows)
    upgrade(url, "d8e3f0b2a5c6")
    with empty_db.transaction() as conn:
        stored = set(conn.execute(select(dossier_search.c.unit_id, dossier_search.c.search_text)).all())
        conn.execute(insert(dossiers), [_row(4, "Phạm Thị Hoa")])  # the triggers are in place
        added = conn.execute(
            select(dossier_search.c.unit_id).where(dossier_search.c.search_text.like("pham%"))
        )
        assert added.scalars().all() == [UNIT]
    texts = [search_text(r["applicant_name"], r["code"], r["applicant_id"]) for r in rows]
    assert stored == {
        (UNIT, texts[0]),
        (UNIT, texts[1]),
        (OTHER, texts[1]),
        (OTHER, texts[2]),
        (UNIT, texts[2]),
    }
    command.downgrade(alembic_config(url, migrations=MIGRATIONS_DIR), "f3b8d1e6a4c7")
    with empty_db.read() as conn:
        assert "dossier_search" not in inspect(conn).get_table_names()
    with empty_db.transaction() as conn:  # no trigger left behind
        conn.execute(insert(dossiers), [_row(5, "Võ Văn Kiệt")])
