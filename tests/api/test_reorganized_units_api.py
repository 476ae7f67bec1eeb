"""A citizen filing at a ward that a reorganisation just closed, through HTTP, on a server process that had the
old unit directory cached (the plan applied by another process): a 4xx naming the ward to file at, never a 500
and never a dossier at the closed ward (decision 0010); the new ward and the others take the filing at once."""

from __future__ import annotations

from typing import Any

from motcua.domain.reorganization import parse_plan
from motcua.services.reorganization import apply_plan
from motcua.services.runtime import Runtime
from tests.api.conftest import KHAI_SINH, WARD, DossierApi, assert_error
from tests.services.test_reorganization import NEW, OLD_A, account, merge_plan


def test_a_closed_ward_is_refused_with_its_successor_named_at_once(api: DossierApi, runtime: Runtime) -> None:
    before = api.submit("congdan", KHAI_SINH, OLD_A)  # this server process caches today's directory
    other = Runtime(db=runtime.db, clock=runtime.clock, calendar=runtime.calendar, hooks=[])  # the CLI
    apply_plan(other, account(other, "tp.quantri"), parse_plan(merge_plan(runtime.clock.now().date())))
    counts = api.row_counts()

    refused: dict[str, Any] = api.submit("congdan", KHAI_SINH, OLD_A, expect=404)
    error = assert_error(refused, "unit.not_found")
    assert "Phường Tân Định Bến Thành" in error["message"]
    assert api.row_counts() == counts  # nothing written

    filed = api.submit("congdan", KHAI_SINH, NEW)  # the new ward, unknown to the cached directory
    assert filed["receiving_unit"]["id"] == NEW
    assert api.submit("congdan", KHAI_SINH, WARD)["receiving_unit"]["id"] == WARD
    moved = api.get("congdan", before["code"])
    assert moved["receiving_unit"]["id"] == NEW
