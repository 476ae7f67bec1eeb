"""An officer's text box: a part of a name, code or ID, any case, with or without diacritics (decision 0008).

`dossier_search` is kept by triggers on `dossiers` and searched per unit; these tests check that the search finds
exactly the dossiers whose folded name, code or ID holds the folded text, on both databases, whoever wrote the
rows (an INSERT, an UPDATE that moves or renames a dossier, a DELETE)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update

from motcua.domain.lifecycle import Actor, ActorKind, Status
from motcua.domain.text import fold
from motcua.domain.workflow import Role
from motcua.services import workspace
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.dossier_search import dossier_search, search_text
from motcua.store.schema.dossiers import dossiers

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
UNIT, OTHER = "u-1", "u-2"
RECEIVER = Actor("o-1", ActorKind.OFFICER, frozenset({Role.RECEIVER}), UNIT)
MONITOR = Actor("m-1", ActorKind.OFFICER, frozenset({Role.MONITOR}), "thanh-pho-ho-chi-minh")


def _row(n: int, name: str, **values: Any) -> dict[str, Any]:
    return {
        "code": f"000.00.05.H29-261201-{n:04d}",
        "procedure_code": "1.000001",
        "procedure_name": "Thủ tục thử",
        "city_procedure_version": 1,
        "workflow_id": "wf",
        "workflow_version": 1,
        "channel": "online",
        "applicant_id": f"cd-0792010{n:05d}",
        "applicant_name": name,
        "submitted_by": "cd-1",
        "receiving_unit_id": UNIT,
        "competent_unit_id": UNIT,
        "step_unit_id": UNIT,
        "assignee_id": None,
        "status": int(Status.ACCEPTED),
        "step": "buoc",
        "submitted_at": AT + timedelta(minutes=n),
        "version": 1,
        "state": {},
        "form_data": {},
        "updated_at": AT,
        **values,
    }


def _store(db: Database, rows: list[dict[str, Any]]) -> None:
    with db.transaction() as conn:
        conn.execute(delete(dossiers))
        if rows:
            conn.execute(
                insert(dossiers), rows
            )  # one statement: PostgreSQL's statement trigger sees them all


def _search(
    db: Database, text: str, actor: Actor = RECEIVER, queue: str = "unit", status: str = "all"
) -> set[str]:
    query = workspace.QueueQuery(queue=queue, status=status, text=text, limit=100)
    page = workspace.officer_queue(Runtime(db=db, hooks=[]), actor, query)
    assert page["total"] == len(page["items"])
    return {item["code"] for item in page["items"]}


def _expected(rows: list[dict[str, Any]], text: str) -> set[str]:
    wanted = fold(" ".join(text.split()))
    return {
        r["code"]
        for r in rows
        if wanted in fold(r["applicant_name"])
        or wanted in r["code"].lower()
        or wanted in r["applicant_id"].lower()
    }


# ---------------------------------------------------------------- examples


def test_a_name_is_found_in_any_case_with_or_without_diacritics(db: Database) -> None:
    rows = [
        _row(1, "Nguyễn Thị Mai"),
        _row(2, "Nguyễn Văn An"),
        _row(3, "Đặng Thị Mai Anh"),
        _row(4, "Mai Văn Đức"),
    ]
    _store(db, rows)
    mai, an, mai_anh, duc = (r["code"] for r in rows)
    for typed in ("nguyen thi mai", "NGUYỄN THỊ MAI", "Nguyễn Thị Mai", "nguyễn  thị   mai", "yen thi ma"):
        assert _search(db, typed) == {mai}, typed
    for typed in ("thị mai", "thi mai", "THỊ MAI"):
        assert _search(db, typed) == {mai, mai_anh}, typed
    assert _search(db, "dang") == {mai_anh}  # đ folds to d
    assert _search(db, "ĐỨC") == {duc}
    assert _search(db, "nguyen") == {mai, an}
    assert _search(db, "mai", actor=MONITOR) == {mai, mai_anh, duc}  # city-wide: every unit's rows


def test_a_part_of_a_code_or_id_and_whole_ones_still_work(db: Database) -> None:
    rows = [_row(1, "Nguyễn Thị Mai"), _row(2, "Nguyễn Văn An", code="000.00.12.H29-261202-0001")]
    _store(db, rows)
    first, second = rows[0]["code"], rows[1]["code"]
    assert _search(db, "h29-261202") == {second}  # a part of a code, any case
    assert _search(db, "261201-0001") == {first}
    assert _search(db, first) == {first}  # a whole code: equality
    assert _search(db, first.lower()) == {first}
    assert _search(db, "079201000002") == {second}  # a whole personal ID: equality
    assert _search(db, "0792010000") == {first, second}  # a part of an ID


@pytest.mark.parametrize("typed", ["%", "_", "\\", "/", "%%", "thị%mai", "thi_mai", "a" * 5000, "\u0301"])
def test_like_wildcards_are_literal_and_long_text_is_harmless(db: Database, typed: str) -> None:
    rows = [_row(1, "Nguyễn Thị Mai"), _row(2, "Trần 100% Thu_Hà / \\ B")]
    _store(db, rows)
    found = _search(db, typed)
    if typed == "\u0301":  # a lone tone mark folds away: no filter
        assert found == {r["code"] for r in rows}
    else:
        assert found == _expected(rows, typed)
    assert _search(db, "100%") == {rows[1]["code"]}
    assert _search(db, "thu_ha") == {rows[1]["code"]}


def test_the_rows_follow_moves_renames_and_deletes(db: Database) -> None:
    rows = [
        _row(1, "Nguyễn Thị Mai"),
        _row(2, "Lê Văn Tám", step_unit_id=OTHER, receiving_unit_id=OTHER, competent_unit_id=OTHER),
    ]
    _store(db, rows)
    mai, tam = rows[0]["code"], rows[1]["code"]
    assert _search(db, "tam") == set()  # not the unit's
    with db.transaction() as conn:  # Tám's dossier comes to UNIT for a step (liên thông), Mai's is renamed
        conn.execute(update(dossiers).where(dossiers.c.code == tam).values(step_unit_id=UNIT))
        conn.execute(update(dossiers).where(dossiers.c.code == mai).values(applicant_name="Phạm Thị Hoa"))
    assert _search(db, "le van tam") == {tam}
    assert _search(db, "thi mai") == set()
    assert _search(db, "pham thi hoa") == {mai}
    with db.transaction() as conn:  # it moves on: the unit keeps a row, the scope no longer lists it
        conn.execute(update(dossiers).where(dossiers.c.code == tam).values(step_unit_id=OTHER))
    assert _search(db, "tam") == set()
    with db.read() as conn:
        kept = conn.execute(select(dossier_search.c.unit_id, dossier_search.c.search_text)).all()
    assert sorted(kept) == sorted(
        [
            (UNIT, search_text("Phạm Thị Hoa", mai, rows[0]["applicant_id"])),
            (OTHER, search_text("Lê Văn Tám", tam, rows[1]["applicant_id"])),
            (UNIT, search_text("Lê Văn Tám", tam, rows[1]["applicant_id"])),
        ]
    )
    with db.transaction() as conn:
        conn.execute(delete(dossiers).where(dossiers.c.code == tam))
        assert conn.execute(select(dossier_search.c.unit_id)).scalars().all() == [UNIT]


def test_mine_and_new_queues_search_too(db: Database) -> None:
    handler = Actor("o-2", ActorKind.OFFICER, frozenset({Role.PROCESSOR}), OTHER)
    rows = [
        _row(1, "Nguyễn Thị Mai", status=int(Status.SUBMITTED)),
        _row(
            2, "Nguyễn Thị Mai Anh", assignee_id="o-2", status=int(Status.IN_PROCESS)
        ),  # at UNIT, assigned to o-2
    ]
    _store(db, rows)
    assert _search(db, "thi mai", queue="new", status="") == {rows[0]["code"]}
    assert _search(db, "mai anh", actor=handler, queue="mine", status="") == {rows[1]["code"]}


# ---------------------------------------------------------------- properties

_SYLLABLES = [
    "nguyen",
    "tran",
    "le",
    "pham",
    "hoang",
    "dang",
    "thi",
    "van",
    "mai",
    "anh",
    "duc",
    "uyen",
    "thu",
    "ha",
]
_MARKS = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
_VOWELS = "aeiouy"


@st.composite
def vietnamese_names(draw: st.DrawFn) -> str:
    """A name of 1–4 syllables with random tone and shape marks, đ, and random case."""
    words = []
    for syllable in draw(st.lists(st.sampled_from(_SYLLABLES), min_size=1, max_size=4)):
        letters = []
        for ch in syllable:
            if ch in _VOWELS:
                shape = draw(st.sampled_from(["", "\u0302", "\u0306", "\u031b"] if ch in "aou" else [""]))
                ch = ch + shape + draw(st.sampled_from(_MARKS))
            elif ch == "d" and draw(st.booleans()):
                ch = "đ"
            letters.append(ch.upper() if draw(st.booleans()) else ch)
        words.append(unicodedata.normalize("NFC", "".join(letters)))
    return " ".join(words)


@st.composite
def names_and_query(draw: st.DrawFn) -> tuple[list[str], str]:
    names = draw(st.lists(vietnamese_names(), min_size=1, max_size=8))
    source = draw(st.sampled_from(names))
    start = draw(st.integers(0, len(source) - 1))
    part = source[start : draw(st.integers(start + 1, len(source)))]
    how = draw(st.sampled_from(["as is", "folded", "upper", "other name"]))
    query = {
        "as is": part,
        "folded": fold(part),
        "upper": part.upper(),
        "other name": draw(vietnamese_names()),
    }[how]
    return names, query


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=names_and_query())
def test_the_search_finds_exactly_the_folded_substring_matches(
    db: Database, case: tuple[list[str], str]
) -> None:
    names, query = case
    if not " ".join(query.split()) or not fold(query):
        return  # an empty or marks-only text is no filter
    rows = [_row(n, name) for n, name in enumerate(names, start=1)]
    _store(db, rows)
    assert _search(db, query) == _expected(rows, query)


@pytest.mark.postgres
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        vietnamese_names(),
        st.text(st.characters(codec="latin-1", exclude_categories=("Cs", "Cc")), max_size=30),
        st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x24F, exclude_categories=("Cs",)), max_size=30
        ),
        st.text(st.sampled_from(" \t\u00a0\u2003\u0301\u0323ĐđƯơ"), max_size=10),
    )
)
def test_postgresql_folds_as_python_does(db: Database, value: str) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the SQL port of the fold")
    value = value.replace("\x00", "")
    with db.read() as conn:
        assert conn.execute(text("SELECT motcua_fold(:v)"), {"v": value}).scalar_one() == fold(value)


@pytest.mark.postgres
def test_a_unit_search_reads_the_units_key_not_the_trigram_lists(db: Database) -> None:
    """One unit's search reads its range of the key (the text in it), never the city-wide trigram lists; the
    city-wide search reads `dossier_search` through an index too (the trigram one at scale: decision 0008)."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL plans")
    _store(db, [_row(n, "Nguyễn Thị Mai" if n % 500 else "Lê Văn Tám") for n in range(1, 3000)])
    with db.read() as conn:
        conn.exec_driver_sql("ANALYZE dossiers")
        conn.exec_driver_sql("ANALYZE dossier_search")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plans = {}
        for unit in (UNIT, ""):
            query = select(dossiers.c.id).where(workspace._text_match("le van tam", unit))
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plans[unit] = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "pk_dossier_search" in plans[UNIT] and "ix_dossier_search_trgm" not in plans[UNIT], plans[UNIT]
    assert "_dossier_search" in plans[""] and "Seq Scan" not in plans[""], plans[""]
