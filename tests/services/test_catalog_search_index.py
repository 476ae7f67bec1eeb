"""The catalog search from the in-memory snapshot (`catalog.catalog_snapshot`) answers exactly as the SQL search
it replaced — kept below as `old_search` — on both databases, and every change of the catalog shows at once:
a city administrator's online level, a city layer reload, a national re-import, in this process and in
another one (another engine), never a change that was rolled back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, and_, case, false, func, inspect, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from motcua.domain.catalog import OnlineLevel, search_key
from motcua.domain.clock import FixedClock
from motcua.domain.lifecycle import Actor, ActorKind, Role
from motcua.services import admin
from motcua.services.catalog import (
    LEVEL_KEYS,
    catalog_snapshot,
    import_national,
    import_national_file,
    list_fields,
    search_procedures,
)
from motcua.services.life_events import life_event_counts, procedures_for_life_event
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.migrate import alembic_config, upgrade
from motcua.store.schema.catalog import city_procedures, procedures
from motcua.store.schema.catalog_version import catalog_version
from tests.services.test_catalog import (
    LATER,
    NOW,
    SAMPLE,
    edited_layer,
    load_fixture_layer,
)

# --------------------------------------------------------------------------------------------------------
# The SQL search as it was before the snapshot (motcua/services/catalog.py at 7b6db3d), the reference.
# --------------------------------------------------------------------------------------------------------

_ONLINE = (OnlineLevel.FULL.value, OnlineLevel.PARTIAL.value)
_CODE_PREFIX = re.compile(r"^[0-9.]+$")


def _catalog_join() -> Any:
    return procedures.outerjoin(
        city_procedures,
        and_(city_procedures.c.code == procedures.c.code, city_procedures.c.is_current.is_(True)),
    )


def _words_match(column: Any, words: list[str]) -> ColumnElement[bool]:
    padded = literal(" ") + column
    return and_(*(padded.contains(" " + word, autoescape=True) for word in words))


def _old_conditions(
    q: str | None, field: str | None, level: str | None, online_only: bool, ministry: str | None
) -> list[ColumnElement[bool]]:
    p, cp = procedures, city_procedures
    conditions: list[ColumnElement[bool]] = [p.c.is_current.is_(True)]
    text = (q or "").strip()
    words = search_key(text).split()
    if text:
        matches = []
        if words:
            matches += [_words_match(p.c.name_folded, words), _words_match(cp.c.name_folded, words)]
        if _CODE_PREFIX.match(text):
            matches.append(p.c.code.startswith(text, autoescape=True))
        conditions.append(or_(*matches) if matches else false())
    if field:
        conditions.append(p.c.field == field)
    if ministry:
        conditions.append(p.c.ministry == ministry)
    if level:
        national_level = and_(cp.c.level.is_(None), p.c.level_keys.contains(f"|{level}|"))
        conditions.append(or_(cp.c.level == level, national_level))
    if online_only:
        conditions.append(cp.c.online.in_(_ONLINE))
    return conditions


def _old_phrase_rank(phrase: str) -> Any:
    if not phrase:
        return literal(0)
    names = (procedures.c.name_folded, city_procedures.c.name_folded)
    starts = [
        name.startswith(prefix, autoescape=True) for name in names for prefix in (phrase, f"thu tuc {phrase}")
    ]
    holds = [(literal(" ") + name).contains(" " + phrase, autoescape=True) for name in names]
    return case((or_(*starts), 0), (or_(*holds), 1), else_=2)


def old_search(
    conn: Connection,
    *,
    q: str | None = None,
    field: str | None = None,
    level: str | None = None,
    online_only: bool = False,
    ministry: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[tuple[str, str | None]], int]:
    """(code, online) of the page, and the total."""
    p, cp = procedures, city_procedures
    conditions = _old_conditions(q, field, level, online_only, ministry)
    total = conn.execute(select(func.count()).select_from(_catalog_join()).where(*conditions)).scalar_one()
    online_rank = case(
        (cp.c.online == OnlineLevel.FULL.value, 0), (cp.c.online == OnlineLevel.PARTIAL.value, 1), else_=2
    )
    rows = conn.execute(
        select(p.c.code, cp.c.online)
        .select_from(_catalog_join())
        .where(*conditions)
        .order_by(
            online_rank,
            _old_phrase_rank(search_key(q or "")),
            func.coalesce(cp.c.name_folded, p.c.name_folded),
            p.c.code,
        )
        .limit(limit)
        .offset(offset)
    )
    return [(row.code, row.online) for row in rows], int(total)


def new_search(conn: Connection, **kwargs: Any) -> tuple[list[tuple[str, str | None]], int]:
    items, total = search_procedures(conn, **kwargs)
    return [(item["code"], item["online"]) for item in items], total


# --------------------------------------------------------------------------------------------------------
# The same answers as before
# --------------------------------------------------------------------------------------------------------

QUERIES: list[dict[str, Any]] = [
    {"q": "khai sinh"},
    {"q": "Đăng ký khai sinh"},
    {"q": "dang ky kinh doanh"},
    {"q": "cap doi can cuoc"},
    {"q": "  CẤP   đổi  "},
    {"q": "thu tuc"},
    {"q": "ket hon", "limit": 100},
    {"q": "giay phep lai xe"},
    {"q": "c"},
    {"q": "d", "limit": 100, "offset": 100},
    {"q": "1.00"},
    {"q": "1.001193"},
    {"q": "2."},
    {"q": "1", "limit": 100},
    {"q": "..."},
    {"q": "!!!"},
    {"q": "100%_"},
    {"q": "khong co thu tuc nao nhu the"},
    {"q": ""},
    {},
    {"limit": 100, "offset": 2600},
    {"field": "Hộ tịch", "limit": 100},
    {"field": "Hộ tịch", "q": "dang ky"},
    {"field": "không có lĩnh vực này"},
    {"level": "xa", "limit": 50},
    {"level": "tinh", "q": "giay phep"},
    {"level": "bo", "q": "cap"},
    {"level": "khac"},
    {"online_only": True, "limit": 100},
    {"online_only": True, "q": "dang ky"},
    {"ministry": "Bộ Tư pháp", "q": "chung thuc"},
    {"q": "dang ky", "level": "xa", "online_only": True, "offset": 3},
]


@pytest.fixture
def seeded(seeded_db: Database) -> Iterator[Connection]:
    with seeded_db.read() as conn:
        yield conn


def test_the_search_answers_as_the_sql_search_did(seeded: Connection) -> None:
    for query in QUERIES:
        assert new_search(seeded, **query) == old_search(seeded, **query), query
    # and the typical queries of the issue find what a citizen expects first
    assert "1.001193" in [code for code, _ in new_search(seeded, q="khai sinh")[0]]


@pytest.fixture
def vocabulary(seeded_db: Database) -> dict[str, list[str]]:
    """Words (with their diacritics), codes and fields of the seeded catalog, to build queries from."""
    with seeded_db.read() as conn:
        rows = conn.execute(select(procedures.c.name, procedures.c.code, procedures.c.field)).all()
    words = sorted({word for row in rows for word in re.findall(r"\w+", row.name)})
    return {
        "words": words,
        "codes": sorted({row.code for row in rows}),
        "fields": sorted({row.field for row in rows if row.field}),
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_query_answers_as_the_sql_search_did(
    seeded_db: Database, vocabulary: dict[str, list[str]], data: st.DataObject
) -> None:
    word = st.sampled_from(vocabulary["words"])
    prefix = st.builds(lambda w, n: w[: max(1, n)], word, st.integers(1, 8))
    code_prefix = st.builds(lambda c, n: c[:n], st.sampled_from(vocabulary["codes"]), st.integers(1, 8))
    q = st.one_of(
        st.none(),
        st.lists(st.one_of(word, prefix, word.map(search_key)), min_size=1, max_size=4).map(" ".join),
        code_prefix,
        st.text(alphabet="ađêô .%_-1", max_size=6),
    )
    query = {
        "q": data.draw(q, label="q"),
        "field": data.draw(st.one_of(st.none(), st.sampled_from(vocabulary["fields"])), label="field"),
        "level": data.draw(st.one_of(st.none(), st.sampled_from(sorted(LEVEL_KEYS.values()))), label="level"),
        "online_only": data.draw(st.booleans(), label="online_only"),
        "limit": data.draw(st.sampled_from([1, 20, 100]), label="limit"),
        "offset": data.draw(st.sampled_from([0, 0, 5, 20]), label="offset"),
    }
    with seeded_db.read() as conn:
        assert new_search(conn, **query) == old_search(conn, **query)


def test_items_are_copies_the_caller_may_change(seeded: Connection) -> None:
    items, _ = search_procedures(seeded, q="khai sinh")
    first = items[0]
    first["name"] = "đổi"
    first["levels"].append("đổi")
    first["time"]["text"] = "đổi"
    again, _ = search_procedures(seeded, q="khai sinh")
    assert again[0]["name"] != "đổi" and "đổi" not in again[0]["levels"] and again[0]["time"]["text"] != "đổi"


# --------------------------------------------------------------------------------------------------------
# Every change shows at once
# --------------------------------------------------------------------------------------------------------

CITY_ADMIN = Actor(
    id="tp.quantri",
    kind=ActorKind.OFFICER,
    roles=frozenset({Role.CITY_ADMIN}),
    unit_id="thanh-pho-ho-chi-minh",
    name="Phan Văn Uy",
)


def _online_of(db: Database, code: str, q: str) -> str | None:
    with db.read() as conn:
        items, _ = search_procedures(conn, q=q, limit=100)
    return next(item["online"] for item in items if item["code"] == code)


def test_a_city_admin_change_shows_at_once_here_and_in_another_process(
    seeded_db: Database, clock: FixedClock
) -> None:
    other = Database(seeded_db.engine.url.render_as_string(hide_password=False))  # another process's engine
    try:
        assert _online_of(seeded_db, "1.001193", "khai sinh") == "toan_trinh"
        assert _online_of(other, "1.001193", "khai sinh") == "toan_trinh"
        admin.set_online_level(Runtime(db=seeded_db, clock=clock), CITY_ADMIN, "1.001193", "khong")
        assert _online_of(seeded_db, "1.001193", "khai sinh") == "khong"
        assert _online_of(other, "1.001193", "khai sinh") == "khong"
        with other.read() as conn:
            assert new_search(conn, q="khai sinh") == old_search(conn, q="khai sinh")
            assert new_search(conn, online_only=True, limit=100) == old_search(
                conn, online_only=True, limit=100
            )
    finally:
        other.dispose()


@pytest.fixture
def sample_db(db: Database) -> Database:
    """Both databases, with the seven sample national records and the fixture HCMC layer."""
    with db.transaction() as conn:
        import_national_file(conn, SAMPLE, now=NOW)
        load_fixture_layer(conn)
    return db


def _names(db: Database, q: str) -> list[str]:
    with db.read() as conn:
        return [item["name"] for item in search_procedures(conn, q=q)[0]]


def test_a_reloaded_city_layer_shows_in_the_search_fields_and_life_events(
    sample_db: Database, tmp_path: Any
) -> None:
    with sample_db.read() as conn:
        assert life_event_counts(conn) == {"cu-tru": 1, "sinh-con": 1}
        assert procedures_for_life_event(conn, "sinh-con")[1] == 1
    assert _names(sample_db, "khai sinh tre em") == []

    def rename_birth(data: dict[str, Any]) -> None:
        entry = data["procedures"][0]
        entry.update(name="Đăng ký khai sinh cho trẻ em", life_events=["cu-tru"])

    with sample_db.transaction() as conn:
        load_fixture_layer(conn, edited_layer(tmp_path, rename_birth), now=LATER)
    assert _names(sample_db, "khai sinh tre em") == ["Đăng ký khai sinh cho trẻ em"]
    with sample_db.read() as conn:
        assert life_event_counts(conn) == {"cu-tru": 2}
        assert procedures_for_life_event(conn, "sinh-con") == ([], 0)
        for query in QUERIES:
            assert new_search(conn, **query) == old_search(conn, **query), query


def test_a_reimported_national_catalog_shows_in_the_search_and_the_fields(sample_db: Database) -> None:
    assert _names(sample_db, "ket hon") == ["Thủ tục đăng ký kết hôn"]
    lines = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["code"] == "1.000894":
            record.update(name="Thủ tục đăng ký kết hôn có yếu tố nước ngoài", field="Hôn nhân")
        lines.append(json.dumps(record, ensure_ascii=False))
    with sample_db.transaction() as conn:
        assert import_national(conn, lines, now=LATER).updated == 1
    assert _names(sample_db, "ket hon nuoc ngoai") == ["Thủ tục đăng ký kết hôn có yếu tố nước ngoài"]
    with sample_db.read() as conn:
        assert {"field": "Hôn nhân", "count": 1, "offered": 0} in list_fields(conn)
        assert new_search(conn, q="ket hon") == old_search(conn, q="ket hon")


class _RollBack(Exception):
    pass


def test_a_change_rolled_back_is_never_served(sample_db: Database, tmp_path: Any) -> None:
    def rename(name: str) -> Any:
        return lambda data: data["procedures"][0].update(name=name)

    with pytest.raises(_RollBack), sample_db.transaction() as conn:
        load_fixture_layer(conn, edited_layer(tmp_path, rename("Khai sinh bỏ dở")), now=LATER)
        assert [item["name"] for item in search_procedures(conn, q="bo do")[0]] == ["Khai sinh bỏ dở"]
        raise _RollBack
    assert _names(sample_db, "bo do") == []
    assert _names(sample_db, "dang ky khai sinh")[0] == "Đăng ký khai sinh"
    with sample_db.transaction() as conn:  # a later change: a token the rolled-back one never had
        load_fixture_layer(conn, edited_layer(tmp_path, rename("Khai sinh đã lưu")), now=LATER)
    assert _names(sample_db, "bo do") == []
    assert _names(sample_db, "da luu") == ["Khai sinh đã lưu"]


def test_the_snapshot_is_reused_until_the_catalog_changes(sample_db: Database, tmp_path: Any) -> None:
    with sample_db.read() as conn:
        first = catalog_snapshot(conn)
    with sample_db.read() as conn:
        assert catalog_snapshot(conn) is first
    with sample_db.transaction() as conn:
        load_fixture_layer(conn, edited_layer(tmp_path, lambda d: d["procedures"].pop()), now=LATER)
    with sample_db.read() as conn:
        assert catalog_snapshot(conn) is not first


def test_the_migration_keeps_the_version_token_in_step(empty_db: Database) -> None:
    upgrade(empty_db.engine.url.render_as_string(hide_password=False))
    tokens = []
    with empty_db.read() as conn:
        tokens.append(conn.execute(select(catalog_version.c.token)).scalar_one())
    with empty_db.transaction() as conn:
        import_national_file(conn, SAMPLE, now=NOW)
    with empty_db.read() as conn:
        tokens.append(conn.execute(select(catalog_version.c.token)).scalar_one())
        assert [item["code"] for item in search_procedures(conn, q="dang ky khai sinh")[0]] == ["1.001193"]
    with empty_db.transaction() as conn:
        load_fixture_layer(conn)
    with empty_db.read() as conn:
        tokens.append(conn.execute(select(catalog_version.c.token)).scalar_one())
        assert search_procedures(conn, q="dang ky khai sinh")[0][0]["offered"] is True
    assert len(set(tokens)) == 3


def test_the_revision_downgrades_and_upgrades_again(empty_db: Database) -> None:
    url = empty_db.engine.url.render_as_string(hide_password=False)
    upgrade(url)
    command.downgrade(alembic_config(url), "a1c0de5e55a1")
    with empty_db.read() as conn:
        assert "catalog_version" not in inspect(conn).get_table_names()
    with empty_db.transaction() as conn:  # no trigger left behind to fail on the missing table
        import_national_file(conn, SAMPLE, now=NOW)
    upgrade(url)
    with empty_db.transaction() as conn:
        before = conn.execute(select(catalog_version.c.token)).scalar_one()
        load_fixture_layer(conn)
        assert conn.execute(select(catalog_version.c.token)).scalar_one() != before
