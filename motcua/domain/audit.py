"""The hash-chained audit log: canonical encoding, entry hashes and chain verification (pure).

Every entry's hash covers the previous entry's hash and the entry's own fields (including its chain and
sequence number), so changing, deleting or reordering a row breaks the chain where it happened. The log
is split into K parallel chains (an entry goes to chain `crc32(object_id) mod K`) so that concurrent
transactions do not all queue on one head row. Each chain's head (last seq and hash) is stored separately;
comparing the last row of a chain with its head detects a deleted or rewritten tail.

Limit: someone who can rewrite every row *and* the heads (a database superuser) can forge a consistent
log. Detecting that needs external anchoring — periodically signed checkpoints of the heads kept outside
the database (not built yet).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Literal, cast

from motcua.domain.clock import require_aware
from motcua.domain.text import nfc

_normalize = unicodedata.normalize  # `nfc` without the call, in the per-entry walk

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry of every chain, and the hash of an empty chain's head."""

ProblemKind = Literal[
    "changed", "deleted", "reordered", "duplicate", "broken_link", "head_mismatch", "unknown_chain"
]


@dataclass(frozen=True)
class ChainEntry:
    """One stored audit entry: its place in a chain, its hashes, and the fields its hash covers."""

    chain: int
    seq: int
    prev_hash: str
    hash: str
    fields: Mapping[str, object]

    def hashed_fields(self) -> dict[str, object]:
        return {**self.fields, "chain": self.chain, "seq": self.seq}


@dataclass(frozen=True)
class ChainHead:
    """The stored head of a chain: the seq and hash of its last entry (0 and GENESIS_HASH when empty)."""

    chain: int
    seq: int
    hash: str


@dataclass(frozen=True)
class Problem:
    """One integrity problem found by `verify_chain`, with a Vietnamese description."""

    kind: ProblemKind
    chain: int
    seq: int
    message: str = field(compare=False)

    def __str__(self) -> str:
        return self.message


def seal(
    chain: int, seq: int, prev_hash: str, fields: Mapping[str, object], *, stored: bool = False
) -> ChainEntry:
    """A new entry: `fields` (stored form, see `jsonable`) at `seq` of `chain`, hashed onto `prev_hash`.
    `stored`: `fields` is already `jsonable`'s output but for top-level instants (see `canonical_stored`)."""
    draft = ChainEntry(chain=chain, seq=seq, prev_hash=prev_hash, hash="", fields=fields)
    return replace(draft, hash=entry_hash(prev_hash, draft.hashed_fields(), stored=stored))


def chain_for(object_id: str, chains: int) -> int:
    """The chain an object's entries go to: a stable hash of its id (same on every run and machine)."""
    return zlib.crc32(object_id.encode("utf-8")) % chains


def jsonable(value: object) -> object:
    """`value` in the form it is stored and hashed: JSON types only, NFC strings, instants as UTC text.

    Floats are refused: PostgreSQL's JSONB may write them back differently (1e16 → 10000000000000000),
    which would make an intact entry look changed. Store amounts as int or str.
    """
    # Exact types first (the bulk of every entry), each handled as the general rules below would.
    kind = type(value)
    if kind is str:
        return _normalize("NFC", cast(str, value))
    if kind is dict:
        return {
            _normalize("NFC", key) if type(key) is str else _key(key): jsonable(item)
            for key, item in cast(dict[object, object], value).items()
        }
    if kind is list:
        return [jsonable(item) for item in cast(list[object], value)]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, datetime):
        return require_aware(value).astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {_key(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    raise TypeError(
        f"audit fields take JSON values, str, int, bool, None and dates, not {type(value).__name__}"
    )


def canonical(fields: Mapping[str, object]) -> bytes:
    """The bytes an entry's hash covers: sorted-key compact JSON in UTF-8 of `jsonable(fields)`."""
    return json.dumps(jsonable(fields), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def canonical_stored(fields: Mapping[str, object]) -> bytes:
    """`canonical(fields)` when `fields` is already in stored form — its keys NFC `str` and every value
    `jsonable`'s output — except top-level instants and dates, which are converted here: the same bytes,
    without walking the values a second time (the audit append builds its fields with `jsonable` once)."""
    top = {
        key: jsonable(value) if isinstance(value, date) else value  # datetime is a date
        for key, value in fields.items()
    }
    return json.dumps(top, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, fields: Mapping[str, object], *, stored: bool = False) -> str:
    """Hex SHA-256 over the previous entry's hash and the canonical fields (`stored`: `fields` is in the
    form `canonical_stored` takes, so it is not walked again; the bytes hashed are the same)."""
    text = canonical_stored(fields) if stored else canonical(fields)
    return hashlib.sha256(prev_hash.encode("ascii") + text).hexdigest()


@dataclass
class _ChainState:
    seq: int = 0
    hash: str = GENESIS_HASH
    gaps: list[tuple[int, int]] = field(default_factory=list)  # missing seq ranges, inclusive

    def fill(self, seq: int) -> bool:
        """Mark `seq` as present after all (it came out of order); True if it was inside a gap."""
        for index, (first, last) in enumerate(self.gaps):
            if first <= seq <= last:
                pieces = [(first, seq - 1), (seq + 1, last)]
                self.gaps[index : index + 1] = [(a, b) for a, b in pieces if a <= b]
                return True
        return False


def verify_chain(entries: Iterable[ChainEntry], heads: Iterable[ChainHead] | None = None) -> list[Problem]:
    """Every integrity problem in `entries` (given in insertion order, chains interleaved), by chain and seq.

    With `heads`, also checks each chain's last entry against its stored head (a deleted or rewritten tail)
    and reports entries of chains that have no head.
    """
    problems: list[Problem] = []
    states: dict[int, _ChainState] = {}
    for entry in entries:
        state = states.setdefault(entry.chain, _ChainState())
        problems += _check_entry(entry, state)
    for chain, state in states.items():
        problems += [_deleted(chain, first, last, "giữa chuỗi") for first, last in state.gaps]
    if heads is not None:
        problems += _check_heads(states, list(heads))
    return sorted(problems, key=lambda problem: (problem.chain, problem.seq, problem.kind))


def _check_entry(entry: ChainEntry, state: _ChainState) -> list[Problem]:
    """Problems of one entry given its chain so far; advances the chain state."""
    chain, seq, where = entry.chain, entry.seq, _where(entry.chain, entry.seq)
    found: list[Problem] = []
    if entry_hash(entry.prev_hash, entry.hashed_fields()) != entry.hash:
        found.append(Problem("changed", chain, seq, f"{where}: nội dung đã bị sửa (mã băm không khớp)."))
    if seq == state.seq:
        found.append(Problem("duplicate", chain, seq, f"{where}: trùng số thứ tự với bản ghi trước."))
    elif seq < state.seq:
        state.fill(seq)
        message = f"{where}: sai thứ tự (nằm sau bản ghi số {state.seq})."
        found.append(Problem("reordered", chain, seq, message))
    else:
        if seq > state.seq + 1:
            state.gaps.append((state.seq + 1, seq - 1))
        elif entry.prev_hash != state.hash:
            message = f"{where}: liên kết bị đứt (mã băm trước không khớp bản ghi số {state.seq})."
            found.append(Problem("broken_link", chain, seq, message))
        state.seq, state.hash = seq, entry.hash
    return found


def _check_heads(states: Mapping[int, _ChainState], heads: list[ChainHead]) -> list[Problem]:
    found: list[Problem] = []
    known = {head.chain for head in heads}
    for chain in sorted(set(states) - known):
        message = f"Chuỗi {chain}: không có đầu chuỗi (các bản ghi được chèn ngoài nhật ký)."
        found.append(Problem("unknown_chain", chain, states[chain].seq, message))
    for head in heads:
        last = states.get(head.chain, _ChainState())
        if last.seq < head.seq:
            found.append(_deleted(head.chain, last.seq + 1, head.seq, "ở cuối chuỗi"))
        elif last.seq > head.seq or last.hash != head.hash:
            message = (
                f"{_where(head.chain, last.seq)}: không khớp đầu chuỗi (đầu chuỗi ghi số {head.seq}); "
                "bản ghi cuối đã bị sửa, thay thế hoặc chèn thêm."
            )
            found.append(Problem("head_mismatch", head.chain, last.seq, message))
    return found


def _deleted(chain: int, first: int, last: int, place: str) -> Problem:
    numbers = f"số {first}" if first == last else f"số {first} đến {last}"
    return Problem("deleted", chain, first, f"Chuỗi {chain}, bản ghi {numbers}: đã bị xoá ({place}).")


def _where(chain: int, seq: int) -> str:
    return f"Chuỗi {chain}, bản ghi số {seq}"


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"audit field names must be str, not {type(key).__name__}")
    return nfc(key)
