"""Workflow definitions: the packaged files load, and every structural mistake is refused with its own code
and a Vietnamese explanation that names the offending step."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from fractions import Fraction
from importlib import resources
from typing import Any

import pytest
import yaml

from motcua.domain.errors import InvalidInput
from motcua.domain.workflow import END, Role, RouteAction, StepAction, Workflow, parse_workflow

Data = dict[str, Any]
VIETNAMESE_LETTER = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]")


def packaged(name: str) -> Data:
    text = (resources.files("motcua") / "data" / "workflows" / f"{name}.v1.yaml").read_text(encoding="utf-8")
    data: Data = yaml.safe_load(text)
    return data


def standard() -> Data:
    """A fresh, mutable copy of the standard workflow's data."""
    return copy.deepcopy(packaged("tieu-chuan"))


def step_of(data: Data, step_id: str) -> Data:
    return next(step for step in data["steps"] if step["id"] == step_id)


def refusal(data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_workflow(data)
    error = caught.value
    assert VIETNAMESE_LETTER.search(error.message), error.message
    return error


# ---------------------------------------------------------------- the packaged workflows


def test_standard_workflow_loads_with_its_five_steps() -> None:
    wf = parse_workflow(packaged("tieu-chuan"))
    assert wf.key == "tieu-chuan@1"
    assert [step.id for step in wf.steps] == ["tiep_nhan", "xu_ly", "phe_duyet", "ban_hanh", "tra_ket_qua"]
    assert wf.start.role is Role.RECEIVER and wf.start.routes == {RouteAction.ACCEPT: "xu_ly"}
    assert [step.share for step in wf.steps] == [0, Fraction(7, 10), Fraction(2, 10), Fraction(1, 10), 0]
    assert wf.step("tra_ket_qua").routes == {RouteAction.RETURN_RESULT: END}
    assert wf.step("xu_ly").may == {
        StepAction.ASSIGN,
        StepAction.REQUEST_SUPPLEMENT,
        StepAction.REQUEST_FEE,
        StepAction.APOLOGISE,
    }
    assert wf.supplement_limit == 1


def test_lien_thong_workflow_passes_from_commune_to_department_and_back() -> None:
    wf = parse_workflow(packaged("lien-thong-xa-tinh"))
    units = {step.id: step.unit for step in wf.steps}
    assert units == {
        "tiep_nhan": "receiving",
        "tham_dinh_xa": "receiving",
        "xac_nhan_xa": "receiving",
        "xu_ly_so": "competent",
        "phe_duyet_so": "competent",
        "ban_hanh": "competent",
        "tra_ket_qua": "receiving",
    }
    assert sum((step.share for step in wf.steps), Fraction(0)) == 1
    assert wf.step("xac_nhan_xa").routes[RouteAction.FORWARD] == "xu_ly_so"


def test_unknown_step_lookup_is_a_domain_error() -> None:
    wf = parse_workflow(standard())
    with pytest.raises(InvalidInput) as caught:
        wf.step("khong_co")
    assert caught.value.code == "workflow.unknown_step"


def test_a_minimal_workflow_with_named_and_kind_selectors_loads() -> None:
    data = {
        "id": "toi-gian",
        "version": 3,
        "steps": [
            {
                "id": "nhan",
                "name": "Tiếp nhận",
                "role": "receiver",
                "unit": "receiving",
                "actions": {"accept": "ky"},
            },
            {
                "id": "ky",
                "name": "Ký và trả",
                "role": "approver",
                "unit": "unit:so-tu-phap",
                "share": "1",
                "actions": {"issue_result": "tra"},
            },
            {
                "id": "tra",
                "name": "Trả",
                "role": "returner",
                "unit": "kind:phuong",
                "actions": {"return_result": END},
            },
        ],
    }
    wf = parse_workflow(data)
    assert isinstance(wf, Workflow)
    assert wf.name == "toi-gian" and wf.supplement_limit is None
    assert wf.step("ky").unit == "unit:so-tu-phap"


# ---------------------------------------------------------------- refusals


def _mutation(change: Callable[[Data], None]) -> Data:
    data = standard()
    change(data)
    return data


def _set(step_id: str, key: str, value: Any) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        step_of(data, step_id)[key] = value

    return change


def _add_step(step: Data) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        data["steps"].insert(-1, step)

    return change


def _both(*changes: Callable[[Data], None]) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        for one in changes:
            one(data)

    return change


LOOSE_STEP = {"id": "thua", "name": "Bước thừa", "role": "processor", "unit": "competent"}

REFUSALS: list[tuple[str, Callable[[Data], None], str, str]] = [
    ("unknown target", _set("xu_ly", "actions", {"forward": "khong_co"}), "unknown_target", "khong_co"),
    (
        "return_result not to the end",
        _set("tra_ket_qua", "actions", {"return_result": "xu_ly"}),
        "bad_target",
        "tra_ket_qua",
    ),
    (
        "unreachable step",
        _add_step({**LOOSE_STEP, "actions": {"forward": "phe_duyet"}}),
        "unreachable_step",
        "thua",
    ),
    (
        "dead end (a loop that never reaches the return)",
        _both(
            _set("xu_ly", "actions", {"forward": "phe_duyet", "send_back": "thua"}),
            _add_step({**LOOSE_STEP, "actions": {"send_back": "thua"}}),
        ),
        "dead_end",
        "thua",
    ),
    (
        "a path to return_result that skips issuing the result",
        _set("phe_duyet", "actions", {"approve": "ban_hanh", "forward": "tra_ket_qua"}),
        "end_without_result",
        "tra_ket_qua",
    ),
    (
        "shares 0.7 + 0.5 exceed the legal time",
        _both(_set("phe_duyet", "share", "1/2"), _set("ban_hanh", "share", 0)),
        "shares_exceed_legal_time",
        "120%",
    ),
    ("share above 1", _set("xu_ly", "share", "3/2"), "bad_share", "xu_ly"),
    ("negative share", _set("xu_ly", "share", -0.1), "bad_share", "xu_ly"),
    ("share that is not a number", _set("xu_ly", "share", "bảy phần mười"), "bad_share", "xu_ly"),
    ("share with a zero denominator", _set("xu_ly", "share", "1/0"), "bad_share", "xu_ly"),
    (
        "unit selector with spaces and capitals",
        _set("xu_ly", "unit", "unit:Phuong Sai Gon"),
        "bad_selector",
        "xu_ly",
    ),
    ("unknown unit selector", _set("xu_ly", "unit", "everywhere"), "bad_selector", "everywhere"),
    ("unknown role", _set("xu_ly", "role", "clerk"), "unknown_name", "clerk"),
    ("missing role", _set("xu_ly", "role", None), "unknown_name", "xu_ly"),
    (
        "unknown routing action",
        _set("xu_ly", "actions", {"teleport": "phe_duyet"}),
        "unknown_name",
        "teleport",
    ),
    ("unknown in-place action", _set("xu_ly", "may", ["assign", "dance"]), "unknown_name", "dance"),
    ("in-place actions not a list", _set("xu_ly", "may", 5), "bad_actions", "xu_ly"),
    ("in-place actions given as one text", _set("xu_ly", "may", "assign"), "bad_actions", "xu_ly"),
    ("routing actions not a mapping", _set("xu_ly", "actions", ["forward"]), "bad_actions", "xu_ly"),
    ("step without a name", _set("xu_ly", "name", "  "), "missing_name", "xu_ly"),
    ("bad step id", _set("xu_ly", "id", "Xu-Ly"), "bad_step_id", "Xu-Ly"),
    (
        "step that is not a mapping",
        lambda data: data["steps"].append("tra_ket_qua"),
        "bad_step",
        "tra_ket_qua",
    ),
    (
        "first step not a reception step",
        lambda data: data["steps"].insert(0, data["steps"].pop(1)),
        "bad_start",
        "tiếp nhận",
    ),
    ("reception step worked by a processor", _set("tiep_nhan", "role", "processor"), "bad_start", "receiver"),
    (
        "accept outside the reception step",
        _set("phe_duyet", "actions", {"approve": "ban_hanh", "accept": "xu_ly"}),
        "accept_outside_start",
        "phe_duyet",
    ),
    (
        "route back into the reception step",
        _set("xu_ly", "actions", {"forward": "phe_duyet", "send_back": "tiep_nhan"}),
        "route_into_start",
        "tiep_nhan",
    ),
    (
        "result issued onto a step that cannot return it",
        _set("ban_hanh", "actions", {"issue_result": "xu_ly"}),
        "result_not_returned",
        "xu_ly",
    ),
    (
        "duplicate step ids",
        lambda data: data["steps"].insert(2, copy.deepcopy(step_of(data, "xu_ly"))),
        "duplicate_step",
        "xu_ly",
    ),
    ("version zero", lambda data: data.update(version=0), "bad_version", "phiên bản"),
    ("version as text", lambda data: data.update(version="1"), "bad_version", "phiên bản"),
    ("version as a boolean", lambda data: data.update(version=True), "bad_version", "phiên bản"),
    ("missing version", lambda data: data.pop("version"), "bad_version", "phiên bản"),
    (
        "negative supplement limit",
        lambda data: data.update(supplement_limit=-1),
        "bad_supplement_limit",
        "bổ sung",
    ),
    (
        "boolean supplement limit",
        lambda data: data.update(supplement_limit=True),
        "bad_supplement_limit",
        "bổ sung",
    ),
    ("no steps", lambda data: data.update(steps=[]), "no_steps", "ít nhất một bước"),
]


@pytest.mark.parametrize(
    ("change", "code", "named"), [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
def test_structural_mistake_is_refused_with_its_code(
    change: Callable[[Data], None], code: str, named: str
) -> None:
    error = refusal(_mutation(change))
    assert error.code == f"workflow.{code}"
    assert error.message.startswith("Quy trình tieu-chuan: ")
    assert named in error.message
    assert error.details == {"workflow": "tieu-chuan"}


def test_each_refusal_case_is_valid_apart_from_its_mistake() -> None:
    """Guard against cases that fail for another reason: the untouched data loads."""
    assert parse_workflow(standard()).id == "tieu-chuan"
    assert len({case[2] for case in REFUSALS}) >= 20


@pytest.mark.parametrize("bad_id", ["", "Tieu-Chuan", "1-quy-trinh", "tiêu-chuẩn"])
def test_bad_workflow_id_is_refused(bad_id: str) -> None:
    data = standard()
    data["id"] = bad_id
    error = refusal(data)
    assert error.code == "workflow.bad_id"


@pytest.mark.parametrize("document", [["id", "tieu-chuan"], "tieu-chuan", None])
def test_a_document_that_is_not_a_mapping_is_refused(document: Any) -> None:
    assert refusal(document).code == "workflow.bad_document"


@pytest.mark.parametrize("name", ["tieu-chuan", "lien-thong-xa-tinh"])
def test_the_compiled_routes_are_the_steps_routes_looked_up_by_id(name: str) -> None:
    """`Workflow.moves` (built once for the engine) gives, for every step and route, the step `routes` names
    (None for the end), and `route_target` answers the same."""
    workflow = parse_workflow(packaged(name))
    for step in workflow.steps:
        assert set(workflow.moves[step.id]) == set(step.routes)
        for action, target in step.routes.items():
            expected = None if target == END else workflow.step(target)
            assert workflow.moves[step.id][action] is expected
            assert workflow.route_target(step, action) is expected


def test_a_route_to_an_unknown_step_is_still_refused_when_followed() -> None:
    """A workflow built without validation keeps a route to a missing step out of `moves`; following it
    raises the unknown-step refusal, and a route the step lacks a KeyError, as the lookup by id did."""
    workflow = parse_workflow(packaged("tieu-chuan"))
    first = workflow.steps[0]
    broken = Workflow(
        workflow.id, 2, workflow.name, (dataclasses.replace(first, routes={RouteAction.ACCEPT: "x"}),)
    )
    assert broken.moves[first.id] == {}
    with pytest.raises(InvalidInput) as caught:
        broken.route_target(broken.steps[0], RouteAction.ACCEPT)
    assert caught.value.code == "workflow.unknown_step"
    with pytest.raises(KeyError):
        broken.route_target(broken.steps[0], RouteAction.FORWARD)
