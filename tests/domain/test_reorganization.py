"""Reorganisation plans (domain/reorganization.py): random valid plans load and check; each kind of mistake is
refused with its stable code and the path in the file; a moved dossier's log still replays to its state."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from motcua.domain.clock import VN_TZ
from motcua.domain.errors import InvalidInput
from motcua.domain.lifecycle import Action, Actor, ActorKind, Status, replay
from motcua.domain.reorganization import check_plan, move_dossier, parse_plan
from motcua.domain.units import Unit, UnitDirectory, UnitKind
from motcua.domain.workflow import Role
from tests.domain.test_lifecycle import PROCESSOR, RECEIVER, TIEU_CHUAN, context, open_dossier

TODAY = date(2026, 3, 2)
START = date(2025, 7, 1)
N_WARDS = 8
EXAMPLE = Path(__file__).parents[2] / "motcua" / "data" / "reorganization"
ADMIN = Actor("tp.quantri", ActorKind.OFFICER, frozenset({Role.CITY_ADMIN}), "tp", "Quản trị")


def _unit(
    unit_id: str, code: str, name: str, kind: UnitKind, parent: str | None, area: str | None = None
) -> Unit:
    return Unit(unit_id, code, name, kind, parent, area, None, START, None)


def registry() -> list[Unit]:
    units = [
        _unit("tp", "000.00.00.H29", "Thành phố", UnitKind.CITY, None),
        _unit("ca-tp", "000.00.00.G01", "Công an Thành phố", UnitKind.CITY_POLICE, "tp"),
        _unit("so-a", "000.00.01.H29", "Sở A", UnitKind.DEPARTMENT, "tp"),
        _unit("so-b", "000.00.02.H29", "Sở B", UnitKind.DEPARTMENT, "tp"),
    ]
    for n in range(N_WARDS):
        units.append(_unit(f"p-{n}", f"{n + 1:03d}.00.70.H29", f"Phường {n}", UnitKind.WARD, "tp"))
        units.append(
            _unit(
                f"ca-p-{n}",
                f"{n + 1:03d}.00.29.G01",
                f"Công an phường {n}",
                UnitKind.COMMUNE_POLICE,
                "ca-tp",
                f"p-{n}",
            )
        )
    return units


CURRENT = UnitDirectory(registry(), TODAY)
KNOWN = frozenset(unit.id for unit in registry()) | {"p-cu"}  # an id used once, long closed
COMPETENT = {"1.000001": "so-a", "1.000002": "receiving", "1.000003": "p-1"}


def check(text: str) -> Any:
    return check_plan(parse_plan(text), today=TODAY, current=CURRENT, known_ids=KNOWN, competent_of=COMPETENT)


def merge_op(target: str, sources: list[str], *, new_code: str, police: bool = False) -> dict[str, Any]:
    if police:
        into = {
            "id": f"ca-{target}",
            "name": f"Công an phường mới {target}",
            "kind": "cong_an_xa",
            "agency_code": new_code,
            "parent_id": "ca-tp",
            "area_id": target,
        }
        return {"merge": {"into": into, "from": [f"ca-{s}" for s in sources]}}
    into = {
        "id": target,
        "name": f"Phường mới {target}",
        "kind": "phuong",
        "agency_code": new_code,
        "parent_id": "tp",
    }
    return {"merge": {"into": into, "from": sources}}


def document(operations: list[dict[str, Any]], *, effective: date = TODAY, **top: Any) -> dict[str, Any]:
    return {
        "id": "ke-hoach-thu",
        "title": "Phương án thử",
        "legal_basis": "Nghị quyết thử số 1/NQ-TEST",
        "effective": effective,
        "operations": operations,
        **top,
    }


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@st.composite
def valid_plans(draw: st.DrawFn) -> dict[str, Any]:
    """Disjoint groups of wards merged (each with its police) into new wards, maybe a rename, maybe a
    procedure moved between departments."""
    wards = draw(st.permutations(range(N_WARDS)))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    operations: list[dict[str, Any]] = []
    used = 0
    for group_index, size in enumerate(sizes):
        group = [f"p-{n}" for n in wards[used : used + size]]
        used += size
        if not group:
            break
        target = f"p-moi-{group_index}"
        operations.append(merge_op(target, group, new_code=f"{200 + group_index}.00.70.H29"))
        operations.append(merge_op(target, group, new_code=f"{200 + group_index}.00.29.G01", police=True))
    untouched = [f"p-{n}" for n in wards[used:]]
    if untouched and draw(st.booleans()):
        operations.append({"rename": {"unit": untouched[0], "name": "Phường Đổi Tên"}})
    if draw(st.booleans()):
        operations.append(
            {"reassign_procedures": [{"procedure": "1.000001", "competent": {"from": "so-a", "to": "so-b"}}]}
        )
    effective = TODAY + timedelta(days=draw(st.integers(0, 400)))
    return document(operations, effective=effective)


@settings(max_examples=60, deadline=None)
@given(doc=valid_plans())
def test_a_valid_plan_loads_and_checks(doc: dict[str, Any]) -> None:
    checked = check(dump(doc))
    plan = checked.plan
    merged = [op["merge"] for op in doc["operations"] if "merge" in op]
    assert plan.closing == {source for m in merged for source in m["from"]}
    assert {unit.id for unit in checked.opening} >= {m["into"]["id"] for m in merged}
    assert all(unit.valid_from == plan.effective for unit in checked.opening)
    for merge in merged:
        for source in merge["from"]:
            assert plan.successors[source] == merge["into"]["id"]
    assert plan.officer_moves == plan.successors  # by default the officers follow the dossiers
    if "p-1" in plan.closing:  # a procedure whose competent unit closes follows it
        assert [
            (ra.procedure, ra.competent_to) for ra in checked.reassignments if ra.procedure == "1.000003"
        ] == [("1.000003", plan.successors["p-1"])]


MUTATIONS = ("unknown_unit", "past_date", "closed_and_target", "duplicate_unit", "cycle", "unknown_procedure",
             "competent_mismatch", "unit_exists", "dangling_reference", "bad_field", "bad_operation",
             "duplicate_procedure", "invalid_result", "bad_date", "bad_unit")  # fmt: skip


def mutate(doc: dict[str, Any], kind: str) -> tuple[dict[str, Any], str]:
    """The document broken one way, and the path the problem must name."""
    ops = doc["operations"]
    first = ops[0]["merge"]
    if kind == "unknown_unit":
        first["from"].append("p-khong-co")
        return doc, f"operations[0].merge.from[{len(first['from']) - 1}]"
    if kind == "past_date":
        doc["effective"] = TODAY - timedelta(days=1)
        return doc, "effective"
    if kind == "closed_and_target":
        ops.append({"rename": {"unit": first["from"][0], "name": "Phường Lạ"}})
        return doc, f"operations[{len(ops) - 1}].rename.unit"
    if kind == "duplicate_unit":
        ops.append({"merge": {"into": "so-b", "from": [first["from"][0]]}})
        return doc, f"operations[{len(ops) - 1}].merge.from[0]"
    if kind == "cycle":
        doc["operations"] = [
            {"merge": {"into": "p-1", "from": ["p-0"]}},
            {"merge": {"into": "p-0", "from": ["p-1"]}},
        ]
        return doc, "operations[0].merge.from[0]"
    if kind == "unknown_procedure":
        ops.append(
            {"reassign_procedures": [{"procedure": "9.999999", "competent": {"from": "so-a", "to": "so-b"}}]}
        )
        return doc, f"operations[{len(ops) - 1}].reassign_procedures[0].procedure"
    if kind == "competent_mismatch":
        ops.append(
            {"reassign_procedures": [{"procedure": "1.000002", "competent": {"from": "so-b", "to": "tp"}}]}
        )
        return doc, f"operations[{len(ops) - 1}].reassign_procedures[0].competent.from"
    if kind == "unit_exists":
        first["into"]["id"] = "p-cu"
        return doc, "operations[0].merge.into.id"
    if kind == "dangling_reference":
        doc["operations"] = [
            op for op in ops if "merge" not in op or op["merge"]["into"].get("kind") != "cong_an_xa"
        ]
        return doc, "operations[0].merge.from[0]"
    if kind == "bad_field":
        doc["extra"] = 1
        return doc, "extra"
    if kind == "bad_operation":
        ops.append({"dissolve": {"unit": "p-7"}})
        return doc, f"operations[{len(ops) - 1}]"
    if kind == "duplicate_procedure":
        entry = {"procedure": "1.000002", "competent": {"from": "receiving", "to": "so-b"}}
        ops.append({"reassign_procedures": [entry, dict(entry)]})
        return doc, f"operations[{len(ops) - 1}].reassign_procedures[1].procedure"
    if kind == "invalid_result":  # the new ward takes an agency code another unit keeps
        first["into"]["agency_code"] = "008.00.70.H29"
        if "p-7" in first["from"] or any("p-7" in op.get("merge", {}).get("from", []) for op in ops):
            first["into"]["agency_code"] = "000.00.02.H29"
        return doc, "operations"
    if kind == "bad_date":
        doc["effective"] = "01/07/2026"
        return doc, "effective"
    first["into"]["agency_code"] = "not-a-code"  # bad_unit
    return doc, "operations[0].merge.into"


@settings(max_examples=120, deadline=None)
@given(doc=valid_plans(), kind=st.sampled_from(MUTATIONS))
def test_a_mutated_plan_fails_with_its_code_and_path(doc: dict[str, Any], kind: str) -> None:
    broken, path = mutate(doc, kind)
    with pytest.raises(InvalidInput) as caught:
        check(dump(broken))
    codes = [problem["code"] for problem in caught.value.details.get("problems", [])] or [caught.value.code]
    assert f"reorg.{kind}" in codes, caught.value.details
    problems = {p["path"]: p for p in caught.value.details["problems"] if p["code"] == f"reorg.{kind}"}
    assert path in problems, problems
    problem = problems[path]
    assert "Phương án sắp xếp" in problem["message"] and path in problem["message"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("id: [unclosed", "reorg.bad_yaml"),
        ("- a list", "reorg.bad_field"),
        ("id: x\ntitle: t\nlegal_basis: b\neffective: 2026-03-02\noperations: []", "reorg.bad_field"),
    ],
)
def test_unreadable_documents(text: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(text)
    assert caught.value.code == code


def test_the_shipped_example_is_valid() -> None:
    for path in EXAMPLE.glob("*.yaml"):
        plan = parse_plan(path.read_text(encoding="utf-8"))
        assert plan.id.startswith("vi-du-") and plan.closing


def test_a_split_sends_the_dossiers_to_the_named_part_and_links_every_part() -> None:
    doc = document(
        [
            {
                "split": {
                    "unit": "so-a",
                    "into": [
                        "so-b",
                        {
                            "id": "so-c",
                            "name": "Sở C",
                            "kind": "so",
                            "agency_code": "000.00.03.H29",
                            "parent_id": "tp",
                        },
                    ],
                    "dossiers_to": "so-c",
                }
            }
        ]
    )
    checked = check(dump(doc))
    assert checked.plan.successors == {"so-a": "so-c"}
    assert set(checked.plan.lineage) == {("so-a", "so-b"), ("so-a", "so-c")}
    assert [(ra.procedure, ra.competent_to) for ra in checked.reassignments] == [("1.000001", "so-c")]


def vn(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VN_TZ)  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(
    moves=st.sets(st.sampled_from(["receiving", "competent"]), min_size=1),
    accepted=st.booleans(),
    later=st.integers(1, 60 * 24 * 20),
)
def test_a_moved_dossier_replays_to_its_state_and_keeps_its_code_and_deadlines(
    moves: set[str], accepted: bool, later: int
) -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8, 0))
    if accepted:
        d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9, 0))
    successors = {getattr(d.state, f"{name}_unit_id"): f"moi-{name}" for name in moves}
    at = d.last_at + timedelta(minutes=later)

    moved = move_dossier(d.state, successors, plan_id="ke-hoach", legal_basis="NQ", at=at, actor=ADMIN)

    assert moved is not None
    state, event = moved
    assert event.type is Action.REORGANIZE and event.seq == d.state.version + 1
    assert replay([*d.events, event]) == state
    for name in ("code", "due_at", "legal_due_at", "step_due_at", "status", "step", "pauses"):
        assert getattr(state, name) == getattr(d.state, name)
    assert state.receiving_unit_id == successors.get(d.state.receiving_unit_id, d.state.receiving_unit_id)
    assert state.status in (Status.SUBMITTED, Status.ACCEPTED, Status.IN_PROCESS)
    assert move_dossier(d.state, {"khac": "moi"}, plan_id="x", legal_basis="y", at=at, actor=ADMIN) is None


def split_doc(**extra: Any) -> dict[str, Any]:
    split = {"unit": "so-a", "into": ["so-b", "so-c"], "dossiers_to": "so-c", **extra}
    return document([{"split": split}])


@pytest.mark.parametrize(
    ("operation", "officers", "expected"),
    [
        ("split", None, {"so-a": "so-c"}),  # default: the part the dossiers go to
        ("split", "so-b", {"so-a": "so-b"}),
        ("split", "keep", {}),
        ("merge", None, {"p-1": "p-2"}),
        ("merge", "move", {"p-1": "p-2"}),
        ("merge", "keep", {}),
    ],
)
def test_the_plan_says_where_the_closed_units_officers_go(
    operation: str, officers: str | None, expected: dict[str, str]
) -> None:
    extra = {} if officers is None else {"officers": officers}
    doc = (
        split_doc(**extra)
        if operation == "split"
        else document([{"merge": {"into": "p-2", "from": ["p-1"], **extra}}])
    )
    assert parse_plan(dump(doc)).officer_moves == expected


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (split_doc(officers="so-x"), "operations[0].split.officers"),
        (split_doc(officers=None), "operations[0].split.officers"),
        (
            document([{"merge": {"into": "p-2", "from": ["p-1"], "officers": "chuyen"}}]),
            "operations[0].merge.officers",
        ),
    ],
)
def test_a_bad_officers_value_is_reported_with_its_path(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        parse_plan(dump(doc))
    assert bad.value.code == "reorg.bad_field" and bad.value.details["path"] == path


@settings(max_examples=20, deadline=None)
@given(moved_to=st.sampled_from(["p-moi", "p-khac", None]))
def test_an_assignee_stays_only_if_their_account_moves_to_the_steps_new_unit(moved_to: str | None) -> None:
    d = open_dossier(context(TIEU_CHUAN), vn(2026, 3, 2, 8, 0))
    d.do(Action.ACCEPT, RECEIVER, vn(2026, 3, 2, 9, 0))
    d.act(Action.ASSIGN, PROCESSOR, vn(2026, 3, 2, 9, 30), assignee_id=PROCESSOR.id)
    officers = {} if moved_to is None else {PROCESSOR.id: moved_to}  # None: the plan keeps the officers

    moved = move_dossier(
        d.state,
        {d.state.step_unit_id: "p-moi"},
        plan_id="k",
        legal_basis="NQ",
        at=vn(2026, 3, 3, 7),
        actor=ADMIN,
        officers=officers,
    )

    assert moved is not None
    state, event = moved
    assert replay([*d.events, event]) == state
    assert state.step_unit_id == "p-moi"
    assert state.assignee_id == (PROCESSOR.id if moved_to == "p-moi" else None)
