"""E-form validation: the validator found by the schema object (issue #6) validates as the schema says."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from motcua.domain.errors import InvalidInput
from motcua.services import forms
from motcua.services.forms import validate_form

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ho_ten"],
    "properties": {
        "ho_ten": {"type": "string", "title": "Họ và tên", "minLength": 2},
        "ngay_sinh": {"type": "string", "format": "date", "title": "Ngày sinh"},
    },
    "additionalProperties": False,
}


def _problems(schema: dict[str, Any], data: Any) -> list[dict[str, str]] | None:
    try:
        validate_form(schema, data)
    except InvalidInput as exc:
        return list(exc.details["problems"])
    return None


def test_a_schema_object_is_validated_the_same_on_every_call() -> None:
    bad = {"ngay_sinh": "2026-02-30", "thua": 1}
    first = _problems(SCHEMA, bad)
    assert first is not None and {p["field"] for p in first} == {"ho_ten", "ngay_sinh", ""}
    assert _problems(SCHEMA, bad) == first  # from the cache, found by the object
    assert _problems(copy.deepcopy(SCHEMA), bad) == first  # an equal schema, another object
    assert _problems(SCHEMA, {"ho_ten": "Lê Mai", "ngay_sinh": "2026-02-28"}) is None


def test_another_schema_object_gets_its_own_validator() -> None:
    """A hit must be the very object (its id() may belong to a freed one); the cache stays bounded."""
    for length in range(1, forms._BY_OBJECT_MAX * 2):
        schema = copy.deepcopy(SCHEMA)
        schema["properties"]["ho_ten"]["minLength"] = length  # a new object each time, often at a reused id
        assert _problems(schema, {"ho_ten": "x" * length}) is None
        assert _problems(schema, {"ho_ten": "x" * (length - 1)}) is not None
        assert len(forms._by_object) <= forms._BY_OBJECT_MAX


@pytest.mark.parametrize("empty", [{}, {"type": "object"}])
def test_schemas_without_rules_accept_anything(empty: dict[str, Any]) -> None:
    assert _problems(empty, {"bat_ky": "gì"}) is None
