"""Database engines and transactions for SQLite (embedded) and PostgreSQL.

Every write goes through `Database.transaction()`: one transaction per use case, committed before a 2xx.
On SQLite the connection runs in WAL mode and each transaction starts with BEGIN IMMEDIATE so concurrent
writers queue on the write lock instead of failing with "database is locked" at commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from time import monotonic
from typing import Any

import asyncpg
import msgspec
import psycopg
from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.sql.expression import Executable, SelectBase

from motcua.domain.text import fold

DEFAULT_SQLITE_PATH = Path("var/motcua.sqlite3")
# A pooled PostgreSQL connection idle for longer than this is pinged when checked out (see `_ping_when_idle`).
PING_AFTER_IDLE_SECONDS = 5.0
_LAST_CHECKIN = "motcua.last_checkin"


def database_url() -> str:
    """`MOTCUA_DATABASE_URL`, or the embedded SQLite file under ./var."""
    url = os.environ.get("MOTCUA_DATABASE_URL")
    if url:
        return url
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


SQLITE_MMAP_BYTES = 2**30  # address space only (the OS caches the pages): a commune's file of ≈ 100k dossiers


def _sqlite_fold(value: str | None) -> str | None:
    return None if value is None else fold(value)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN so we can make it IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Reads through a memory map of the file (shared by every connection, held by the OS cache) instead
        # of a read() call per page: a queue page reads thousands of dossier rows, one page each (≈ 2× faster).
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cur.close()
        # The accent fold of `motcua.domain.text`, for the `dossier_search` triggers (schema/dossier_search.py).
        dbapi_conn.create_function("motcua_fold", 1, _sqlite_fold, deterministic=True)
        refresh_sqlite_statistics(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("motcua_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# SQLite plans from the statistics ANALYZE leaves in `sqlite_stat1`; without them (a new commune's file) or
# with them far behind (a year of filings later) it guesses, e.g. that one unit's dossiers are few and sorts
# all of them for a queue's first page (≈ 190 ms at 100k dossiers instead of ≈ 18 ms). So a new connection
# runs ANALYZE (≈ 0.1 s of CPU per 100k dossiers) when the dossiers table has grown past twice the rows
# last analysed, from STALE_STATISTICS_ROWS rows on.
STALE_STATISTICS_ROWS = 1000


def refresh_sqlite_statistics(dbapi_conn: Any) -> bool:
    """ANALYZE when `dossiers` has outgrown its statistics (see above); True when it ran. Any failure (a
    read-only file, the write lock held long) leaves the statistics as they were."""
    try:
        cur = dbapi_conn.cursor()
        try:
            rows = cur.execute("SELECT max(id) FROM dossiers").fetchone()[0] or 0
            if rows < STALE_STATISTICS_ROWS:
                return False
            has_stat = cur.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
            ).fetchone()
            stat = (
                cur.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'dossiers' LIMIT 1").fetchone()
                if has_stat
                else None
            )
            analysed = int(stat[0].split()[0]) if stat else 0
            if rows <= 2 * analysed:
                return False
            cur.execute("ANALYZE")
            return True
        finally:
            cur.close()
    except Exception:  # no dossiers table yet (before migrations), a read-only or locked file
        return False


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pessimistic disconnect handling, only for connections that sat idle in the pool.

    `pool_pre_ping` cost one round trip per checkout, i.e. per request. Here a connection checked in less
    than PING_AFTER_IDLE_SECONDS ago is handed out as is (under load that is every checkout); an older one
    is pinged, and a failed ping raises `DisconnectionError`, on which the pool discards that connection and
    checks out another (SQLAlchemy's documented recipe). After a database restart the idle connections are
    replaced without an error; a connection in use when the database goes away fails its request, and
    SQLAlchemy then invalidates the rest of the pool, so the next requests get fresh connections.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_conn: Any, record: Any) -> None:
        record.info[_LAST_CHECKIN] = monotonic()  # a new connection needs no ping

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_LAST_CHECKIN] = monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_CHECKIN)
        if last is not None and monotonic() - last < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
            if not getattr(dbapi_conn, "autocommit", True):
                dbapi_conn.rollback()  # the ping opened a transaction: leave the connection idle
        except Exception as exc:  # any failure: this connection is unusable, the pool retries another
            raise DisconnectionError(f"ping failed: {exc}") from exc


_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


def json_dumps(value: Any) -> bytes | str:
    """PostgreSQL's jsonb parameters as JSON text: msgspec (≈ 10× less CPU than `json.dumps`; a lifecycle sends
    its state, event and audit data as jsonb). jsonb keeps the parsed value, not the text, so the stored value
    is the one `json.dumps` gave (same keys, strings, integers and floats). A value msgspec refuses goes to
    `json.dumps` and fails or succeeds as before. One difference: msgspec writes a NaN or infinite float as
    `null` where `json.dumps` wrote a token PostgreSQL refuses; no stored document holds floats we compute."""
    try:
        return _json_encode(value)
    except (TypeError, msgspec.EncodeError):
        return json.dumps(value)


def json_loads(data: bytes | str) -> Any:
    """jsonb read back: msgspec (≈ 2× less CPU than `json.loads`, the same values); `json.loads` for what msgspec
    refuses (a number out of a float's range: `json.loads` makes it infinite)."""
    try:
        return _json_decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    if url.startswith("postgresql+psycopg"):  # set on each connection's adapters by SQLAlchemy's dialect
        kwargs.setdefault("json_serializer", json_dumps)
        kwargs.setdefault("json_deserializer", json_loads)
    ping = not kwargs.pop("pool_pre_ping", False)  # an explicit pre-ping replaces the idle ping
    engine = create_engine(url, **kwargs)
    if ping:
        _ping_when_idle(engine)
    return engine


def lost_database(exc: BaseException) -> bool:
    """The request failed because its database connection was lost (a restart, a failover, an administrator
    ending it). The pool has dropped that connection and a retry gets a new one. Nothing was committed unless
    the connection was lost during the commit itself, so the answer does not claim either (an action retried
    after a commit that did land meets the version check: 409)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


_REQUIRED = object()
_HOT_CURSOR = "motcua.hot_cursor"
_TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK


def _dialect_key(dialect: Dialect) -> tuple[Any, ...]:
    return (dialect.name, dialect.driver, dialect.server_version_info)


class HotStatement:
    """A hot statement run on PostgreSQL without SQLAlchemy's per-call machinery (issue #6).

    The statement is written once, as SQLAlchemy Core or `text()` with typed bind parameters (SQLite runs it
    through `Connection.execute` as before). On PostgreSQL with psycopg it is compiled ONCE per dialect: the
    SQL with positional placeholders, the order of its parameters and their bind processors (the same
    `TypeEngine.bind_processor`s SQLAlchemy applies: `Instant` to UTC, JSONB wrapped), and the result
    columns' processors (`Instant` back to Ho Chi Minh City time). Each call then binds a tuple and runs it
    on the driver connection, in the caller's transaction, as a server-side prepared statement
    (`prepare=True`: prepared on first use per connection, psycopg re-prepares it after a reconnect or a
    `DISCARD ALL`); rows come back as tuples. `before_cursor_execute` listeners still see the statement
    (tests and the bench count statements). A driver error is raised as SQLAlchemy raises it (`DBAPIError`),
    and a connection it broke is invalidated so the pool does not hand it out again.
    """

    _PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")

    def __init__(self, clause: Executable) -> None:
        self.clause: Any = clause  # Core or text(): both compile
        self.columns: tuple[str, ...] = (
            tuple(str(c.key) for c in clause.selected_columns) if isinstance(clause, SelectBase) else ()
        )
        # per (dialect, driver, server version): a few entries at most
        self._compiled: dict[Any, tuple[str, tuple[tuple[str, Any, Any], ...], tuple[Any, ...]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[tuple[str, Any, Any], ...], tuple[Any, ...]]:
        """The SQL with PostgreSQL's own placeholders (`$1`, one per distinct name, so a value used twice is
        sent once), run through a `RawCursor`: psycopg sends it as it is, where `%s` placeholders would be
        parsed on every call (its parse cache stops at 50 parameters and 4 kB, which the lifecycle's CTEs pass)."""
        compiled = self.clause.compile(dialect=dialect)
        binds = compiled.binds
        names: list[str] = []

        def positional(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"  # pyformat's escaped percent sign
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        sql = self._PLACEHOLDER.sub(positional, compiled.string)
        # (name, processor, constant): a constant written into the statement (e.g. `last_seq + 1`) has no key
        processors = tuple(
            (
                name,
                binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                _REQUIRED if binds[name].required else binds[name].effective_value,
            )
            for name in names
        )
        results: tuple[Any, ...] = ()
        if isinstance(self.clause, SelectBase):
            results = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None)
                for c in self.clause.selected_columns
            )
        entry = (sql, processors, results if any(results) else ())
        self._compiled[_dialect_key(dialect)] = entry
        return entry

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows (tuples, in `columns` order for a select) in `conn`'s transaction."""
        dialect = conn.dialect
        if dialect.name != "postgresql" or dialect.driver != "psycopg":
            return [tuple(row) for row in conn.execute(self.clause, params)]
        sql, processors, results = self._compiled.get(_dialect_key(dialect)) or self._compile(dialect)
        values = tuple(
            (v if p is None else p(v))
            for v, p in ((params[n] if c is _REQUIRED else params.get(n, c), p) for n, p, c in processors)
        )
        proxied = conn.connection
        driver = proxied.driver_connection
        assert isinstance(driver, psycopg.Connection)
        # One cursor per driver connection, reused (`info` goes with the DBAPI connection: a replaced
        # connection gets a new one); it keeps only the last result.
        cursor = proxied.info.get(_HOT_CURSOR)
        if cursor is None or cursor.connection is not driver:
            cursor = proxied.info[_HOT_CURSOR] = psycopg.RawCursor(driver)
        if conn.dispatch.before_cursor_execute:
            conn.dispatch.before_cursor_execute(conn, cursor, sql, values, None, False)
        try:
            cursor.execute(sql, values, prepare=True)
            rows = cursor.fetchall() if cursor.pgresult.status == _TUPLES_OK else []  # type: ignore[union-attr]
        except psycopg.Error as exc:
            broken = driver.closed or driver.broken
            if broken:
                conn.invalidate(exc)
            raise DBAPIError.instance(sql, values, exc, psycopg.Error, connection_invalidated=broken) from exc
        if results:
            return [
                tuple(v if p is None else p(v) for v, p in zip(row, results, strict=True)) for row in rows
            ]
        return rows


class _LoopConnections:
    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self.idle: list[asyncpg.Connection] = []


# A connection that raised one of these is unusable (the server restarted or ended it, the socket broke).
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InternalClientError,  # the protocol's state broken: seen when the server ended the connection
    OSError,
)


# The URL parameters asyncpg reads as libpq does; it would send any other (e.g. `options`) to the server as a
# setting and fail. A URL with others gets no async reader: its reads take the sync path, as on SQLite.
ASYNCPG_URL_PARAMETERS = frozenset(
    {
        "application_name", "gsslib", "krbsrvname", "passfile", "service", "ssl_max_protocol_version",
        "ssl_min_protocol_version", "sslcert", "sslcrl", "sslkey", "sslmode", "sslnegotiation",
        "sslpassword", "sslrootcert", "target_session_attrs",
    }
)  # fmt: skip


class AsyncReader:
    """PostgreSQL: single-statement reads awaited on the event loop, without a worker thread (the public
    tracking lookup). asyncpg connections (binary protocol, statements prepared once per connection and
    cached, rows decoded in C: ≈ 3× less CPU per read than psycopg's async path), separate from the engine's
    pool and outside any transaction (one round trip per read): at most `size` per event loop, reused; more
    concurrent reads wait for one. A reused connection that fails (the database restarted) is replaced once,
    then the error is raised. Queries use asyncpg's placeholders (`$1`); values are decoded as asyncpg
    decodes them (json and jsonb as text).
    """

    def __init__(self, conninfo: str, size: int = 4, connect_timeout: int = 5) -> None:
        self._conninfo = conninfo
        self._size = size
        self._connect_timeout = connect_timeout
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
            weakref.WeakKeyDictionary()
        )

    async def fetchone(self, query: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        loop = asyncio.get_running_loop()
        pool = self._loops.get(loop)
        if pool is None:
            pool = self._loops.setdefault(loop, _LoopConnections(self._size))
        async with pool.slots:
            for attempt in (1, 2):
                reused = bool(pool.idle)
                conn = pool.idle.pop() if reused else await self._connect()
                try:
                    row = await conn.fetchrow(query, *params)
                except _CONNECTION_LOST:
                    conn.terminate()
                    if reused and attempt == 1:
                        continue
                    raise
                except BaseException:  # cancelled or failed mid-read: the connection's state is unknown
                    conn.terminate()
                    raise
                pool.idle.append(conn)
                return None if row is None else tuple(row)
        raise AssertionError("unreachable")

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._conninfo, timeout=self._connect_timeout)

    def close(self) -> None:
        """Close the idle connections (no await needed: the socket is closed at once)."""
        for pool in list(self._loops.values()):
            while pool.idle:
                with suppress(Exception):  # its event loop may be closed already: the socket goes with it
                    pool.idle.pop().terminate()


_SQLITE_WRITE_LOCKS: dict[str, threading.RLock] = {}


def _sqlite_write_lock(engine: Engine) -> threading.RLock | None:
    """One lock per SQLite file in this process, shared by every `Database` on it (re-entrant: a nested
    transaction on the same thread meets SQLite's own lock, as without this one); none in memory."""
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    with _LOCKS_GUARD:
        return _SQLITE_WRITE_LOCKS.setdefault(str(Path(name).resolve()), threading.RLock())


_LOCKS_GUARD = threading.Lock()


class Database:
    """Owns the engine; hands out transactions (write) and connections (read)."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        self.async_reader: AsyncReader | None = None
        self._write_lock = _sqlite_write_lock(self.engine) if self.engine.dialect.name == "sqlite" else None
        engine_url = self.engine.url
        if (
            self.engine.dialect.name == "postgresql"
            and self.engine.dialect.driver == "psycopg"
            and set(engine_url.query) <= ASYNCPG_URL_PARAMETERS
        ):
            conninfo = engine_url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.async_reader = AsyncReader(conninfo)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit of work: committed on normal exit, rolled back on any exception.

        SQLite has one writer at a time. Its busy handler makes a waiting writer sleep and retry (1, 2, 5 … up
        to 100 ms between tries), so under concurrent writes the waits, not the writes, made the latency; here
        the writers of this process queue on a lock instead and each starts the moment the previous commits.
        Writers in other processes (the CLI) still meet the busy handler."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read (a deferred transaction on SQLite, so readers never wait for the write lock)."""
        with self.engine.connect().execution_options(motcua_read_only=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read_one(self) -> Iterator[Connection]:
        """For a use case that reads with ONE statement: on PostgreSQL the connection is in autocommit, so
        there is no BEGIN and no COMMIT round trip (a single statement sees one consistent snapshot anyway).
        Do not run several statements that must agree with each other on it: use `read()`. SQLite: `read()`.
        """
        if self.engine.dialect.name != "postgresql":
            with self.read() as conn:
                yield conn
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def dispose(self) -> None:
        if self.async_reader is not None:
            self.async_reader.close()
        self.engine.dispose()
