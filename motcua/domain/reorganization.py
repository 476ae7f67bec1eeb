"""Reorganisation plans as data: merge, split, rename or recode units, move procedures' competence.

A plan is a YAML document (example: `motcua/data/reorganization/`):

    id: vi-du-sap-nhap-2026            # slug, unique; a plan is applied once (by its SHA-256)
    title: "Sáp nhập …"                 # Vietnamese
    legal_basis: "Nghị quyết số …"      # the decision: number and date
    effective: 2026-07-01               # the day the old units close and the new ones open
    operations:
      - merge: {into: <unit id, or a new unit's attributes>, from: [unit ids], officers: move}  # or keep
      - split: {unit: <id>, into: [<id or new unit>, …], dossiers_to: <one of `into`>,
                officers: <one of `into`, or keep>}     # default: the `dossiers_to` part
      - rename: {unit: <id>, name: "…"}          # a new version of the unit, same id
      - recode: {unit: <id>, agency_code: "…"}   # idem, a new agency code
      - reassign_procedures:
          - {procedure: 1.001193, competent: {from: <current competent>, to: <unit id>}}

Rules, checked on load (`parse_plan`: the document alone) and against the registry and the catalog of the day
(`check_plan`): every problem is reported with a stable code, the path in the file and a Vietnamese message.
The units a merge or split closes end on `effective` (their versions stay: old codes resolve on old dates);
the open dossiers of a closed unit go to its successor (`successors`): the merge's target, the split's
`dossiers_to`. Its officer accounts, with their roles, go to `officer_moves` (the merge's target unless
`officers: keep`; the split's `officers` part, by default `dossiers_to`); with `keep` they stay on the closed
unit, where they can no longer act. `move_dossier` is that move for one dossier: one `reorganize` event on its
history, its code and deadlines unchanged. Pure: no clock, no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml

from motcua.domain.errors import DomainError, InvalidInput
from motcua.domain.identifiers import parse_agency_code
from motcua.domain.lifecycle import Action, Actor, DossierState, Event, diff
from motcua.domain.text import clean
from motcua.domain.units import Unit, UnitDirectory, UnitKind

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PROCEDURE_CODE = re.compile(r"\d\.\d{6}")
_PLAN_KEYS = ("id", "title", "legal_basis", "effective", "operations")
_NEW_UNIT_KEYS = frozenset({"id", "name", "kind", "agency_code", "parent_id", "area_id", "gso_code"})
OPERATIONS = ("merge", "split", "rename", "recode", "reassign_procedures")
MOVE, KEEP = "move", "keep"  # a merge's `officers:` (a split names the part, or `keep`)
# The dossier's unit fields a reorganisation moves (the engine's state and the projection row hold all three).
UNIT_FIELDS = ("receiving_unit_id", "competent_unit_id", "step_unit_id")


@dataclass(frozen=True)
class PlanProblem:
    """One problem in a plan: stable code, where in the file, Vietnamese message (which names the path)."""

    code: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class NewUnit:
    """A unit the plan creates (its first version opens on the plan's effective day)."""

    id: str
    name: str
    kind: UnitKind
    agency_code: str
    parent_id: str | None
    area_id: str | None
    gso_code: str | None

    def version(self, valid_from: date, predecessors: tuple[str, ...] = ()) -> Unit:
        return Unit(
            id=self.id,
            agency_code=self.agency_code,
            name=self.name,
            kind=self.kind,
            parent_id=self.parent_id,
            area_id=self.area_id,
            gso_code=self.gso_code,
            valid_from=valid_from,
            valid_to=None,
            predecessors=predecessors,
        )


@dataclass(frozen=True)
class Merge:
    path: str
    into: str
    new: NewUnit | None  # None: `into` is an existing unit
    sources: tuple[str, ...]
    officers: str = MOVE  # MOVE: the sources' officer accounts go to `into`; KEEP: they stay


@dataclass(frozen=True)
class Split:
    path: str
    unit: str
    into: tuple[str, ...]
    new: tuple[NewUnit, ...]  # the `into` units the plan creates
    dossiers_to: str
    officers_to: str | None = None  # the part the unit's officer accounts go to; None: they stay (`keep`)


@dataclass(frozen=True)
class Revision:
    """A rename and/or recode: a new version of an existing unit with the same id."""

    path: str
    unit: str
    name: str | None
    agency_code: str | None


@dataclass(frozen=True)
class Reassignment:
    path: str
    procedure: str
    competent_from: str  # the catalog's current value: a unit id, `receiving` or `kind:<kind>`
    competent_to: str  # a unit id


@dataclass(frozen=True)
class Plan:
    id: str
    title: str
    legal_basis: str
    effective: date
    merges: tuple[Merge, ...]
    splits: tuple[Split, ...]
    revisions: tuple[Revision, ...]
    reassignments: tuple[Reassignment, ...]
    sha256: str  # of the file's bytes (UTF-8): what "applied once" is checked against

    @property
    def successors(self) -> dict[str, str]:
        """Each unit the plan closes → the unit its open dossiers move to."""
        moves = {source: merge.into for merge in self.merges for source in merge.sources}
        moves.update({split.unit: split.dossiers_to for split in self.splits})
        return moves

    @property
    def officer_moves(self) -> dict[str, str]:
        """Each closed unit whose officer accounts move → the unit they move to (with their roles)."""
        moves = {source: m.into for m in self.merges if m.officers == MOVE for source in m.sources}
        moves.update({s.unit: s.officers_to for s in self.splits if s.officers_to is not None})
        return moves

    @property
    def closing(self) -> frozenset[str]:
        return frozenset(self.successors)

    @property
    def new_units(self) -> tuple[NewUnit, ...]:
        merged = tuple(merge.new for merge in self.merges if merge.new is not None)
        return merged + tuple(unit for split in self.splits for unit in split.new)

    @property
    def lineage(self) -> tuple[tuple[str, str], ...]:
        """(predecessor, successor) links: every merged unit → the target; a split unit → each part."""
        links = [(source, merge.into) for merge in self.merges for source in merge.sources]
        links += [(split.unit, part) for split in self.splits for part in split.into]
        return tuple(links)


def plan_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- reading the file


class _Reader:
    """Collects every problem of a plan instead of stopping at the first (catalog's `_EntryReader` style)."""

    def __init__(self) -> None:
        self.problems: list[PlanProblem] = []

    def fail(self, code: str, path: str, message: str) -> None:
        self.problems.append(PlanProblem(code, path, f"Phương án sắp xếp, mục «{path}»: {message}"))

    def text(self, path: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail("reorg.bad_field", path, "phải là một chuỗi văn bản không rỗng.")
            return None
        return clean(value)

    def slug(self, path: str, value: Any) -> str | None:
        if not isinstance(value, str) or not _SLUG.fullmatch(value):
            self.fail(
                "reorg.bad_field",
                path,
                f"{value!r} không phải mã đơn vị (chữ thường không dấu nối bằng «-»).",
            )
            return None
        return value

    def mapping(self, path: str, value: Any, keys: Sequence[str], optional: Set[str] = frozenset()) -> bool:
        if not isinstance(value, Mapping):
            self.fail("reorg.bad_field", path, "phải là một đối tượng (các cặp khóa: giá trị).")
            return False
        ok = True
        for key in value:
            if key not in keys:
                self.fail(
                    "reorg.bad_field", _join(path, key), "trường này không có trong định dạng phương án."
                )
                ok = False
        for key in keys:
            if key not in value and key not in optional:
                self.fail("reorg.bad_field", _join(path, key), "thiếu trường bắt buộc.")
                ok = False
        return ok

    def slugs(self, path: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            self.fail("reorg.bad_field", path, "phải là một danh sách mã đơn vị không rỗng.")
            return []
        return [slug for i, item in enumerate(value) if (slug := self.slug(f"{path}[{i}]", item)) is not None]


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def parse_plan(text: str) -> Plan:
    """Read and validate a plan document on its own (`check_plan` checks it against the day's registry).

    Raises one `InvalidInput` carrying every problem (`details["problems"]`); its code and message are the
    first problem's."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (dòng {mark.line + 1})" if mark is not None else ""
        raise InvalidInput(
            "reorg.bad_yaml", f"Tệp phương án sắp xếp không phải YAML hợp lệ{where}."
        ) from None
    r = _Reader()
    if not r.mapping("", data, _PLAN_KEYS):
        _raise(r.problems)
    plan_id = r.slug("id", data.get("id"))
    title = r.text("title", data.get("title"))
    legal_basis = r.text("legal_basis", data.get("legal_basis"))
    effective = _as_date(data.get("effective"))
    if effective is None:
        r.fail("reorg.bad_date", "effective", "phải là một ngày dạng YYYY-MM-DD.")
    merges: list[Merge] = []
    splits: list[Split] = []
    revisions: dict[str, Revision] = {}
    reassignments: list[Reassignment] = []
    operations = data.get("operations")
    if not isinstance(operations, list) or not operations:
        r.fail("reorg.bad_field", "operations", "phải là một danh sách thao tác không rỗng.")
        operations = []
    for index, operation in enumerate(operations):
        path = f"operations[{index}]"
        if (
            not isinstance(operation, Mapping)
            or len(operation) != 1
            or next(iter(operation)) not in OPERATIONS
        ):
            r.fail("reorg.bad_operation", path, f"mỗi thao tác là một trong: {', '.join(OPERATIONS)}.")
            continue
        name, body = next(iter(operation.items()))
        path = f"{path}.{name}"
        if name == "merge":
            merge = _merge(r, path, body)
            merges += [merge] if merge is not None else []
        elif name == "split":
            split = _split(r, path, body)
            splits += [split] if split is not None else []
        elif name in ("rename", "recode"):
            _revision(r, path, name, body, revisions)
        else:
            reassignments += _reassignments(r, path, body)
    if r.problems or plan_id is None or title is None or legal_basis is None or effective is None:
        _raise(r.problems)
    assert plan_id is not None and title is not None and legal_basis is not None and effective is not None
    plan = Plan(
        id=plan_id,
        title=title,
        legal_basis=legal_basis,
        effective=effective,
        merges=tuple(merges),
        splits=tuple(splits),
        revisions=tuple(revisions.values()),
        reassignments=tuple(reassignments),
        sha256=plan_digest(text),
    )
    _check_consistency(r, plan)
    _raise(r.problems)
    return plan


def _raise(problems: list[PlanProblem]) -> None:
    if problems:
        first = problems[0]
        raise InvalidInput(
            first.code, first.message, path=first.path, problems=[p.as_dict() for p in problems]
        )


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _new_unit(r: _Reader, path: str, value: Any) -> NewUnit | None:
    if not r.mapping(path, value, sorted(_NEW_UNIT_KEYS), {"parent_id", "area_id", "gso_code"}):
        return None
    unit_id = r.slug(f"{path}.id", value["id"])
    name = r.text(f"{path}.name", value["name"])
    try:
        kind = UnitKind(value["kind"])
    except ValueError:
        r.fail("reorg.bad_field", f"{path}.kind", f"loại đơn vị {value['kind']!r} không hợp lệ.")
        return None
    references: dict[str, str | None] = {}
    for key in ("parent_id", "area_id"):
        raw = value.get(key)
        references[key] = None if raw is None else r.slug(f"{path}.{key}", raw)
    gso = value.get("gso_code")
    if unit_id is None or name is None:
        return None
    unit = NewUnit(
        id=unit_id,
        name=name,
        kind=kind,
        agency_code=str(value["agency_code"]).strip(),
        parent_id=references["parent_id"],
        area_id=references["area_id"],
        gso_code=None if gso is None else str(gso),
    )
    try:
        unit.version(date(2000, 1, 1))  # the registry's own checks: name, agency code, GSO code, parent
    except DomainError as exc:
        r.fail("reorg.bad_unit", path, exc.message)
        return None
    return unit


def _unit_ref(r: _Reader, path: str, value: Any) -> tuple[str | None, NewUnit | None]:
    """An existing unit's id, or a new unit's attributes: (id, the new unit or None)."""
    if isinstance(value, Mapping):
        unit = _new_unit(r, path, value)
        return (None, None) if unit is None else (unit.id, unit)
    return r.slug(path, value), None


def _merge(r: _Reader, path: str, body: Any) -> Merge | None:
    if not r.mapping(path, body, ("into", "from", "officers"), {"officers"}):
        return None
    into, new = _unit_ref(r, f"{path}.into", body["into"])
    sources = r.slugs(f"{path}.from", body["from"])
    officers = body.get("officers", MOVE)
    if officers not in (MOVE, KEEP):
        r.fail(
            "reorg.bad_field",
            f"{path}.officers",
            f"phải là «{MOVE}» (chuyển cán bộ sang đơn vị nhận) hoặc «{KEEP}» (giữ nguyên), không phải "
            f"{officers!r}.",
        )
        return None
    if into is None or not sources:
        return None
    return Merge(path, into, new, tuple(sources), officers)


def _split(r: _Reader, path: str, body: Any) -> Split | None:
    if not r.mapping(path, body, ("unit", "into", "dossiers_to", "officers"), {"officers"}):
        return None
    unit = r.slug(f"{path}.unit", body["unit"])
    parts = body["into"]
    if not isinstance(parts, list) or not parts:
        r.fail("reorg.bad_field", f"{path}.into", "phải là một danh sách đơn vị không rỗng.")
        return None
    refs = [_unit_ref(r, f"{path}.into[{i}]", part) for i, part in enumerate(parts)]
    into = [unit_id for unit_id, _ in refs if unit_id is not None]
    dossiers_to = r.slug(f"{path}.dossiers_to", body["dossiers_to"])
    if dossiers_to is not None and dossiers_to not in into:
        r.fail("reorg.bad_field", f"{path}.dossiers_to", f"«{dossiers_to}» phải là một đơn vị trong «into».")
        return None
    officers = body.get("officers", dossiers_to)
    if (officers is not None or "officers" in body) and officers != KEEP and officers not in into:
        r.fail(
            "reorg.bad_field",
            f"{path}.officers",
            f"phải là một đơn vị trong «into» (nơi cán bộ chuyển đến) hoặc «{KEEP}», không phải {officers!r}.",
        )
        return None
    if unit is None or dossiers_to is None or len(into) != len(refs):
        return None
    new = tuple(new for _, new in refs if new is not None)
    return Split(path, unit, tuple(into), new, dossiers_to, None if officers == KEEP else officers)


def _revision(r: _Reader, path: str, name: str, body: Any, revisions: dict[str, Revision]) -> None:
    field_name = "name" if name == "rename" else "agency_code"
    if not r.mapping(path, body, ("unit", field_name)):
        return
    unit = r.slug(f"{path}.unit", body["unit"])
    value = r.text(f"{path}.{field_name}", body[field_name])
    if unit is None or value is None:
        return
    if field_name == "agency_code":
        try:
            parse_agency_code(value)
        except DomainError as exc:
            r.fail("reorg.bad_unit", f"{path}.agency_code", exc.message)
            return
    earlier = revisions.get(unit)
    if earlier is not None and getattr(earlier, field_name) is not None:
        r.fail("reorg.duplicate_unit", f"{path}.unit", f"«{unit}» đã được {name} ở «{earlier.path}».")
        return
    base = earlier or Revision(path, unit, None, None)
    revisions[unit] = dataclasses.replace(base, **{field_name: value})


def _reassignments(r: _Reader, path: str, body: Any) -> list[Reassignment]:
    if not isinstance(body, list) or not body:
        r.fail("reorg.bad_field", path, "phải là một danh sách thủ tục không rỗng.")
        return []
    found: list[Reassignment] = []
    for index, entry in enumerate(body):
        where = f"{path}[{index}]"
        if not r.mapping(where, entry, ("procedure", "competent")):
            continue
        code = str(entry["procedure"]).strip()
        if not _PROCEDURE_CODE.fullmatch(code):
            r.fail("reorg.bad_field", f"{where}.procedure", f"mã thủ tục {code!r} không đúng dạng d.dddddd.")
            continue
        competent = entry["competent"]
        if not r.mapping(f"{where}.competent", competent, ("from", "to")):
            continue
        source = r.text(f"{where}.competent.from", competent["from"])
        target = r.slug(f"{where}.competent.to", competent["to"])
        if source is None or target is None:
            continue
        if source == target:
            r.fail("reorg.bad_field", f"{where}.competent", "đơn vị mới trùng đơn vị hiện tại.")
            continue
        found.append(Reassignment(where, code, source, target))
    return found


def _check_consistency(r: _Reader, plan: Plan) -> None:
    """Rules across operations: each unit closed once, new ids unique, no cycle, no closed unit as a target,
    each procedure reassigned once."""
    closed_at: dict[str, str] = {}
    for merge in plan.merges:
        for i, source in enumerate(merge.sources):
            _close_once(r, closed_at, source, f"{merge.path}.from[{i}]")
    for split in plan.splits:
        _close_once(r, closed_at, split.unit, f"{split.path}.unit")
    created: dict[str, str] = {}
    for merge in plan.merges:
        if merge.new is not None:
            _create_once(r, created, merge.new.id, f"{merge.path}.into.id")
    for split in plan.splits:
        for i, part in enumerate(split.into):
            if any(new.id == part for new in split.new):
                _create_once(r, created, part, f"{split.path}.into[{i}].id")
    successors = plan.successors
    for unit in successors:  # a cycle: following the successors from a unit comes back to it
        seen = [unit]
        current = successors.get(unit)
        while current is not None and current not in seen:
            seen.append(current)
            current = successors.get(current)
        if current == unit:
            chain = " → ".join([*seen, unit])
            r.fail("reorg.cycle", closed_at[unit], f"các đơn vị kế thừa nhau thành vòng: {chain}.")
            return
    targets = [(merge.into, f"{merge.path}.into") for merge in plan.merges]
    targets += [(part, f"{s.path}.into[{i}]") for s in plan.splits for i, part in enumerate(s.into)]
    targets += [(rev.unit, f"{rev.path}.unit") for rev in plan.revisions]
    targets += [(ra.competent_to, f"{ra.path}.competent.to") for ra in plan.reassignments]
    for unit, path in targets:
        if unit in closed_at:
            r.fail(
                "reorg.closed_and_target",
                path,
                f"«{unit}» vừa bị đóng (ở «{closed_at[unit]}») vừa là đơn vị nhận trong phương án.",
            )
    first_seen: dict[str, str] = {}
    for ra in plan.reassignments:
        if ra.procedure in first_seen:
            r.fail(
                "reorg.duplicate_procedure",
                f"{ra.path}.procedure",
                f"thủ tục {ra.procedure} đã được giao lại ở «{first_seen[ra.procedure]}».",
            )
        first_seen.setdefault(ra.procedure, ra.path)


def _close_once(r: _Reader, closed_at: dict[str, str], unit: str, path: str) -> None:
    if unit in closed_at:
        r.fail("reorg.duplicate_unit", path, f"«{unit}» đã được đóng ở «{closed_at[unit]}».")
    closed_at.setdefault(unit, path)


def _create_once(r: _Reader, created: dict[str, str], unit: str, path: str) -> None:
    if unit in created:
        r.fail("reorg.duplicate_unit", path, f"đơn vị mới «{unit}» đã được khai báo ở «{created[unit]}».")
    created.setdefault(unit, path)


# ---------------------------------------------------------------- against the registry and catalog of the day


@dataclass(frozen=True)
class CheckedPlan:
    """A plan checked against the registry and catalog of `today`: what applying it on `effective` stores."""

    plan: Plan
    opening: tuple[Unit, ...]  # new units and new versions of revised units, valid from `effective`
    closing: tuple[Unit, ...]  # the current versions that end on `effective` (closed or revised units)
    reassignments: tuple[Reassignment, ...]  # the plan's, then those implied by a closing competent unit


def check_plan(
    plan: Plan,
    *,
    today: date,
    current: UnitDirectory,
    known_ids: Set[str],
    competent_of: Mapping[str, str],
) -> CheckedPlan:
    """Check `plan` against the units valid `today` (`current`), every unit id ever stored (`known_ids`: an id
    is never reused) and the current competent value of each procedure the city offers (`competent_of`).

    Procedures whose competent unit closes and that the plan does not reassign follow the unit: an implied
    reassignment to its successor (listed in the result). The registry as it would be on `effective` must
    hold together (parents and areas open, agency codes unique, no cycle). Raises `InvalidInput` with every
    problem found."""
    r = _Reader()
    if plan.effective < today:
        r.fail("reorg.past_date", "effective", f"ngày hiệu lực {plan.effective} đã qua (hôm nay {today}).")
    new_ids = {unit.id for unit in plan.new_units}
    for unit in plan.new_units:
        if unit.id in known_ids:
            r.fail("reorg.unit_exists", _path_of_new(plan, unit.id), f"mã đơn vị «{unit.id}» đã được dùng.")
    for unit_id, path in _existing_references(plan):
        if unit_id not in new_ids and unit_id not in current:
            r.fail("reorg.unknown_unit", path, f"không có đơn vị «{unit_id}» hiệu lực ngày {today}.")
    explicit = {ra.procedure for ra in plan.reassignments}
    for ra in plan.reassignments:
        found = competent_of.get(ra.procedure)
        if found is None:
            r.fail(
                "reorg.unknown_procedure",
                f"{ra.path}.procedure",
                f"thủ tục {ra.procedure} không có trong danh mục Thành phố.",
            )
        elif found != ra.competent_from:
            r.fail(
                "reorg.competent_mismatch",
                f"{ra.path}.competent.from",
                f"cơ quan có thẩm quyền hiện tại của thủ tục {ra.procedure} là «{found}», không phải "
                f"«{ra.competent_from}».",
            )
    if r.problems:
        _raise(r.problems)
    successors = plan.successors
    implied = tuple(
        Reassignment("(kéo theo)", code, competent, successors[competent])
        for code, competent in sorted(competent_of.items())
        if competent in successors and code not in explicit
    )
    closing_versions = [current.get(unit_id) for unit_id in sorted(plan.closing)]
    revised = [
        dataclasses.replace(
            current.get(rev.unit),
            name=rev.name or current.get(rev.unit).name,
            agency_code=rev.agency_code or current.get(rev.unit).agency_code,
            valid_from=plan.effective,
            valid_to=None,
            predecessors=(),
        )
        for rev in plan.revisions
    ]
    predecessors: dict[str, list[str]] = {}
    for before, after in plan.lineage:
        predecessors.setdefault(after, []).append(before)
    opening = [u.version(plan.effective, tuple(predecessors.get(u.id, ()))) for u in plan.new_units] + revised
    _check_result(r, plan, current, opening)
    _raise(r.problems)
    ended = closing_versions + [current.get(rev.unit) for rev in plan.revisions]
    return CheckedPlan(plan, tuple(opening), tuple(ended), plan.reassignments + implied)


def _path_of_new(plan: Plan, unit_id: str) -> str:
    for merge in plan.merges:
        if merge.new is not None and merge.new.id == unit_id:
            return f"{merge.path}.into.id"
    for split in plan.splits:
        for i, part in enumerate(split.into):
            if part == unit_id:
                return f"{split.path}.into[{i}].id"
    return "operations"


def _existing_references(plan: Plan) -> list[tuple[str, str]]:
    """Every unit the plan names that must exist (unless the plan creates it), with its path."""
    refs: list[tuple[str, str]] = []
    for merge in plan.merges:
        refs += [(source, f"{merge.path}.from[{i}]") for i, source in enumerate(merge.sources)]
        if merge.new is None:
            refs.append((merge.into, f"{merge.path}.into"))
        else:
            refs += _new_unit_references(merge.new, f"{merge.path}.into")
    for split in plan.splits:
        refs.append((split.unit, f"{split.path}.unit"))
        refs += [(part, f"{split.path}.into[{i}]") for i, part in enumerate(split.into)]
        for new in split.new:
            refs += _new_unit_references(new, f"{split.path}.into[{split.into.index(new.id)}]")
    refs += [(rev.unit, f"{rev.path}.unit") for rev in plan.revisions]
    refs += [(ra.competent_to, f"{ra.path}.competent.to") for ra in plan.reassignments]
    return refs


def _new_unit_references(unit: NewUnit, path: str) -> list[tuple[str, str]]:
    return [
        (ref, f"{path}.{key}")
        for key, ref in (("parent_id", unit.parent_id), ("area_id", unit.area_id))
        if ref
    ]


def _check_result(r: _Reader, plan: Plan, current: UnitDirectory, opening: list[Unit]) -> None:
    """The registry on `effective`: the units staying open must not point at a closed one, and the whole must
    pass the registry's own checks (unique agency codes, parents and areas valid, no cycle)."""
    closing = plan.closing
    replaced = {unit.id for unit in opening}
    staying = [unit for unit in current if unit.id not in closing and unit.id not in replaced]
    for unit in [*staying, *opening]:
        for key, ref in (("parent_id", unit.parent_id), ("area_id", unit.area_id)):
            if ref is not None and ref in closing:
                r.fail(
                    "reorg.dangling_reference",
                    _closing_path(plan, ref),
                    f"đơn vị «{unit.id}» vẫn hoạt động nhưng có {key} «{ref}» bị đóng; hãy sắp xếp cả "
                    f"«{unit.id}» trong phương án.",
                )
    if r.problems:
        return
    result = [dataclasses.replace(unit, valid_from=plan.effective, valid_to=None) for unit in staying]
    try:
        UnitDirectory([*result, *opening], plan.effective)
    except DomainError as exc:
        r.fail("reorg.invalid_result", "operations", f"sau khi sắp xếp: {exc.message}")


def _closing_path(plan: Plan, unit_id: str) -> str:
    for merge in plan.merges:
        if unit_id in merge.sources:
            return f"{merge.path}.from[{merge.sources.index(unit_id)}]"
    for split in plan.splits:
        if split.unit == unit_id:
            return f"{split.path}.unit"
    return "operations"


# ---------------------------------------------------------------- an open dossier follows its units


def move_dossier(
    state: DossierState,
    successors: Mapping[str, str],
    *,
    plan_id: str,
    legal_basis: str,
    at: datetime,
    actor: Actor,
    officers: Mapping[str, str] | None = None,
) -> tuple[DossierState, Event] | None:
    """The dossier with each of its units that closes replaced by the successor, and the `reorganize` event
    that records it (the next seq; `replay` of the log with it gives the new state). None when none of its
    units closes. The code, the deadlines and the step stay. When the step's unit changes, the assignee stays
    only if the plan moves their account to the step's new unit (`officers`: account id → its new unit);
    otherwise it is cleared (an officer left on the closed unit can no longer act; the successor's unit admin
    assigns again)."""
    changes: dict[str, Any] = {}
    moved: dict[str, list[str]] = {}
    for name in UNIT_FIELDS:
        unit = getattr(state, name)
        if unit in successors:
            changes[name] = successors[unit]
            moved[name] = [unit, successors[unit]]
    if not changes:
        return None
    assignee = state.assignee_id
    moves_with_step = assignee is not None and (officers or {}).get(assignee) == changes.get("step_unit_id")
    if "step_unit_id" in changes and assignee is not None and not moves_with_step:
        changes["assignee_id"] = None
    version = state.version + 1
    new_state = dataclasses.replace(state, **changes, version=version, last_event_at=at)
    event = Event(
        seq=version,
        type=Action.REORGANIZE,
        at=at,
        actor_id=actor.id,
        actor_kind=actor.kind,
        actor_unit_id=actor.unit_id,
        data={"plan": plan_id, "legal_basis": legal_basis, "units": moved},
        changes=diff(state, new_state),
    )
    return new_state, event


__all__ = [
    "KEEP",
    "MOVE",
    "OPERATIONS",
    "UNIT_FIELDS",
    "CheckedPlan",
    "Merge",
    "NewUnit",
    "Plan",
    "PlanProblem",
    "Reassignment",
    "Revision",
    "Split",
    "check_plan",
    "move_dossier",
    "parse_plan",
    "plan_digest",
]
