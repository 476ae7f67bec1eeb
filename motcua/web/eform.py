"""The officer workspace's e-form: a procedure's JSON Schema (draft 2020-12) as an HTML form, and back.

(The citizen portal has its own, `motcua/web/citizen_eform.py`.)

`form_nodes(schema)` turns the schema into a tree the `officer/_schema_form.html` macros draw: objects become
fieldsets, arrays of objects a few numbered rows, enums selects (or check boxes for an array of enums),
booleans check boxes, dates date pickers. Every control is named `f.<path>` (`f.tre.ho_ten`,
`f.nganh_nghe.0.ma_nganh`) and has the id `f-<key>`, where `<key>` is the path joined by `-`: the key of its
message in the page's `errors`.

`parse_form(schema, posted, lang)` reads the posted fields into the JSON the schema describes — empty fields
left out, numbers converted, empty rows dropped — and reports what could not be converted; the schema's own
rules are then checked by `motcua.services.forms.validate_form`, whose problems `problem_errors()` puts back
on the controls (row numbers included). `labelled_data(schema, data)` shows filed data with the schema's titles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from motcua.web import i18n

PREFIX = "f"
MAX_ROWS = 50
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:[., ]\d{3})+$")
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")
_MAX_DIGITS = 4_000  # Python reads at most 4,300 digits as an integer
_DIGITS_PATTERN = re.compile(r"^\^\[0-9\]\{\d+(?:,\d*)?\}\$$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class FormNode:
    """One piece of the form. kind: group | repeat | input | select | checkbox | choices."""

    kind: str
    name: str  # the form field name, e.g. "f.tre.ho_ten"
    key: str  # the errors key; the control's id is "f-<key>"
    label: str
    hint: str | None = None
    required: bool = False
    input_type: str = "text"
    inputmode: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    children: tuple[FormNode, ...] = ()
    rows: tuple[tuple[FormNode, ...], ...] = ()

    @property
    def id(self) -> str:
        return f"f-{self.key}"


@dataclass
class ParsedForm:
    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    # array key → the form row number of each kept item (empty rows are dropped, so numbers shift)
    rows: dict[str, list[int]] = field(default_factory=dict)


def _key(path: list[str]) -> str:
    return "-".join(path)


def _name(path: list[str]) -> str:
    return ".".join([PREFIX, *path])


def _title(schema: Mapping[str, Any], fallback: str) -> str:
    return str(schema.get("title") or fallback)


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def _items(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    items = schema.get("items")
    return items if isinstance(items, Mapping) else {}


# ---------------------------------------------------------------- drawing the form


def form_nodes(schema: Mapping[str, Any]) -> list[FormNode]:
    """The top-level controls and sections of an object schema."""
    required = set(schema.get("required") or [])
    return [_node(child, [key], key in required) for key, child in _properties(schema).items()]


def _node(schema: Mapping[str, Any], path: list[str], required: bool) -> FormNode:
    hint = str(schema["description"]) if schema.get("description") else None
    common: dict[str, Any] = {
        "name": _name(path),
        "key": _key(path),
        "label": _title(schema, path[-1]),
        "hint": hint,
    }
    kind = schema.get("type")
    if kind == "object":
        inner = set(schema.get("required") or [])
        children = tuple(
            _node(child, [*path, key], key in inner) for key, child in _properties(schema).items()
        )
        return FormNode("group", required=required, children=children, **common)
    if kind == "array":
        items = _items(schema)
        if items.get("type") == "object":
            return FormNode("repeat", required=required, rows=_rows(schema, items, path), **common)
        options = tuple((str(v), str(v)) for v in items.get("enum") or [])
        return FormNode("choices", required=required, options=options, **common)
    if kind == "boolean":
        return FormNode("checkbox", required=required or schema.get("const") is True, **common)
    if "enum" in schema:
        options = tuple((str(v), str(v)) for v in schema["enum"])
        return FormNode("select", required=required, options=options, **common)
    return FormNode("input", required=required, **common, **_input_kind(schema))


def _rows(
    schema: Mapping[str, Any], items: Mapping[str, Any], path: list[str]
) -> tuple[tuple[FormNode, ...], ...]:
    """Enough numbered rows for the usual case: at least 3 (or minItems), at most maxItems."""
    least = int(schema.get("minItems") or 0)
    most = int(schema.get("maxItems") or MAX_ROWS)
    count = min(most, max(least, 3))
    inner = set(items.get("required") or [])
    return tuple(
        tuple(_node(child, [*path, str(i), key], key in inner) for key, child in _properties(items).items())
        for i in range(count)
    )


def _input_kind(schema: Mapping[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if kind == "integer":
        return {"inputmode": "numeric"}
    if kind == "number":
        return {"inputmode": "decimal"}
    fmt = schema.get("format")
    if fmt == "date":
        return {"input_type": "date"}
    if fmt == "email":
        return {"input_type": "email", "inputmode": "email"}
    pattern = str(schema.get("pattern") or "")
    if pattern == "^0[0-9]{9}$":
        return {"input_type": "tel", "inputmode": "tel"}
    if _DIGITS_PATTERN.match(pattern):
        return {"inputmode": "numeric"}
    return {}


# ---------------------------------------------------------------- reading the posted form


def parse_form(schema: Mapping[str, Any], posted: Mapping[str, Any], lang: str = "vi") -> ParsedForm:
    """The JSON of the posted `f.*` fields. Values that cannot be converted are reported in `errors`."""
    parsed = ParsedForm(data={})
    parsed.data = _object(schema, [], posted, parsed, lang) or {}
    return parsed


def _text(posted: Mapping[str, Any], name: str) -> str:
    value = posted.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _object(
    schema: Mapping[str, Any], path: list[str], posted: Mapping[str, Any], parsed: ParsedForm, lang: str
) -> dict[str, Any] | None:
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for key, child in _properties(schema).items():
        value = _value(child, [*path, key], posted, parsed, lang)
        if value is not None:
            out[key] = value
        elif child.get("type") == "object" and key in required:
            out[key] = {}  # so the validator names the missing fields inside, not the whole section
    return out or None


def _value(
    schema: Mapping[str, Any], path: list[str], posted: Mapping[str, Any], parsed: ParsedForm, lang: str
) -> Any:
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, path, posted, parsed, lang)
    if kind == "array":
        return _array(schema, path, posted, parsed, lang)
    name = _name(path)
    if kind == "boolean":
        return True if _text(posted, name) else None
    text = _text(posted, name)
    if not text:
        return None
    if kind in ("integer", "number"):
        return _number(text, str(kind), schema, path, parsed, lang)
    return text


def _number(
    text: str, kind: str, schema: Mapping[str, Any], path: list[str], parsed: ParsedForm, lang: str
) -> int | float | None:
    """Whole numbers may carry thousands separators (1.500.000); decimals a comma or a point."""
    label = _title(schema, path[-1])
    if kind == "integer":
        compact = re.sub(r"[., ]", "", text) if _THOUSANDS.match(text) else text.replace(" ", "")
        if _INTEGER.match(compact) and len(compact) <= _MAX_DIGITS:
            return int(compact)
        parsed.errors[_key(path)] = i18n.translate(lang, "officer.eform.not_integer", label=label)
        return None
    compact = text.replace(" ", "")
    if _NUMBER.match(compact) and len(compact) <= _MAX_DIGITS:
        if _INTEGER.match(compact):  # a whole number is kept exactly (a double has 15–17 digits)
            return int(compact)
        number = float(compact.replace(",", "."))
        if math.isfinite(number):  # 400 nines are no double: infinity is not JSON, jsonb refuses it
            return int(number) if number.is_integer() else number
    parsed.errors[_key(path)] = i18n.translate(lang, "officer.eform.not_number", label=label)
    return None


def _array(
    schema: Mapping[str, Any], path: list[str], posted: Mapping[str, Any], parsed: ParsedForm, lang: str
) -> list[Any] | None:
    items = _items(schema)
    name = _name(path)
    if items.get("type") != "object":
        raw = posted.get(name)
        values = raw if isinstance(raw, list) else [raw]
        return [v.strip() for v in values if isinstance(v, str) and v.strip()] or None
    prefix = f"{name}."
    numbers = sorted(
        {int(number) for number in (_row_number(k, prefix) for k in posted) if number is not None}
    )
    kept: list[Any] = []
    rows: list[int] = []
    for number in numbers[:MAX_ROWS]:
        row = _object(items, [*path, str(number)], posted, parsed, lang)
        if row:
            kept.append(row)
            rows.append(number)
    parsed.rows[_key(path)] = rows
    return kept or None


def _row_number(key: str, prefix: str) -> str | None:
    if not key.startswith(prefix):
        return None
    number = key[len(prefix) :].split(".", 1)[0]
    return number if number.isdigit() else None


def problem_errors(problems: list[Mapping[str, Any]], parsed: ParsedForm) -> dict[str, str]:
    """`validate_form` problems ({"field": "tre/ho_ten", "message"}) as errors keyed like the controls."""
    errors: dict[str, str] = {}
    for problem in problems:
        path: list[str] = []
        for part in (p for p in str(problem.get("field") or "").split("/") if p):
            rows = parsed.rows.get(_key(path))
            if part.isdigit() and rows is not None and int(part) < len(rows):
                part = str(rows[int(part)])
            path.append(part)
        errors.setdefault(_key(path) if path else "_form", str(problem.get("message") or ""))
    return errors


def posted_values(posted: Mapping[str, Any]) -> dict[str, Any]:
    """The posted `f.*` fields as the form shows them again (a text, or a list for check boxes)."""
    values: dict[str, Any] = {}
    for name, value in posted.items():
        if not name.startswith(f"{PREFIX}."):
            continue
        if isinstance(value, list):
            values[name] = [v for v in value if isinstance(v, str)]
        elif isinstance(value, str):
            values[name] = value
    return values


# ---------------------------------------------------------------- showing filed data


def labelled_data(schema: Mapping[str, Any] | None, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Filed e-form data labelled with the schema's titles, in the schema's order (unknown keys last).

    Each entry: {"label", "kind": text | flag | group | list, and "text" | "flag" | "children" | "members"}.
    """
    props = _properties(schema or {})
    keys = [k for k in props if k in data] + [k for k in data if k not in props]
    entries = []
    for key in keys:
        sub = props.get(key)
        sub_schema: Mapping[str, Any] = sub if isinstance(sub, Mapping) else {}
        entries.append({"label": _title(sub_schema, key), **_shown(sub_schema, data[key])})
    return entries


def _shown(schema: Mapping[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"kind": "group", "children": labelled_data(schema, value)}
    if isinstance(value, list):
        return {"kind": "list", "members": [_shown(_items(schema), v) for v in value]}
    if isinstance(value, bool):
        return {"kind": "flag", "flag": value}
    if isinstance(value, int) and abs(value) >= 10_000:
        return {"kind": "text", "text": f"{value:,}".replace(",", ".")}
    if schema.get("format") == "date" and isinstance(value, str) and _ISO_DATE.match(value):
        year, month, day = value.split("-")
        return {"kind": "text", "text": f"{day}/{month}/{year}"}
    return {"kind": "text", "text": "" if value is None else str(value)}
