"""E-forms: a procedure's JSON Schema rendered as HTML controls, and a posted form read back into JSON.

Control names are the JSON path joined with "-" after the prefix "form": `form-nguoi_yeu_cau-ho_ten`,
`form-nganh_nghe-0-ma_nganh` (rows of a list numbered from 0). A control's name is also the key of its error
and, after "f-", its id — so `ui.error_summary` links land on it, and the problems `services.forms` reports
(`{"field": "nguoi_yeu_cau/ho_ten", ...}`) map straight onto controls (`errors_from_problems`).

What the schemas use, and how it is shown: objects → fieldsets (titles as legends), strings → text inputs
(`format: date` → date, `email` → email, phone numbers → tel, long ones → textarea) with `minlength`,
`maxlength` and `pattern`; enums → radio buttons (up to 4 choices) or a select; integers and numbers →
number inputs with `min`/`max`; booleans → a checkbox; arrays of objects → repeated rows (a no-JS "add a row"
button); arrays of enum strings → checkboxes. Titles are the labels, descriptions the hints.

The citizen portal's templates render the tree with `templates/citizen/_eform.html` (`eform.controls(tree)`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

PREFIX = "form"
SEP = "-"
RADIO_MAX = 4  # more choices than this: a select
TEXTAREA_FROM = 200  # strings allowed to be longer than this get a textarea
MAX_ROWS = 50  # a list shows at most this many rows, whatever its schema allows
ADD_ROW = "_them_dong"  # the "add a row" button's name; its value is the list's control name
# Patterns the browser may check as well (HTML compiles them with the `v` flag: keep to simple syntax).
_HTML_SAFE_PATTERN = re.compile(r"^[\w\s^$()|.+*?{},:/\[\]\-\\]*$")
_APPLICANT_GROUPS = frozenset({"nguoi_yeu_cau", "nguoi_de_nghi", "nguoi_dang_ky", "nguoi_khai_bao"})
_AUTOCOMPLETE = {"ho_ten": "name", "so_dien_thoai": "tel", "email": "email"}
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_GROUPED_INTEGER = re.compile(r"^-?\d{1,3}(?:[.\s]\d{3})+$")

Path = tuple[str | int, ...]
Translate = Callable[..., str]


def control_name(path: Path) -> str:
    return SEP.join([PREFIX, *(str(part) for part in path)])


def error_key(problem_field: str) -> str:
    """The control name for a problem's `field` ("a/b/0/c"); "_form" for the form as a whole."""
    return control_name(tuple(problem_field.split("/"))) if problem_field else "_form"


def errors_from_problems(problems: list[Mapping[str, Any]]) -> dict[str, str]:
    """`InvalidInput.details["problems"]` of `validate_form` → {control name: first message}."""
    errors: dict[str, str] = {}
    for problem in problems:
        errors.setdefault(error_key(str(problem.get("field") or "")), str(problem.get("message") or ""))
    return errors


# ---------------------------------------------------------------- field order


def in_order_of(schema: Mapping[str, Any], reference: Mapping[str, Any] | None) -> dict[str, Any]:
    """`schema` with its properties (at every depth) in the order of `reference` (the same form as published).

    PostgreSQL keeps JSON objects as JSONB, which forgets key order: a schema read back from it lists "tre"
    before "nguoi_yeu_cau". Without a reference, required properties come first, in the `required` order.
    """
    result = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        ref_properties = (reference or {}).get("properties")
        if isinstance(ref_properties, Mapping):
            order = [key for key in ref_properties if key in properties]
        else:
            order = [key for key in schema.get("required") or [] if key in properties]
        order += [key for key in properties if key not in order]
        result["properties"] = {key: in_order_of(properties[key], _sub(ref_properties, key)) for key in order}
    items = schema.get("items")
    if isinstance(items, Mapping):
        result["items"] = in_order_of(items, _sub(reference, "items"))
    return result


def _sub(node: Any, key: str) -> Mapping[str, Any] | None:
    value = node.get(key) if isinstance(node, Mapping) else None
    return value if isinstance(value, Mapping) else None


# ---------------------------------------------------------------- the control tree


@dataclass
class Control:
    """One thing a template renders: a group (fieldset), a list of rows, a row, or one control.

    `required`: required within its parent (no "không bắt buộc" mark). `enforce`: required and inside required
    groups only — it gets the HTML `required` attribute (an optional group's fields are required only once
    the group is filled in, which only the server can tell).
    """

    widget: str  # group | list | row | input | textarea | select | radios | checkbox | checkboxes
    name: str
    label: str
    hint: str | None = None
    required: bool = False
    enforce: bool = False
    value: Any = ""
    error: str | None = None
    input_type: str = "text"
    attrs: dict[str, str] = field(default_factory=dict)
    options: list[tuple[str, str]] = field(default_factory=list)
    children: list[Control] = field(default_factory=list)
    depth: int = 0
    can_add: bool = False
    verified_note: str | None = None  # auto-fill: "Đã xác thực từ …" — the control is then read-only

    @property
    def described_by(self) -> str:
        ids = [f"f-{self.name}-hint"] if self.hint else []
        if self.verified_note:
            ids.append(f"f-{self.name}-verified")
        if self.error:
            ids.append(f"f-{self.name}-error")
        return " ".join(ids)


@dataclass(frozen=True)
class _Build:
    values: Mapping[str, Any]
    errors: Mapping[str, str]
    add_row: str | None


def build(
    schema: Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    *,
    add_row: str | None = None,
) -> list[Control]:
    """The controls of the form, filled with `values` (by control name) and `errors`; `add_row` names the
    list that gets one more empty row."""
    ctx = _Build(values or {}, errors or {}, add_row)
    return _children(schema, (), ctx, enforce=True, depth=0)


def _children(
    node: Mapping[str, Any], path: Path, ctx: _Build, *, enforce: bool, depth: int
) -> list[Control]:
    required = set(node.get("required") or [])
    return [
        _control(
            sub, (*path, key), ctx, required=key in required, enforce=enforce and key in required, depth=depth
        )
        for key, sub in (node.get("properties") or {}).items()
    ]


def _control(
    node: Mapping[str, Any], path: Path, ctx: _Build, *, required: bool, enforce: bool, depth: int
) -> Control:
    name = control_name(path)
    base = Control(
        widget="input",
        name=name,
        label=str(node.get("title") or path[-1]),
        hint=str(node["description"]) if node.get("description") else None,
        required=required,
        enforce=enforce,
        error=ctx.errors.get(name),
        depth=depth,
    )
    kind = node.get("type")
    if kind == "object":
        base.widget = "group"
        base.children = _children(node, path, ctx, enforce=enforce, depth=depth + 1)
        return base
    if kind == "array":
        return _array(node, path, ctx, base)
    if kind == "boolean":
        base.widget = "checkbox"
        base.value = bool(ctx.values.get(name))
        base.enforce = enforce and node.get("const") is True  # an unticked box is a valid `false` otherwise
        return base
    base.value = _text(ctx.values.get(name))
    if "enum" in node:
        base.options = [(str(v), str(v)) for v in node["enum"]]
        base.widget = "radios" if len(base.options) <= RADIO_MAX else "select"
        return base
    if kind in ("integer", "number"):
        base.input_type = "number"
        base.attrs = _number_attrs(node, integer=kind == "integer")
        return base
    return _string(node, path, base)


def _array(node: Mapping[str, Any], path: Path, ctx: _Build, base: Control) -> Control:
    items: Mapping[str, Any] = node.get("items") or {}
    if items.get("type") != "object":  # a list of choices
        base.widget = "checkboxes"
        base.options = [(str(v), str(v)) for v in items.get("enum") or []]
        raw = ctx.values.get(base.name)
        base.value = [str(v) for v in raw] if isinstance(raw, list) else []
        return base
    limit = min(int(node.get("maxItems") or MAX_ROWS), MAX_ROWS)
    rows = max(_rows_in(base.name, ctx.values), int(node.get("minItems") or 0), 1)
    if ctx.add_row == base.name:
        rows += 1
    rows = min(rows, limit)
    item_title = str(items.get("title") or base.label)
    base.widget = "list"
    base.can_add = rows < limit
    base.children = [
        Control(
            widget="row",
            name=control_name((*path, index)),
            label=f"{item_title} {index + 1}",
            required=base.required,
            error=ctx.errors.get(control_name((*path, index))),
            depth=base.depth + 1,
            children=_children(items, (*path, index), ctx, enforce=False, depth=base.depth + 2),
        )
        for index in range(rows)
    ]
    return base


# ---------------------------------------------------------------- auto-fill (issue #4): verified controls


def mark_verified(controls: list[Control], notes: Mapping[str, str]) -> None:
    """Mark the controls named in `notes` ({control name: "Đã xác thực từ …"}) as verified and read-only."""
    for control in controls:
        if control.name in notes:
            control.verified_note = notes[control.name]
        mark_verified(control.children, notes)


def names_in_order(controls: list[Control]) -> list[str]:
    """Every control and group name of the tree, in the order the form shows them."""
    names: list[str] = []
    for control in controls:
        names.append(control.name)
        names.extend(names_in_order(control.children))
    return names


def _rows_in(name: str, values: Mapping[str, Any]) -> int:
    """How many rows of list `name` the values hold (highest row number + 1)."""
    pattern = re.compile(rf"^{re.escape(name + SEP)}(\d+){re.escape(SEP)}")
    numbers = [int(match[1]) for key in values if (match := pattern.match(key))]
    return max(numbers) + 1 if numbers else 0


def _number_attrs(node: Mapping[str, Any], *, integer: bool) -> dict[str, str]:
    attrs = {"step": "1" if integer else "any", "inputmode": "numeric" if integer else "decimal"}
    if "minimum" in node:
        attrs["min"] = _number_text(node["minimum"])
    elif "exclusiveMinimum" in node:
        low = node["exclusiveMinimum"]
        attrs["min"] = _number_text(low + 1 if integer else low)
    if "maximum" in node:
        attrs["max"] = _number_text(node["maximum"])
    elif "exclusiveMaximum" in node:
        high = node["exclusiveMaximum"]
        attrs["max"] = _number_text(high - 1 if integer else high)
    return attrs


def _string(node: Mapping[str, Any], path: Path, base: Control) -> Control:
    key = str(path[-1])
    fmt = node.get("format")
    attrs: dict[str, str] = {}
    if "minLength" in node:
        attrs["minlength"] = str(node["minLength"])
    if "maxLength" in node:
        attrs["maxlength"] = str(node["maxLength"])
    pattern = node.get("pattern")
    if isinstance(pattern, str) and _HTML_SAFE_PATTERN.match(pattern):
        attrs["pattern"] = pattern
        if re.fullmatch(r"\^?0?\[0-9\]\{\d+\}\$?|\^\[0-9\]\+\$", pattern) or pattern == "^0[0-9]{9}$":
            attrs["inputmode"] = "numeric"
    if fmt == "date":
        base.input_type = "date"
    elif fmt == "email":
        base.input_type = "email"
    elif key.startswith("so_dien_thoai"):
        base.input_type = "tel"
    if len(path) == 2 and path[0] in _APPLICANT_GROUPS and key in _AUTOCOMPLETE:
        attrs["autocomplete"] = _AUTOCOMPLETE[key]
    base.attrs = attrs
    if base.input_type == "text" and int(node.get("maxLength") or 0) > TEXTAREA_FROM:
        base.widget = "textarea"
    return base


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (
        value
        if isinstance(value, str)
        else _number_text(value)
        if isinstance(value, int | float)
        else str(value)
    )


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- reading a posted form


@dataclass
class Reading:
    """A posted form read against the schema: the JSON `data`, the `values` to show again (by control name)
    and the `errors` of values that could not even be converted (e.g. letters in a number field)."""

    data: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read(schema: Mapping[str, Any], posted: Mapping[str, Any], translate: Translate) -> Reading:
    """Read the controls of `schema` from a posted form (values: str, or a list of str for repeated names).

    Empty fields are left out (so the schema says what is missing); an optional group left entirely empty is
    left out; empty rows of a list are dropped and the rest renumbered (the values follow, so the form shows
    them again where the errors point).
    """
    reading = Reading()
    reading.data = _read_object(schema, (), (), posted, reading, translate, optional=False) or {}
    return reading


def _read_object(
    node: Mapping[str, Any],
    src: Path,
    dst: Path,
    posted: Mapping[str, Any],
    reading: Reading,
    translate: Translate,
    *,
    optional: bool,
) -> dict[str, Any] | None:
    required = set(node.get("required") or [])
    result: dict[str, Any] = {}
    filled = False
    for key, sub in (node.get("properties") or {}).items():
        value, child_filled = _read_value(
            sub, (*src, key), (*dst, key), posted, reading, translate, required=key in required
        )
        filled = filled or child_filled
        if value is not None:
            result[key] = value
    if optional and not filled:
        return None
    return result


def _read_value(
    node: Mapping[str, Any],
    src: Path,
    dst: Path,
    posted: Mapping[str, Any],
    reading: Reading,
    translate: Translate,
    *,
    required: bool,
) -> tuple[Any, bool]:
    """(the JSON value or None when absent, whether anything was filled in)."""
    kind = node.get("type")
    if kind == "object":
        value = _read_object(node, src, dst, posted, reading, translate, optional=not required)
        return value, value is not None and value != {}
    if kind == "array":
        return _read_array(node, src, dst, posted, reading, translate, required=required)
    name, target = control_name(src), control_name(dst)
    if kind == "boolean":
        ticked = _first(posted, name) in ("on", "true", "1")
        reading.values[target] = ticked
        if ticked:
            return True, True
        return (None if node.get("const") is True else False), False
    raw = unicodedata.normalize("NFC", _first(posted, name)).strip()
    reading.values[target] = raw
    if not raw:
        return None, False
    label = str(node.get("title") or src[-1])
    if kind == "integer":
        return _parse_integer(raw, label, target, reading, translate), True
    if kind == "number":
        return _parse_number(raw, label, target, reading, translate), True
    if node.get("format") == "date":
        return _iso_date(raw), True
    return raw, True


def _read_array(
    node: Mapping[str, Any],
    src: Path,
    dst: Path,
    posted: Mapping[str, Any],
    reading: Reading,
    translate: Translate,
    *,
    required: bool,
) -> tuple[Any, bool]:
    items: Mapping[str, Any] = node.get("items") or {}
    name = control_name(src)
    if items.get("type") != "object":
        allowed = {str(v) for v in items.get("enum") or []}
        chosen = [v for v in _all(posted, name) if not allowed or v in allowed]
        reading.values[control_name(dst)] = chosen
        return (chosen if chosen or required else None), bool(chosen)
    pattern = re.compile(rf"^{re.escape(name + SEP)}(\d+){re.escape(SEP)}")
    indexes = sorted({int(m[1]) for key in posted if (m := pattern.match(key))})[:MAX_ROWS]
    rows: list[dict[str, Any]] = []
    for index in indexes:
        row = _read_object(items, (*src, index), (*dst, len(rows)), posted, reading, translate, optional=True)
        if row is not None:
            rows.append(row)
    return (rows if rows or required else None), bool(rows)


def _first(posted: Mapping[str, Any], name: str) -> str:
    value = posted.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _all(posted: Mapping[str, Any], name: str) -> list[str]:
    value = posted.get(name)
    values = value if isinstance(value, list) else [value] if value is not None else []
    return [v for v in values if isinstance(v, str) and v]


def _parse_integer(raw: str, label: str, target: str, reading: Reading, translate: Translate) -> int | None:
    text = raw.replace(" ", "")
    if _GROUPED_INTEGER.match(raw):  # 1.000.000 — the Vietnamese thousands separator
        text = re.sub(r"[.\s]", "", raw)
    try:
        return int(text)
    except ValueError:
        reading.errors[target] = translate("citizen.eform.not_integer", label=label)
        return None


def _parse_number(
    raw: str, label: str, target: str, reading: Reading, translate: Translate
) -> float | int | None:
    text = raw.replace(" ", "")
    if "," in text and "." not in text:  # 12,5 — the Vietnamese decimal comma
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        reading.errors[target] = translate("citizen.eform.not_number", label=label)
        return None
    if number != number or number in (float("inf"), float("-inf")):
        reading.errors[target] = translate("citizen.eform.not_number", label=label)
        return None
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _iso_date(raw: str) -> str:
    """dd/mm/yyyy (as people type dates without a date picker) → yyyy-mm-dd; anything else as typed."""
    match = _DMY.match(raw)
    if match is None:
        return raw
    try:
        return date(int(match[3]), int(match[2]), int(match[1])).isoformat()
    except ValueError:
        return raw


# ---------------------------------------------------------------- from stored data


def values_from_data(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The control values that show `data` in the form again (the "Sửa lại" step)."""
    values: dict[str, Any] = {}
    _flatten(schema, (), data, values)
    return values


def _flatten(node: Mapping[str, Any], path: Path, value: Any, values: dict[str, Any]) -> None:
    kind = node.get("type")
    if kind == "object" and isinstance(value, Mapping):
        for key, sub in (node.get("properties") or {}).items():
            if key in value:
                _flatten(sub, (*path, key), value[key], values)
    elif kind == "array" and isinstance(value, list):
        items: Mapping[str, Any] = node.get("items") or {}
        if items.get("type") == "object":
            for index, row in enumerate(value):
                _flatten(items, (*path, index), row, values)
        else:
            values[control_name(path)] = [str(v) for v in value]
    elif kind == "boolean":
        values[control_name(path)] = bool(value)
    else:
        values[control_name(path)] = _text(value)


# ---------------------------------------------------------------- the review step


@dataclass
class SummaryItem:
    """A line of the review ("label: value"), or a group of lines under a heading."""

    label: str
    value: str | None = None
    children: list[SummaryItem] = field(default_factory=list)
    depth: int = 0


def summary(schema: Mapping[str, Any], data: Mapping[str, Any], translate: Translate) -> list[SummaryItem]:
    """What will be submitted, in the form's order and words (dates as dd/mm/yyyy, yes/no for ticks)."""
    return _summary_children(schema, data, translate, depth=0)


def _summary_children(
    node: Mapping[str, Any], data: Mapping[str, Any], translate: Translate, *, depth: int
) -> list[SummaryItem]:
    items: list[SummaryItem] = []
    for key, sub in (node.get("properties") or {}).items():
        if key in data:
            items.append(_summary_item(sub, key, data[key], translate, depth=depth))
    return items


def _summary_item(
    node: Mapping[str, Any], key: str, value: Any, translate: Translate, *, depth: int
) -> SummaryItem:
    label = str(node.get("title") or key)
    kind = node.get("type")
    if kind == "object" and isinstance(value, Mapping):
        return SummaryItem(
            label, children=_summary_children(node, value, translate, depth=depth + 1), depth=depth
        )
    if kind == "array" and isinstance(value, list):
        items: Mapping[str, Any] = node.get("items") or {}
        if items.get("type") == "object":
            title = str(items.get("title") or label)
            rows = [
                SummaryItem(
                    f"{title} {index + 1}",
                    children=_summary_children(items, row, translate, depth=depth + 2),
                    depth=depth + 1,
                )
                for index, row in enumerate(value)
                if isinstance(row, Mapping)
            ]
            return SummaryItem(label, children=rows, depth=depth)
        return SummaryItem(label, ", ".join(str(v) for v in value), depth=depth)
    return SummaryItem(label, display_value(node, key, value, translate), depth=depth)


def display_value(node: Mapping[str, Any], key: str, value: Any, translate: Translate) -> str:
    """One value as a person reads it: "Có"/"Không", 14/05/1990, 500.000.000."""
    if isinstance(value, bool):
        return translate("citizen.eform.yes" if value else "citizen.eform.no")
    if node.get("format") == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if isinstance(value, int) and key.endswith("_vnd"):
        return f"{value:,}".replace(",", ".")
    if isinstance(value, float):
        return _number_text(value).replace(".", ",")
    return str(value)


__all__ = [
    "ADD_ROW",
    "Control",
    "Reading",
    "SummaryItem",
    "build",
    "control_name",
    "display_value",
    "error_key",
    "errors_from_problems",
    "in_order_of",
    "mark_verified",
    "names_in_order",
    "read",
    "summary",
    "values_from_data",
]
