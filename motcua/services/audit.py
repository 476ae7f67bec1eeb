"""Audit log use cases: append an entry inside the caller's transaction, verify the chains, read a trail.

See `motcua.domain.audit` for the chain rules and the limits of what verification can prove.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, LargeBinary, Row, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from motcua.domain.audit import (
    GENESIS_HASH,
    ChainEntry,
    ChainHead,
    Problem,
    canonical_stored,
    chain_for,
    jsonable,
    seal,
    verify_chain,
)
from motcua.store.db import Database
from motcua.store.schema.audit import audit_heads, audit_log

DEFAULT_CHAINS = 8
# The columns an entry's hash covers, besides chain and seq.
HASHED_COLUMNS = ("at", "actor_id", "actor_role", "action", "object_type", "object_id", "unit_id", "data")
_CHAINS_CACHE_KEY = "motcua.audit.chains"  # K, cached on each pooled DBAPI connection (it never changes)
_HELD_CHAIN_KEY = "motcua.audit.held"  # (transaction, chain) of the head the current transaction locked


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    checked: int
    problems: list[Problem]
    chains: int = 0


def append_audit(
    conn: Connection,
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str | int,
    unit_id: str | None,
    data: Mapping[str, Any],
) -> int:
    """Append one entry and return its id. Call it inside the transaction that makes the change.

    The entry commits or rolls back with the change. The first entry of a transaction goes to the chain of
    its object (`chain_for`); later entries of the same transaction join that chain. So a transaction locks
    one chain head, however many objects it audits, and concurrent transactions cannot deadlock on the
    heads. (Locking each object's own chain deadlocked under load: an action auditing the dossier, then the
    document it issued, took two heads in an order another transaction could reverse.) On PostgreSQL the
    head stays locked until the transaction ends, so append late in the transaction.
    """
    fields = _audit_fields(
        at=at,
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        unit_id=unit_id,
        data=data,
    )
    chain = _transaction_chain(conn, str(fields["object_id"]))
    if conn.dialect.name == "postgresql":
        entry_id = _append_in_one_statement(conn, chain, fields)
        if entry_id is not None:
            return entry_id
        chain = _transaction_chain(conn, str(fields["object_id"]))  # the heads may have been recreated
    head = _lock_head(conn, chain)
    entry = seal(chain, head.seq + 1, head.hash, fields, stored=True)
    stored = {"chain": chain, "seq": entry.seq, "prev_hash": entry.prev_hash, "hash": entry.hash, **fields}
    entry_id = conn.execute(insert(audit_log).values(stored).returning(audit_log.c.id)).scalar_one()
    conn.execute(
        update(audit_heads).where(audit_heads.c.chain == chain).values(seq=entry.seq, hash=entry.hash)
    )
    return int(entry_id)


def append_audit_many(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> int:
    """Append many entries (each one `append_audit`'s keyword arguments), in order, to the chain this
    transaction holds (`append_audit`'s rule): the head locked once, the rows in one executemany, the head
    moved once — the same entries, hashes and chain as that many `append_audit` calls. For a change of
    thousands of objects in one transaction (a reorganisation plan moving a commune's open dossiers)."""
    if not entries:
        return 0
    fields = [_audit_fields(**entry) for entry in entries]
    chain = _transaction_chain(conn, str(fields[0]["object_id"]))
    head = _lock_head(conn, chain)
    seq, prev_hash = head.seq, head.hash
    rows = []
    for entry_fields in fields:
        seq += 1
        entry = seal(chain, seq, prev_hash, entry_fields, stored=True)
        rows.append({"chain": chain, "seq": seq, "prev_hash": prev_hash, "hash": entry.hash, **entry_fields})
        prev_hash = entry.hash
    conn.execute(insert(audit_log), rows)
    conn.execute(update(audit_heads).where(audit_heads.c.chain == chain).values(seq=seq, hash=prev_hash))
    return len(rows)


def _transaction_chain(conn: Connection, object_id: str) -> int:
    """The chain this transaction appends to: the one it holds already, else the object's."""
    transaction = conn.get_transaction()
    held = conn.info.get(_HELD_CHAIN_KEY)
    if held is not None and held[0] is transaction:
        return int(held[1])
    chain = _object_chain(conn, object_id)
    conn.info[_HELD_CHAIN_KEY] = (transaction, chain)
    return chain


def _object_chain(conn: Connection, object_id: str) -> int:
    """The object's own chain (`chain_for`), K cached per connection."""
    chains = conn.info.get(_CHAINS_CACHE_KEY) or ensure_audit_chains(conn)
    conn.info[_CHAINS_CACHE_KEY] = chains
    return chain_for(object_id, chains)


# One round trip on PostgreSQL: lock the head, hash the entry onto it, insert it and move the head. The
# hash is the domain's (`entry_hash`): SHA-256 over the previous hash and the canonical fields, whose text
# is built here around the sequence number, the only part that depends on the head. `{p}` prefixes the CTE
# and parameter names (so `audit_append_ctes` can fold the append into a caller's statement) and `{guard}`
# may add a condition on the head (the caller's own CTEs decide whether the entry is written).
_APPEND_CTES = """
    {p}head AS (
        SELECT chain, seq + 1 AS seq, hash AS prev_hash FROM audit_heads
        WHERE chain = :{p}chain {guard} FOR UPDATE
    ), {p}entry AS (
        SELECT chain, seq, prev_hash,
               encode(sha256(convert_to(prev_hash, 'UTF8') || :{p}before || convert_to(seq::text, 'UTF8')
                             || :{p}after), 'hex') AS hash
        FROM {p}head
    ), {p}stored AS (
        INSERT INTO audit_log (chain, seq, at, actor_id, actor_role, action, object_type, object_id, unit_id,
                               data, prev_hash, hash)
        SELECT chain, seq, :{p}at, :{p}actor_id, :{p}actor_role, :{p}action, :{p}object_type, :{p}object_id,
               :{p}unit_id, :{p}data, prev_hash, hash
        FROM {p}entry
        RETURNING id, seq, hash
    ), {p}moved AS (
        UPDATE audit_heads SET seq = {p}stored.seq, hash = {p}stored.hash FROM {p}stored
        WHERE audit_heads.chain = :{p}chain
    )"""


def _append_binds(prefix: str) -> list[Any]:
    return [
        bindparam(f"{prefix}before", type_=LargeBinary),
        bindparam(f"{prefix}after", type_=LargeBinary),
        bindparam(f"{prefix}at", type_=audit_log.c.at.type),
        bindparam(f"{prefix}data", type_=audit_log.c.data.type),
    ]


_APPEND = text("WITH " + _APPEND_CTES.format(p="", guard="") + "\n    SELECT id FROM stored").bindparams(
    *_append_binds("")
)
_SEQ_MARK = -987_654_321_987  # stands for the sequence number while the canonical text is split around it
AUDIT_CTE_PREFIX = "audit_"


def _audit_fields(
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str | int,
    unit_id: str | None,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_id": jsonable(actor_id),
        "actor_role": jsonable(actor_role),
        "action": jsonable(action),
        "object_type": jsonable(object_type),
        "object_id": jsonable(str(object_id)),
        "unit_id": jsonable(unit_id),
        "data": jsonable(data),  # a new dict: the fields are walked once, here
    }


def _one_statement_params(chain: int, fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any] | None:
    """The parameters of the one-statement append, or None when the canonical text cannot be split around
    the sequence number (then: three statements)."""
    text_bytes = canonical_stored({**fields, "chain": chain, "seq": _SEQ_MARK})  # fields: `_audit_fields`
    mark = f'"seq":{_SEQ_MARK}'.encode()
    if text_bytes.count(mark) != 1:
        return None
    before, after = text_bytes.split(mark)
    params = {**fields, "chain": chain, "before": before + b'"seq":', "after": after}
    return {f"{prefix}{name}": value for name, value in params.items()}


def _append_in_one_statement(conn: Connection, chain: int, fields: Mapping[str, Any]) -> int | None:
    """None when the statement could not be used (then: three statements)."""
    params = _one_statement_params(chain, fields)
    if params is None:
        return None
    entry_id = conn.execute(_APPEND, params).scalar_one_or_none()
    if entry_id is None:  # no head row: the chains were recreated since K was cached
        conn.info.pop(_CHAINS_CACHE_KEY, None)
        conn.info.pop(_HELD_CHAIN_KEY, None)
        return None
    return int(entry_id)


def audit_append_ctes(guard: str = "") -> tuple[str, list[Any]]:
    """For a caller folding one audit append into its own PostgreSQL statement (one round trip for the
    change and its audit entry): the CTEs (`audit_head`, `audit_entry`, `audit_stored`, `audit_moved`; the
    new entry's id is `SELECT id FROM audit_stored`) and their typed bind parameters. `guard` is SQL added
    to the head's WHERE clause (e.g. `AND EXISTS (SELECT 1 FROM changed)`). Parameters:
    `audit_cte_params`."""
    return _APPEND_CTES.format(p=AUDIT_CTE_PREFIX, guard=guard), _append_binds(AUDIT_CTE_PREFIX)


def audit_cte_params(
    conn: Connection,
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str | int,
    unit_id: str | None,
    data: Mapping[str, Any],
    alone: bool = False,
) -> dict[str, Any] | None:
    """The parameters of `audit_append_ctes` for one entry (same chain rule as `append_audit`), or None when
    the entry cannot be written that way: then call `append_audit`. If the statement returns no entry id
    (the heads were recreated), call `forget_audit_chains` and `append_audit`. `alone`: for a statement that is
    its own transaction (autocommit): the entry goes to its object's chain and no chain is held."""
    fields = _audit_fields(
        at=at,
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        unit_id=unit_id,
        data=data,
    )
    object_id = str(fields["object_id"])
    chain = _object_chain(conn, object_id) if alone else _transaction_chain(conn, object_id)
    return _one_statement_params(chain, fields, AUDIT_CTE_PREFIX)


def forget_audit_chains(conn: Connection) -> None:
    """Forget the cached number of chains and the chain held (after an append found no head row)."""
    conn.info.pop(_CHAINS_CACHE_KEY, None)
    conn.info.pop(_HELD_CHAIN_KEY, None)


def ensure_audit_chains(conn: Connection, chains: int = DEFAULT_CHAINS) -> int:
    """Create the chain heads if the log has none yet (safe to race); return K, the number of chains."""
    existing = _count_heads(conn)
    if existing:
        return existing
    if chains < 1:
        raise ValueError("the audit log needs at least one chain")
    rows = [{"chain": chain, "seq": 0, "hash": GENESIS_HASH} for chain in range(chains)]
    conn.execute(_insert_ignoring_duplicates(conn), rows)
    return _count_heads(conn)


def verify_audit(conn: Connection) -> AuditReport:
    """Check every entry and every chain head.

    Heads and rows must come from one snapshot: SQLite transactions are snapshots; on PostgreSQL use a
    REPEATABLE READ transaction when others may be writing (`verify_database` does both).
    """
    heads = [ChainHead(row.chain, row.seq, row.hash) for row in conn.execute(select(audit_heads))]
    rows = conn.execute(select(audit_log).order_by(audit_log.c.id).execution_options(yield_per=2000))
    checked = 0

    def entries() -> Iterator[ChainEntry]:  # streamed: the log may be far larger than memory
        nonlocal checked
        for row in rows:
            checked += 1
            yield _entry(row)

    problems = verify_chain(entries(), heads)
    return AuditReport(ok=not problems, checked=checked, problems=problems, chains=len(heads))


def verify_database(db: Database) -> AuditReport:
    """`verify_audit` in a read-only snapshot of the whole database."""
    if db.dialect != "postgresql":
        with db.read() as conn:
            return verify_audit(conn)
    with db.engine.connect() as conn:
        snapshot = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with snapshot.begin():
            return verify_audit(snapshot)


def audit_trail(conn: Connection, object_type: str, object_id: str | int) -> list[dict[str, Any]]:
    """Every entry about one object, oldest first."""
    query = (
        select(audit_log)
        .where(audit_log.c.object_type == object_type, audit_log.c.object_id == str(object_id))
        .order_by(audit_log.c.at, audit_log.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _lock_head(conn: Connection, chain: int) -> ChainHead:
    """The chain's head, locked until the transaction ends (SQLite: transactions are serial already)."""
    query = select(audit_heads.c.seq, audit_heads.c.hash).where(audit_heads.c.chain == chain)
    head = conn.execute(query.with_for_update()).one_or_none()
    if head is None:
        conn.info.pop(_CHAINS_CACHE_KEY, None)  # the heads were recreated since K was cached
        conn.info.pop(_HELD_CHAIN_KEY, None)
        raise RuntimeError(f"audit chain {chain} has no head row")
    return ChainHead(chain, head.seq, head.hash)


def _count_heads(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_heads)).scalar_one())


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(conn.dialect.name)
    if dialect is None:
        return insert(audit_heads)
    return dialect.insert(audit_heads).on_conflict_do_nothing(index_elements=["chain"])


def _entry(row: Row[Any]) -> ChainEntry:
    fields = {name: getattr(row, name) for name in HASHED_COLUMNS}
    return ChainEntry(chain=row.chain, seq=row.seq, prev_hash=row.prev_hash, hash=row.hash, fields=fields)
