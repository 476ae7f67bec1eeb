"""PostgreSQL's jsonb parameters and results go through msgspec (`store/db.py` `json_dumps`/`json_loads`):
the values stored and read back are the ones `json.dumps`/`json.loads` gave."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from motcua.store.db import json_dumps, json_loads

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@given(VALUES)
def test_encoding_reads_back_as_json_dumps_did(value: Any) -> None:
    assert json.loads(json_dumps(value)) == json.loads(json.dumps(value))
    assert json_loads(json_dumps(value)) == json.loads(json.dumps(value))


@given(VALUES)
def test_decoding_equals_json_loads(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert json_loads(text.encode()) == json.loads(text)


def test_what_msgspec_refuses_takes_the_standard_library() -> None:
    assert json_loads(b"[1e400]") == [float("inf")]  # a number beyond a float: json.loads makes it infinite
    for keys in ({1: "a", 2.5: "b"}, {None: "a", False: "b"}):  # non-text keys: json.dumps's rules
        assert json.loads(json_dumps(keys)) == json.loads(json.dumps(keys))
