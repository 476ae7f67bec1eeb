"""`GET /api/v1/dossiers` searched and filtered as the officers' web queues are: `text` (a part of a code, a name
or a personal ID, any case, with or without diacritics), `procedure`, `sla` and `sort` — on both databases,
through HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motcua.domain.text import fold
from tests.api.conftest import KHAI_SINH, DossierApi, assert_error

CAP_LAI_GCN = "1.012786"
MAI = {"full_name": "Nguyễn Thị Mai", "personal_id": "079185012345"}
NAM = {"full_name": "Trần Văn Nam", "personal_id": "079085054321"}


@pytest.fixture
def filed(api: DossierApi) -> dict[str, str]:
    """Two walk-ins filed at Phường Sài Gòn's desk (accepted at once) and a citizen's online filing (new)."""
    api.at("2026-03-02 08:00")
    mai = api.submit("sg.tiepnhan", channel="desk", applicant=MAI)["code"]
    api.at("2026-03-02 08:30")
    nam = api.submit("sg.tiepnhan", CAP_LAI_GCN, channel="desk", applicant=NAM)["code"]
    api.at("2026-03-02 09:00")
    an = api.submit("congdan")["code"]  # Nguyễn Văn An
    return {"mai": mai, "nam": nam, "an": an}


def _listed(api: DossierApi, username: str, **query: Any) -> list[str]:
    page = api.call("GET", f"/api/v1/dossiers?{urlencode(query)}", username, expect=200)
    assert page["total"] == len(page["items"]), page
    return [item["code"] for item in page["items"]]


def test_a_name_typed_without_diacritics_finds_the_dossier(api: DossierApi, filed: dict[str, str]) -> None:
    for typed in ("nguyen thi mai", "NGUYỄN THỊ MAI", "  thị   mai ", "Nguyen Thi Mai"):
        assert _listed(api, "sg.tiepnhan", text=typed) == [filed["mai"]], typed
    assert set(_listed(api, "sg.tiepnhan", text="nguyen")) == {filed["mai"], filed["an"]}
    assert _listed(api, "sg.tiepnhan", text=filed["nam"]) == [filed["nam"]]  # a whole code
    assert _listed(api, "sg.tiepnhan", text=filed["nam"][-8:].lower()) == [filed["nam"]]  # a part of one
    assert _listed(api, "sg.tiepnhan", text=MAI["personal_id"]) == [filed["mai"]]  # a whole personal ID
    assert _listed(api, "sg.tiepnhan", text="le van") == []
    # The other queues and scopes search their own dossiers only.
    assert _listed(api, "sg.tiepnhan", queue="new", text="nguyen") == [filed["an"]]
    assert _listed(api, "sg.xuly", queue="unit", text="tran van nam") == [filed["nam"]]
    assert _listed(api, "sg.xuly", queue="mine", text="nguyen") == []
    assert _listed(api, "tp.giamsat", text="nguyen thi mai") == [filed["mai"]]  # city-wide
    assert _listed(api, "stp.tiepnhan", text="nguyen thi mai") == []  # another unit


NAMES = {"mai": MAI["full_name"], "nam": NAM["full_name"], "an": "Nguyễn Văn An"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_part_of_a_name_in_any_case_finds_it(
    api: DossierApi, filed: dict[str, str], data: st.DataObject
) -> None:
    """A part of a name, with or without its diacritics, in any case, finds that dossier, and every dossier
    listed holds the typed text (folded) in its name, code or personal ID."""
    who = data.draw(st.sampled_from(sorted(NAMES)))
    name = NAMES[who]
    start = data.draw(st.integers(0, len(name) - 2))
    part = name[start : data.draw(st.integers(start + 2, len(name)))]
    typed = data.draw(st.sampled_from([part, part.upper(), part.lower(), fold(part), fold(part).upper()]))
    if not fold(typed).strip():
        return
    found = _listed(api, "sg.tiepnhan", text=typed)
    assert filed[who] in found, (typed, found)
    wanted = fold(" ".join(typed.split()))
    for other, code in filed.items():
        if code in found:
            assert wanted in fold(NAMES[other]) or wanted in code.lower(), (typed, other)


def test_percent_and_underscore_are_literal(api: DossierApi, filed: dict[str, str]) -> None:
    for typed in ("%", "_", "nguyen%mai", "ng_yen", "%%"):
        assert _listed(api, "sg.tiepnhan", text=typed) == [], typed
        assert _listed(api, "tp.giamsat", text=typed) == [], typed


def test_procedure_and_sla_filters(api: DossierApi, filed: dict[str, str]) -> None:
    assert _listed(api, "sg.tiepnhan", procedure=CAP_LAI_GCN) == [filed["nam"]]
    assert set(_listed(api, "sg.tiepnhan", procedure=KHAI_SINH)) == {filed["mai"], filed["an"]}
    assert _listed(api, "sg.tiepnhan", procedure=KHAI_SINH, text="thi mai") == [filed["mai"]]
    assert _listed(api, "sg.tiepnhan", procedure="9.999999") == []
    assert _listed(api, "sg.tiepnhan", sla="overdue") == []
    running = {filed["mai"], filed["nam"]}  # accepted; the online filing is not yet (no legal clock)
    assert (
        set(_listed(api, "sg.tiepnhan", sla="due_today"))
        | set(_listed(api, "sg.tiepnhan", sla="within_time"))
        == running
    )
    api.at("2026-06-01 09:00")
    assert set(_listed(api, "sg.tiepnhan", sla="overdue")) == running
    assert _listed(api, "sg.tiepnhan", sla="overdue", procedure=CAP_LAI_GCN) == [filed["nam"]]
    assert _listed(api, "sg.tiepnhan", sla="within_time") == []


def test_sort_by_submission(api: DossierApi, filed: dict[str, str]) -> None:
    in_order = [filed["mai"], filed["nam"], filed["an"]]
    assert _listed(api, "sg.tiepnhan", sort="submitted") == in_order
    assert _listed(api, "sg.tiepnhan", sort="recent") == in_order[::-1]
    assert _listed(api, "sg.tiepnhan", sort="recent", text="nguyen") == [filed["an"], filed["mai"]]


def test_without_the_new_parameters_the_answer_is_unchanged(api: DossierApi, filed: dict[str, str]) -> None:
    for username, queue in (("sg.tiepnhan", "all"), ("sg.tiepnhan", "new"), ("tp.giamsat", "all")):
        plain = api.client.get(f"/api/v1/dossiers?queue={queue}", headers=api.auth(username))
        defaults = api.client.get(
            f"/api/v1/dossiers?queue={queue}&sort=due&text=", headers=api.auth(username)
        )
        assert plain.status_code == defaults.status_code == 200
        assert plain.content == defaults.content


def test_a_citizen_searches_only_their_own_dossiers(api: DossierApi, filed: dict[str, str]) -> None:
    assert _listed(api, "congdan", text="nguyen van an") == [filed["an"]]
    assert _listed(api, "congdan", text="nguyen") == [filed["an"]]
    assert _listed(api, "congdan", text="nguyen thi mai") == []  # someone else's dossier
    assert _listed(api, "congdan", text=MAI["personal_id"]) == []
    assert _listed(api, "congdan2", text="nguyen") == []
    for query in ({"procedure": KHAI_SINH}, {"sla": "overdue"}):
        body = api.call("GET", f"/api/v1/dossiers?{urlencode(query)}", "congdan", expect=400)
        assert_error(body, "dossier.officer_filter")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"sla": "late"}, "dossier.bad_sla"),
        ({"sort": "name"}, "dossier.bad_sort"),
        ({"text": "x" * 101}, "request.invalid"),
        ({"procedure": "1" * 31}, "request.invalid"),
    ],
)
def test_bad_filters_are_refused_in_vietnamese(api: DossierApi, query: dict[str, str], code: str) -> None:
    body = api.call("GET", f"/api/v1/dossiers?{urlencode(query)}", "sg.tiepnhan", expect=400)
    assert_error(body, code)


def test_the_filters_are_documented(api: DossierApi) -> None:
    schema = api.call("GET", "/openapi.json", expect=200)
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/dossiers"]["get"]["parameters"]}
    assert {"text", "procedure", "sla", "sort"} <= set(parameters)
    assert parameters["sla"]["schema"]["enum"] == ["overdue", "due_today", "within_time"] or any(
        option.get("enum") == ["overdue", "due_today", "within_time"]
        for option in parameters["sla"]["schema"].get("oneOf", [])
    )
    assert parameters["text"]["schema"].get("maxLength") == 100 or any(
        option.get("maxLength") == 100 for option in parameters["text"]["schema"].get("oneOf", [])
    )
