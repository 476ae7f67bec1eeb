"""A city-wide search for a part of a name (monitors, city administrators): the page walked for in due-date order
and the count read from `dossier_search` alone (`workspace.walked_page`, `workspace.city_text_count`) give the
same rows, in the same order, and the same totals as the trigram path they short-cut — on both databases, for
common parts (found within the walk), rarer ones (the walk falls back) and due dates shared by many dossiers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, insert

from motcua.domain.lifecycle import Status
from motcua.domain.text import fold
from motcua.services import dossiers as dossier_service
from motcua.services import workspace
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers
from tests.services.test_name_search import AT, MONITOR, OTHER, _row

NAMES = ["Nguyễn Thị Mai", "Trần Văn An", "Nguyễn Văn Bình", "Lê Thị Hoa", "Phạm Minh Đức", "Nguyễn Thị Lan"]
TERMS = ["nguyen", "thi", "van", "nguyen thi mai", "duc", "khong ai", "0792010"]


def _rows() -> list[dict[str, Any]]:
    rows = []
    for n in range(1, 61):
        # few distinct due dates (ties), some none; step due dates and units vary
        due = None if n % 11 == 0 else AT + timedelta(days=n % 5)
        step_due = None if n % 7 == 0 else AT + timedelta(hours=(n * 5) % 13)
        units = {"step_unit_id": OTHER} if n % 4 == 0 else {}
        rows.append(_row(n, NAMES[n % len(NAMES)], due_at=due, step_due_at=step_due, **units))
    return rows


def _store(db: Database, rows: list[dict[str, Any]]) -> None:
    with db.transaction() as conn:
        conn.execute(delete(dossiers))
        conn.execute(insert(dossiers), rows)


def _matching(rows: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    wanted = fold(text)
    return [
        r
        for r in rows
        if wanted in fold(r["applicant_name"]) or wanted in r["code"].lower() or wanted in r["applicant_id"]
    ]


def _by_due(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["due_at"] is None, r["due_at"] or AT)


def _web(
    db: Database, text: str, limit: int, offset: int, status: str = "all"
) -> tuple[list[str], int, bool]:
    query = workspace.QueueQuery(queue="unit", status=status, text=text, limit=limit, offset=offset)
    page = workspace.officer_queue(Runtime(db=db, hooks=[]), MONITOR, query)
    return [item["code"] for item in page["items"]], page["total"], page["total_is_capped"]


def _api(db: Database, text: str, limit: int, offset: int) -> tuple[list[str], int]:
    items, total = dossier_service.list_dossiers(
        Runtime(db=db, hooks=[]), MONITOR, queue="all", search=text, limit=limit, offset=offset
    )
    return [item["code"] for item in items], total


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each walk found its page (True) or fell back to the trigram path (False)."""
    seen: list[bool] = []
    walk = workspace.walked_page

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = walk(*args, **kwargs)
        seen.append(found is not None)
        return found

    monkeypatch.setattr(workspace, "walked_page", spy)
    return seen


@pytest.fixture
def budgets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How far each walk went (a second, longer walk for a part the first found too rarely)."""
    seen: list[int] = []
    walk = workspace._walk

    def spy(*args: Any) -> Any:
        seen.append(args[5])
        return walk(*args)

    monkeypatch.setattr(workspace, "_walk", spy)
    return seen


@pytest.mark.parametrize(("budget", "budget_max"), [(4, 4), (4, 16_000), (15, 15), (15, 40), (1_000, 16_000)])
def test_the_walked_page_is_the_trigram_paths_page(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    walks: list[bool],
    budgets: list[int],
    budget: int,
    budget_max: int,
) -> None:
    rows = _rows()
    _store(db, rows)
    # the ids are the insertion order: ties of the API's order (due date, id) follow the list
    ids = {r["code"]: i for i, r in enumerate(rows)}
    monkeypatch.setattr(workspace, "WALK_BUDGET", budget)
    monkeypatch.setattr(workspace, "WALK_BUDGET_MAX", budget_max)
    # a part is walked for when its count reaches the cap (a common one): here from 3 dossiers
    monkeypatch.setattr(workspace, "CITY_TEXT_COUNT_CAP", 3)
    monkeypatch.setattr(dossier_service, "LIST_COUNT_CAP", 3)
    for text in TERMS:
        found = _matching(rows, text)
        web_order = sorted(
            found,
            key=lambda r: (
                *_by_due(r),
                r["step_due_at"] is None,
                r["step_due_at"] or AT,
                r["submitted_at"],
                ids[r["code"]],
            ),
        )
        api_order = sorted(found, key=lambda r: (*_by_due(r), ids[r["code"]]))
        for limit, offset in [(3, 0), (5, 5), (20, 0), (2, 30)]:
            walked_web, walked_api = _web(db, text, limit, offset), _api(db, text, limit, offset)
            assert walked_web[0] == [r["code"] for r in web_order[offset : offset + limit]], (
                text,
                limit,
                offset,
            )
            assert walked_api[0] == [r["code"] for r in api_order[offset : offset + limit]], (
                text,
                limit,
                offset,
            )
            monkeypatch.setattr(workspace, "WALKED_PAGE_MAX", 0)  # the trigram path alone: the same answer
            assert _web(db, text, limit, offset) == walked_web
            assert _api(db, text, limit, offset) == walked_api
            monkeypatch.setattr(workspace, "WALKED_PAGE_MAX", 200)
    assert True in walks  # common parts were found by the walk…
    if budget < len(rows):
        assert False in walks  # …and, with a walk shorter than the table, rarer ones fell back
        # parts the first walk found too rarely were walked for again, further, when the bound allowed it
        assert (max(budgets) > budget) == (budget_max > budget)
        assert max(budgets) <= budget_max


@pytest.mark.parametrize("cap", [2, 5, 13, 1_001])
def test_the_count_from_the_search_rows_is_the_capped_count(
    db: Database, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    rows = _rows()
    _store(db, rows)
    monkeypatch.setattr(workspace, "CITY_TEXT_COUNT_CAP", cap)
    monkeypatch.setattr(dossier_service, "LIST_COUNT_CAP", cap)
    for text in TERMS:
        matching = len(_matching(rows, text))
        assert _web(db, text, 1, 0)[1:] == (min(matching, cap), matching >= cap), text
        assert _api(db, text, 1, 0)[1] == min(matching, cap), text


@pytest.mark.parametrize("cap", [2, 5, 13, 1_001])
def test_the_count_of_one_status_or_the_open_ones_is_the_capped_count(
    db: Database, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """The city-wide open queue (and the API's list of one status) counts from the matching rows of
    `dossier_search`, each looking its dossier up: the same totals as the count over the dossiers."""
    rows = _rows()
    for n, row in enumerate(rows):
        if n % 3 == 0:
            row["status"] = int(Status.RETURNED)
        elif n % 5 == 0:
            row["status"] = int(Status.SUBMITTED)
    _store(db, rows)
    monkeypatch.setattr(workspace, "CITY_TEXT_COUNT_CAP", cap)
    monkeypatch.setattr(dossier_service, "LIST_COUNT_CAP", cap)
    counted: list[bool] = []  # a count of one status, or of the open ones, answered from the rows
    count_rows = workspace.city_text_count

    def spy(*args: Any) -> Any:
        total = count_rows(*args)
        counted.append(args[3] is not None and total is not None)
        return total

    monkeypatch.setattr(workspace, "city_text_count", spy)
    rt = Runtime(db=db, hooks=[])
    for text in TERMS:
        found = _matching(rows, text)
        open_ones = sum(r["status"] in workspace.OPEN_STATUSES for r in found)
        assert _web(db, text, 1, 0, status="")[1:] == (min(open_ones, cap), open_ones >= cap), text
        for status in (Status.RETURNED, Status.SUBMITTED):
            with_status = sum(r["status"] == status for r in found)
            _, total = dossier_service.list_dossiers(
                rt, MONITOR, queue="all", search=text, status=int(status), limit=1
            )
            assert total == min(with_status, cap), (text, status)
    assert counted and True in counted


def test_a_dossier_in_several_units_is_counted_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dossier has a row per unit it has been in: the count is of dossiers, even when most rows are repeats."""
    rows = [
        _row(n, "Nguyễn Thị Mai", step_unit_id=OTHER, competent_unit_id=f"u-{n}", due_at=AT)
        for n in range(1, 9)
    ]
    _store(db, rows)
    for cap in (2, 3, 8, 9, 1_001):
        monkeypatch.setattr(workspace, "CITY_TEXT_COUNT_CAP", cap)
        assert _web(db, "thi mai", 1, 0)[1:] == (min(8, cap), cap <= 8)
        assert _web(db, "thi mai", 1, 0, status="")[1:] == (min(8, cap), cap <= 8)  # open: one bound of rows
    with db.read() as conn:
        # 24 rows of 8 dossiers: a bound of rows may hold too few distinct ones to tell (None: counted as before)
        assert workspace.city_text_count(conn, "thi mai", 3) in (3, None)
        assert workspace.city_text_count(conn, "thi mai", 5) in (5, None)
        assert workspace.city_text_count(conn, "thi mai", 20) == 8
        assert workspace.city_text_count(conn, rows[0]["code"], 20) is None  # a whole code: an equality


def test_the_open_queue_and_other_filters_are_walked_too(
    db: Database, monkeypatch: pytest.MonkeyPatch, walks: list[bool]
) -> None:
    """The city-wide open queue (its status term is SQL text on SQLite) and a closed status: the walk keeps the
    queue's conditions, and finds the trigram path's page."""
    rows = _rows()
    for n, row in enumerate(rows):
        row["status"] = int(Status.RETURNED) if n % 3 == 0 else int(Status.ACCEPTED)
    _store(db, rows)
    monkeypatch.setattr(workspace, "CITY_TEXT_COUNT_CAP", 3)
    for status in ("", str(int(Status.RETURNED))):
        for text in ("nguyen", "thi"):
            walked = _web(db, text, 4, 0, status)
            monkeypatch.setattr(workspace, "WALKED_PAGE_MAX", 0)
            assert _web(db, text, 4, 0, status) == walked
            monkeypatch.setattr(workspace, "WALKED_PAGE_MAX", 200)
            wanted = int(Status.RETURNED) if status else int(Status.ACCEPTED)
            expected = sorted(
                (r for r in _matching(rows, text) if r["status"] == wanted),
                key=lambda r: (
                    *_by_due(r),
                    r["step_due_at"] is None,
                    r["step_due_at"] or AT,
                    r["submitted_at"],
                ),
            )
            assert walked[0] == [r["code"] for r in expected[:4]], (status, text)
    assert True in walks


def test_the_open_queue_is_walked_for_a_part_below_the_cap(
    db: Database, monkeypatch: pytest.MonkeyPatch, walks: list[bool]
) -> None:
    """The open dossiers are a small share of the city: a part whose open count stays below the cap is still
    walked for among them (and gives the trigram path's page); every status, below the cap, is not walked."""
    rows = _rows()
    for n, row in enumerate(rows):
        row["status"] = int(Status.RETURNED) if n % 3 == 0 else int(Status.ACCEPTED)
    _store(db, rows)
    monkeypatch.setattr(workspace, "MATCHED_IDS_MAX", 0)  # the matches not listed by the count
    walked = _web(db, "thi", 4, 0, "")
    assert walks == [True] and not walked[2]  # walked, and the count (below the cap) is exact
    monkeypatch.setattr(workspace, "WALKED_PAGE_MAX", 0)
    assert _web(db, "thi", 4, 0, "") == walked
    monkeypatch.setattr(workspace, "WALKED_PAGE_MAX", 200)
    walks.clear()
    _web(db, "thi", 4, 0, "all")
    assert walks == []


def test_the_page_of_a_part_whose_matches_were_all_read_is_sorted_from_them(
    db: Database, monkeypatch: pytest.MonkeyPatch, walks: list[bool]
) -> None:
    """When the count read every matching row (fewer than its bound), the page is read by the dossiers' keys:
    the same page as the trigram path's, with the search rows read once instead of twice, and no walk."""
    rows = _rows()
    for n, row in enumerate(rows):
        row["status"] = int(Status.RETURNED) if n % 3 == 0 else int(Status.ACCEPTED)
    _store(db, rows)
    searches: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "dossier_search" in statement:
            searches.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    listing = workspace.city_text_matches
    try:
        for status in ("", "all", str(int(Status.RETURNED))):
            for text in TERMS:
                for limit, offset in ((4, 0), (3, 2), (50, 0)):
                    searches.clear()
                    walks.clear()
                    listed = _web(db, text, limit, offset, status)
                    if workspace._part_pattern(text) is not None:
                        assert (len(searches), walks) == (1, []), (status, text)
                    monkeypatch.setattr(workspace, "city_text_matches", lambda *args: None)
                    assert _web(db, text, limit, offset, status) == listed, (status, text, limit, offset)
                    monkeypatch.setattr(workspace, "city_text_matches", listing)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


def test_a_part_past_the_cap_whose_rows_were_all_read_pages_from_them(
    db: Database, monkeypatch: pytest.MonkeyPatch, walks: list[bool]
) -> None:
    """1,100 matches with the web's cap of 1,001: the count reads them all (under its bound of 1,126 rows), the
    total says "more than 1,000", and the page comes from their 1,100 ids (as many parameters, on both databases)
    — the trigram path's page, without a walk."""
    rows = [_row(n, NAMES[0], due_at=AT + timedelta(hours=n % 97)) for n in range(1, 1_101)]
    _store(db, rows)
    listed = _web(db, "thi mai", 20, 0)
    assert listed[1:] == (workspace.CITY_TEXT_COUNT_CAP, True) and walks == []
    monkeypatch.setattr(workspace, "city_text_matches", lambda *args: None)
    assert _web(db, "thi mai", 20, 0) == listed
