"""The organisation registry through HTTP: the 168 commune-level units of the new city by kind, and an
accent-insensitive name search."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import DossierApi, assert_error


def _units(api: DossierApi, query: str = "") -> list[dict[str, Any]]:
    listed = api.call("GET", f"/api/v1/units?{query}", expect=200)
    assert listed["total"] == len(listed["items"])
    items: list[dict[str, Any]] = listed["items"]
    return items


@pytest.mark.parametrize(
    ("kind", "count"), [("phuong", 113), ("xa", 54), ("dac_khu", 1), ("cong_an_xa", 168)]
)
def test_units_of_each_kind(api: DossierApi, kind: str, count: int) -> None:
    units = _units(api, f"kind={kind}")
    assert len(units) == count
    assert {unit["kind"] for unit in units} == {kind}
    assert len({unit["agency_code"] for unit in units}) == count  # every one has its own code


def test_the_special_zone_is_con_dao(api: DossierApi) -> None:
    assert [unit["name"] for unit in _units(api, "kind=dac_khu")] == ["Đặc khu Côn Đảo"]


@pytest.mark.parametrize("words", ["sai gon", "Sài Gòn", "SÀI GÒN"])
def test_name_search_finds_phuong_sai_gon_first(api: DossierApi, words: str) -> None:
    found = _units(api, f"q={words}")
    assert (found[0]["id"], found[0]["name"], found[0]["agency_code"]) == (
        "phuong-sai-gon",
        "Phường Sài Gòn",
        "068.00.70.H29",
    )
    assert "Công an phường Sài Gòn" in [unit["name"] for unit in found]


def test_search_by_agency_code_and_filter_by_parent(api: DossierApi) -> None:
    assert [unit["id"] for unit in _units(api, "q=068.00.70.H29")] == ["phuong-sai-gon"]
    police = _units(api, "parent_id=cong-an-thanh-pho&kind=cong_an_xa")
    assert len(police) == 168
    assert (
        next(unit for unit in police if unit["id"] == "cong-an-phuong-sai-gon")["area_id"] == "phuong-sai-gon"
    )


def test_an_unknown_kind_is_refused(api: DossierApi) -> None:
    assert_error(api.call("GET", "/api/v1/units?kind=quan", expect=400), "unit.bad_kind")
    assert _units(api, "q=quan 1") == []  # the districts are gone since 1 July 2025
