"""E-form validation: JSON Schema (draft 2020-12) with Vietnamese error messages a citizen can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from motcua.domain.errors import InvalidInput

_MAX_ERRORS = 20


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


# The validator of a schema OBJECT, found by its id() without re-serialising it (≈ 3 % of a submission's CPU
# when keyed on the JSON text). The entry keeps the object alive, so its id cannot be reused by another object
# while cached, and a hit must be that very object (the guard). Bounded: cleared when full. Staleness rule: a
# schema object is read-only once validated against (the catalog gives a new object for every version it
# reads); the validator is built from a copy (JSON text) taken at the first call, shared by equal schemas.
_BY_OBJECT_MAX = 64
_by_object: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}


def _validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    hit = _by_object.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = _validator(json.dumps(schema, sort_keys=True))
    if len(_by_object) >= _BY_OBJECT_MAX:
        _by_object.clear()
    _by_object[id(schema)] = (schema, validator)
    return validator


def _title(schema: Mapping[str, Any], path: list[Any]) -> str:
    """The Vietnamese label of the field at `path`, falling back to its key."""
    node: Any = schema
    label = ""
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {}) if isinstance(node, Mapping) else {}
            continue
        node = node.get("properties", {}).get(part, {}) if isinstance(node, Mapping) else {}
        label = node.get("title", part) if isinstance(node, Mapping) else str(part)
    return str(label or "Biểu mẫu")


def _message(error: ValidationError, schema: Mapping[str, Any]) -> dict[str, str]:
    path = list(error.absolute_path)
    v = error.validator
    value: Any = error.validator_value
    if v == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        path = [*path, missing]
        text = "là thông tin bắt buộc."
    elif v == "additionalProperties":
        text = "có trường không thuộc biểu mẫu."
    elif v == "type":
        text = "có kiểu dữ liệu không đúng."
    elif v == "pattern":
        text = "không đúng định dạng."
    elif v == "enum":
        text = "phải là một trong: " + ", ".join(str(x) for x in value) + "."
    elif v == "minLength":
        text = f"phải có ít nhất {value} ký tự."
    elif v == "maxLength":
        text = f"không được dài quá {value} ký tự."
    elif v in ("minimum", "exclusiveMinimum"):
        text = f"phải lớn hơn{' hoặc bằng' if v == 'minimum' else ''} {value}."
    elif v in ("maximum", "exclusiveMaximum"):
        text = f"phải nhỏ hơn{' hoặc bằng' if v == 'maximum' else ''} {value}."
    elif v == "format":
        text = {"date": "phải là ngày hợp lệ (YYYY-MM-DD).", "email": "phải là địa chỉ email hợp lệ."}.get(
            str(value), "không đúng định dạng."
        )
    elif v in ("minItems", "maxItems"):
        text = f"phải có {'ít nhất' if v == 'minItems' else 'nhiều nhất'} {value} mục."
    else:
        text = "không hợp lệ."
    field = "/".join(str(p) for p in path)
    return {"field": field, "message": f"{_title(schema, path)} {text}"}


def validate_form(schema: Mapping[str, Any], data: Any) -> None:
    """Raise InvalidInput listing every problem (up to 20) if `data` does not satisfy the e-form schema."""
    validator = _validator_for(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = [_message(e, schema) for e in errors[:_MAX_ERRORS]]
        raise InvalidInput(
            "form.invalid",
            "Biểu mẫu chưa hợp lệ: " + " ".join(p["message"] for p in problems[:3]),
            problems=problems,
        )
