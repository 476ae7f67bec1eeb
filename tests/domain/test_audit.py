"""The audit chain: canonical bytes, hashes, and verification that notices any single tampering."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from motcua.domain.audit import (
    GENESIS_HASH,
    ChainEntry,
    ChainHead,
    Problem,
    canonical,
    canonical_stored,
    chain_for,
    entry_hash,
    jsonable,
    seal,
    verify_chain,
)
from motcua.domain.clock import VN_TZ

AT = datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=VN_TZ)


def build(objects: list[str], chains: int = 2) -> tuple[list[ChainEntry], list[ChainHead]]:
    """A valid log: one entry per object id, in this order, and the heads the store would hold."""
    heads = {chain: ChainHead(chain, 0, GENESIS_HASH) for chain in range(chains)}
    entries = []
    for number, object_id in enumerate(objects):
        chain = chain_for(object_id, chains)
        head = heads[chain]
        fields = {
            "at": AT,
            "actor_id": "cb-01",
            "action": "tiếp nhận",
            "object_id": object_id,
            "data": {"n": number},
        }
        entry = seal(chain, head.seq + 1, head.hash, fields)
        entries.append(entry)
        heads[chain] = ChainHead(chain, entry.seq, entry.hash)
    return entries, list(heads.values())


def found(problems: list[Problem]) -> set[tuple[str, int, int]]:
    return {(problem.kind, problem.chain, problem.seq) for problem in problems}


# --- canonical bytes and hashes -------------------------------------------------------------------------


def test_canonical_is_sorted_compact_utf8_json() -> None:
    assert canonical({"b": 1, "a": {"d": None, "c": True}, "tên": "Hồ sơ"}) == (
        '{"a":{"c":true,"d":null},"b":1,"tên":"Hồ sơ"}'.encode()
    )


def test_canonical_writes_instants_as_utc_with_microseconds() -> None:
    vietnam = canonical({"at": datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)})
    utc = canonical({"at": datetime(2026, 3, 2, 2, 0, tzinfo=UTC)})
    assert vietnam == utc == b'{"at":"2026-03-02T02:00:00.000000+00:00"}'
    assert canonical({"day": date(2026, 3, 2)}) == b'{"day":"2026-03-02"}'


def test_canonical_does_not_depend_on_unicode_normalisation() -> None:
    composed = {"hành động": "Trả kết quả"}
    decomposed = {
        unicodedata.normalize("NFD", key): unicodedata.normalize("NFD", v) for key, v in composed.items()
    }
    assert decomposed != composed
    assert canonical(decomposed) == canonical(composed)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"at": datetime(2026, 3, 2, 9, 0)}, ValueError),  # naive: which instant?
        ({"fee": 1.5}, TypeError),  # JSONB may rewrite floats: amounts go as int or str
        ({"data": {1: "x"}}, TypeError),
        ({"blob": b"x"}, TypeError),
    ],
)
def test_canonical_refuses_values_that_would_not_hash_the_same_after_storage(
    fields: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        canonical(fields)


def test_entry_hash_is_sha256_of_previous_hash_and_canonical_fields() -> None:
    expected = hashlib.sha256(GENESIS_HASH.encode() + b'{"a":1,"b":"x"}').hexdigest()
    assert entry_hash(GENESIS_HASH, {"b": "x", "a": 1}) == expected
    assert entry_hash("f" * 64, {"b": "x", "a": 1}) != expected


def test_an_object_always_goes_to_the_same_chain() -> None:
    # Pinned values: a change of hash function would scatter existing objects' trails over other chains.
    assert [chain_for(object_id, 8) for object_id in ("HS-001", "79-26-000001", "đơn-vị")] == [3, 4, 1]


@given(st.text(max_size=30), st.integers(min_value=1, max_value=64))
def test_chain_for_is_a_valid_chain_number(object_id: str, chains: int) -> None:
    assert 0 <= chain_for(object_id, chains) < chains


# --- verification ----------------------------------------------------------------------------------------

OBJECTS = [f"HS-{number:03d}" for number in range(12)]


def test_an_intact_log_has_no_problem() -> None:
    entries, heads = build(OBJECTS)
    assert verify_chain(entries, heads) == []
    assert verify_chain([], [ChainHead(0, 0, GENESIS_HASH)]) == []


def test_a_changed_row_is_reported_with_its_seq() -> None:
    entries, heads = build(OBJECTS)
    victim = entries[4]
    entries[4] = replace(victim, fields={**victim.fields, "actor_id": "ke-gian"})
    problems = verify_chain(entries, heads)
    assert found(problems) == {("changed", victim.chain, victim.seq)}
    assert (
        problems[0].message
        == f"Chuỗi {victim.chain}, bản ghi số {victim.seq}: nội dung đã bị sửa (mã băm không khớp)."
    )


def test_a_rewritten_row_with_a_recomputed_hash_breaks_the_link_to_the_next() -> None:
    entries, heads = build(OBJECTS, chains=1)
    forged = seal(0, 5, entries[4].prev_hash, {**entries[4].fields, "action": "huỷ"})
    entries[4] = forged
    assert found(verify_chain(entries, heads)) == {("broken_link", 0, 6)}


def test_a_deleted_middle_row_is_reported_as_deleted() -> None:
    entries, heads = build(OBJECTS, chains=1)
    del entries[6]
    problems = verify_chain(entries, heads)
    assert found(problems) == {("deleted", 0, 7)}
    assert "bản ghi số 7: đã bị xoá" in problems[0].message


def test_deleted_last_rows_are_found_by_comparing_with_the_head() -> None:
    entries, heads = build(OBJECTS, chains=1)
    assert verify_chain(entries[:-2]) == []  # without the head a cut tail is invisible…
    problems = verify_chain(entries[:-2], heads)  # …with it, it is not
    assert found(problems) == {("deleted", 0, 11)}
    assert problems[0].message == "Chuỗi 0, bản ghi số 11 đến 12: đã bị xoá (ở cuối chuỗi)."


def test_swapped_rows_are_reported_as_out_of_order_not_deleted() -> None:
    entries, heads = build(OBJECTS, chains=1)
    entries[3], entries[4] = entries[4], entries[3]
    assert found(verify_chain(entries, heads)) == {("reordered", 0, 4)}


def test_a_replaced_last_row_does_not_match_the_head() -> None:
    entries, heads = build(OBJECTS, chains=1)
    entries[-1] = seal(0, 12, entries[-1].prev_hash, {"action": "khác"})
    assert found(verify_chain(entries, heads)) == {("head_mismatch", 0, 12)}


def test_rows_of_a_chain_without_head_are_reported() -> None:
    entries, heads = build(OBJECTS, chains=2)
    only_chain_0 = [head for head in heads if head.chain == 0]
    assert {problem.kind for problem in verify_chain(entries, only_chain_0)} == {"unknown_chain"}


# --- property: any single tampering is detected -------------------------------------------------------------

Mutation = Callable[[list[ChainEntry], int, int], set[tuple[int, int]]]


def change_field(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entry = entries[index]
    entries[index] = replace(entry, fields={**entry.fields, "data": {"n": -1}})
    return {(entry.chain, entry.seq)}


def forge_row(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entry = entries[index]
    entries[index] = seal(entry.chain, entry.seq, entry.prev_hash, {**entry.fields, "actor_id": "x"})
    return {(entry.chain, entry.seq), (entry.chain, entry.seq + 1)}


def change_hash(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entry = entries[index]
    entries[index] = replace(entry, hash=hashlib.sha256(entry.hash.encode()).hexdigest())
    return {(entry.chain, entry.seq)}


def change_prev_hash(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entry = entries[index]
    entries[index] = replace(entry, prev_hash="f" * 64)
    return {(entry.chain, entry.seq)}


def change_seq(entries: list[ChainEntry], index: int, other: int) -> set[tuple[int, int]]:
    entry = entries[index]
    entries[index] = replace(entry, seq=entry.seq + 1 + other)
    return {(entry.chain, entry.seq), (entry.chain, entry.seq + 1 + other)}


def move_to_other_chain(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entry = entries[index]
    entries[index] = replace(entry, chain=entry.chain + 1)
    return {(entry.chain, entry.seq), (entry.chain + 1, entry.seq)}


def delete_row(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entry = entries.pop(index)
    return {(entry.chain, entry.seq)}


def duplicate_row(entries: list[ChainEntry], index: int, _other: int) -> set[tuple[int, int]]:
    entries.insert(index + 1, entries[index])
    return {(entries[index].chain, entries[index].seq)}


def swap_rows(entries: list[ChainEntry], index: int, other: int) -> set[tuple[int, int]]:
    chain = entries[index].chain
    same_chain = [position for position, entry in enumerate(entries) if entry.chain == chain]
    partner = same_chain[other % len(same_chain)]
    if partner == index:  # a lone entry cannot be swapped within its chain: change it instead
        return change_field(entries, index, other)
    entries[index], entries[partner] = entries[partner], entries[index]
    return {(chain, entries[index].seq), (chain, entries[partner].seq)}


MUTATIONS: list[Mutation] = [
    change_field,
    forge_row,
    change_hash,
    change_prev_hash,
    change_seq,
    move_to_other_chain,
    delete_row,
    duplicate_row,
    swap_rows,
]


@given(
    objects=st.lists(st.text(alphabet="abcđ0123456789-", min_size=1, max_size=6), min_size=1, max_size=25),
    chains=st.integers(min_value=1, max_value=4),
    mutation=st.sampled_from(MUTATIONS),
    position=st.integers(min_value=0),
    other=st.integers(min_value=0, max_value=50),
)
def test_any_single_tampering_is_detected_where_it_happened(
    objects: list[str], chains: int, mutation: Mutation, position: int, other: int
) -> None:
    entries, heads = build(objects, chains)
    assert verify_chain(entries, heads) == []
    where = mutation(entries, position % len(entries), other)
    problems = verify_chain(entries, heads)
    assert problems, f"{mutation.__name__} was not detected"
    assert {(problem.chain, problem.seq) for problem in problems} & where
    assert all(problem.message.startswith("Chuỗi ") for problem in problems)


# ---------------------------------------------------------------- the append's one walk (issue #6)

_TEXT = st.text(
    alphabet=st.sampled_from('aăâeêoôơuưy AĐ\u0301\u0300\u0303\u0323\u0309"\\\n\x01é€😀'), max_size=12
)
_INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(VN_TZ)
) | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
_LEAVES = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | _TEXT | _INSTANTS
_LEAVES = _LEAVES | st.dates()
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    at=_INSTANTS,
    actor=_TEXT,
    unit=st.none() | _TEXT,
    data=st.dictionaries(_TEXT, _VALUES, max_size=5),
    seq=st.integers(min_value=1, max_value=10**9),
)
def test_the_stored_form_hashes_the_same_bytes(
    at: datetime, actor: str, unit: str | None, data: dict[str, object], seq: int
) -> None:
    """`canonical_stored` of the fields as the append builds them (each value through `jsonable` once, the
    instant kept for its column) is byte for byte `canonical` of the raw fields: the hash does not change."""
    raw: dict[str, object] = {"at": at, "actor_id": actor, "unit_id": unit, "data": data}
    stored = {key: value if key == "at" else jsonable(value) for key, value in raw.items()}
    assert canonical_stored({**stored, "chain": 3, "seq": seq}) == canonical({**raw, "chain": 3, "seq": seq})
    assert entry_hash(GENESIS_HASH, stored, stored=True) == entry_hash(GENESIS_HASH, raw)
    sealed = seal(3, seq, GENESIS_HASH, stored, stored=True)
    assert sealed.hash == seal(3, seq, GENESIS_HASH, raw).hash


def _reference_jsonable(value: object) -> object:
    """`jsonable` as it was before its exact-type fast paths (issue #6): the stored form must not change."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {unicodedata.normalize("NFC", key): _reference_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_reference_jsonable(item) for item in value]
    raise TypeError(type(value).__name__)


@given(st.dictionaries(_TEXT, _VALUES, max_size=6))
def test_the_stored_form_is_what_it_was(data: dict[str, object]) -> None:
    stored = jsonable(data)
    assert stored == _reference_jsonable(data)
    assert json.dumps(stored, sort_keys=True) == json.dumps(_reference_jsonable(data), sort_keys=True)


@pytest.mark.parametrize("bad", [{1: "x"}, [{"a": 1.5}], {"a": {"b": object()}}])
def test_the_fast_paths_refuse_what_the_rules_refuse(bad: object) -> None:
    with pytest.raises(TypeError):
        jsonable(bad)
