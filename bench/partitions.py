"""Issue #6: would partitioning the event log by month help? (decision 0012)

Two copies of the same events in a scratch database on the benchmark cluster, with `dossier_events`' columns
(types taken from the real schema):

- `plain`, as today: a bigserial primary key, UNIQUE (dossier_id, seq), a foreign key to `dossiers_stub(id)`;
- `monthly`, `PARTITION BY RANGE (at)`, one partition per Vietnamese calendar month and a default one.
  PostgreSQL wants the partition key in every unique constraint, so its keys are PRIMARY KEY (id, at) and
  UNIQUE (dossier_id, seq, at): the database no longer enforces one event per (dossier_id, seq).

Then, alternating the tables round by round so both see the same noise (pgbench, 8 clients, 2 threads,
prepared statements as the application runs them): the append of one event to a random dossier (its seq is the
dossier row's new version, as `_STORE_ACTION` takes it), a dossier's history (`history()` in
`services/dossiers.py`, prepared and unprepared), the plan and planning time of that read, and maintenance
(sizes, VACUUM of the whole table and of one month, removing a month: DETACH + DROP against DELETE).
"""

from __future__ import annotations

import itertools
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench import report
from bench.cluster import BenchServer
from bench.server import cpu_seconds
from motcua.domain.clock import VN_TZ
from motcua.store.schema.dossiers import dossier_events

DATABASE = "partitions"
TABLES = ("plain", "monthly")
HISTORY_MONTHS = 13  # `at` spread over 13 calendar months, the last one the current month
_COLUMNS = [c.name for c in dossier_events.columns]


@dataclass(frozen=True)
class Settings:
    events: int
    seconds: int  # per pgbench run
    clients: int = 8
    rounds: int = 3
    explain_repeats: int = 20

    @property
    def dossiers(self) -> int:
        return max(self.events // 2, 1)  # two events per dossier: its submission and one action


# ---------------------------------------------------------------- schema and data


def _column_ddl() -> str:
    """`dossier_events`' columns as PostgreSQL declares them (`BIGSERIAL` for the id), without constraints."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    lines = []
    for column in dossier_events.columns:
        kind = "BIGSERIAL" if column.name == "id" else column.type.compile(dialect=dialect)
        lines.append(f"{column.name} {kind}{'' if column.nullable else ' NOT NULL'}")
    return ",\n    ".join(lines)


def month_starts(now: datetime) -> list[datetime]:
    """The first instants (Vietnamese time) of the 13 months the events span, then of the next month."""
    local = now.astimezone(VN_TZ)
    year, month = local.year, local.month - (HISTORY_MONTHS - 1)
    while month < 1:
        year, month = year - 1, month + 12
    starts = []
    for _ in range(HISTORY_MONTHS + 2):
        starts.append(datetime(year, month, 1, tzinfo=VN_TZ))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts  # 15 bounds: 13 months of events and the next month, pre-created as production would


def partition_name(start: datetime) -> str:
    return f"monthly_{start:%Y_%m}"


# A dossier's submission at a point of the 13 months proportional to its id (ids are sequential, as they are),
# its one action 0–10 days later (so some dossiers' events span two months), never after `now`. Payloads like the
# application's: `changes` the state fields an event sets (≈ 150 bytes of JSON), `data` the action's input.
_LOAD = """
INSERT INTO plain ({columns})
SELECT g, k.d, k.s, CASE k.s WHEN 1 THEN 'submit' ELSE 'accept' END, t.at,
       CASE k.s WHEN 1 THEN 'cd-0' || (790000000 + k.d) ELSE 'can-bo-' || (k.d %% 5000) END,
       CASE k.s WHEN 1 THEN 'citizen' ELSE 'officer' END,
       CASE k.s WHEN 1 THEN NULL ELSE 'phuong-' || (k.d %% 168) END,
       CASE k.s WHEN 1 THEN jsonb_build_object('channel', 'online')
            ELSE jsonb_build_object('note', 'Hồ sơ đầy đủ', 'appointment_at', t.at + interval '5 days') END,
       jsonb_build_object(
           'status', k.s, 'step', CASE k.s WHEN 1 THEN 'tiep-nhan' ELSE 'xu-ly' END,
           'step_unit_id', 'phuong-' || (k.d %% 168), 'version', k.s,
           'last_event_at', t.at, 'step_entered_at', t.at)
FROM generate_series(1, %(events)s::bigint) AS g,
     LATERAL (SELECT (g + 1) / 2 AS d, (2 - g %% 2)::int AS s) AS k,
     LATERAL (SELECT LEAST(
         %(start)s::timestamptz + %(span)s::interval * ((k.d - 1)::float8 / %(dossiers)s)
             + CASE k.s WHEN 2 THEN make_interval(secs => (k.d * 7919) %% 864000) ELSE interval '0' END,
         %(now)s::timestamptz) AS at) AS t
"""


def _log_nothing(message: str) -> None:
    pass


def build(
    conn: psycopg.Connection[Any], s: Settings, now: datetime, log: Callable[[str], None]
) -> dict[str, Any]:
    """Create `dossiers_stub`, `plain` and `monthly`, load the same events into both, VACUUM ANALYZE."""
    months = month_starts(now)
    columns = ", ".join(_COLUMNS)
    timings: dict[str, float] = {}
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("DROP TABLE IF EXISTS plain, monthly, dossiers_stub CASCADE")
    conn.execute("CREATE TABLE dossiers_stub (id BIGINT PRIMARY KEY, version INTEGER NOT NULL)")
    conn.execute(
        "INSERT INTO dossiers_stub SELECT g, 2 FROM generate_series(1, %s::bigint) AS g", (s.dossiers,)
    )
    conn.execute(f"CREATE TABLE plain (\n    {_column_ddl()}\n)")
    conn.execute(f"CREATE TABLE monthly (\n    {_column_ddl()}\n) PARTITION BY RANGE (at)")
    for start, end in itertools.pairwise(months):
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF monthly FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(partition_name(start)), sql.Literal(start), sql.Literal(end)
            )
        )
    conn.execute("CREATE TABLE monthly_default PARTITION OF monthly DEFAULT")

    log(f"loading {s.events:,} events into plain")
    started = time.perf_counter()
    conn.execute(
        _LOAD.format(columns=columns),
        {"events": s.events, "dossiers": s.dossiers, "start": months[0], "span": now - months[0], "now": now},
    )
    timings["plain_insert_s"] = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("ALTER TABLE plain ADD CONSTRAINT plain_pkey PRIMARY KEY (id)")
    conn.execute("ALTER TABLE plain ADD CONSTRAINT plain_dossier_seq UNIQUE (dossier_id, seq)")
    conn.execute(
        "ALTER TABLE plain ADD CONSTRAINT plain_dossier_fk FOREIGN KEY (dossier_id) REFERENCES dossiers_stub (id)"
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('plain', 'id'), (SELECT max(id) FROM plain))")
    timings["plain_keys_s"] = time.perf_counter() - started

    log("copying them into monthly")
    started = time.perf_counter()
    conn.execute(f"INSERT INTO monthly ({columns}) SELECT {columns} FROM plain")
    timings["monthly_insert_s"] = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("ALTER TABLE monthly ADD CONSTRAINT monthly_pkey PRIMARY KEY (id, at)")
    conn.execute("ALTER TABLE monthly ADD CONSTRAINT monthly_dossier_seq UNIQUE (dossier_id, seq, at)")
    conn.execute(
        "ALTER TABLE monthly ADD CONSTRAINT monthly_dossier_fk "
        "FOREIGN KEY (dossier_id) REFERENCES dossiers_stub (id)"
    )
    # Not shared with plain: each table draws its own ids, as each would in production.
    conn.execute("SELECT setval(pg_get_serial_sequence('monthly', 'id'), (SELECT max(id) FROM plain))")
    timings["monthly_keys_s"] = time.perf_counter() - started

    log("VACUUM ANALYZE")
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE dossiers_stub, plain, monthly")
    timings["vacuum_analyze_s"] = time.perf_counter() - started
    conn.execute("CHECKPOINT")
    return {
        "months": [partition_name(m) for m in months[:-1]],
        "month_starts": [m.isoformat() for m in months],
        "load": {k: round(v, 1) for k, v in timings.items()},
        "same_rows": same_rows(conn),
        "rows_per_partition": dict(
            conn.execute(
                "SELECT tableoid::regclass::text, count(*) FROM monthly GROUP BY 1 ORDER BY 1"
            ).fetchall()
        ),
    }


def same_rows(conn: psycopg.Connection[Any]) -> bool:
    """Both tables hold the same rows: the same count and the same fingerprint of every row's columns."""
    fingerprint = "SELECT count(*), sum(hashtextextended(concat_ws('|', {columns}), 0)::numeric) FROM {table}"
    columns = ", ".join(_COLUMNS)
    found = [conn.execute(fingerprint.format(columns=columns, table=t)).fetchone() for t in TABLES]
    return found[0] == found[1]


# ---------------------------------------------------------------- pgbench runs


def _append_script(table: str, dossiers: int) -> str:
    """One event for a random dossier, its seq the dossier's new version: the shape of `_STORE_ACTION` (the
    row's version-checked UPDATE and the event's INSERT in one statement), without the audit and outbox."""
    return f"""\\set d random(1, {dossiers})
WITH changed AS (
    UPDATE dossiers_stub SET version = version + 1 WHERE id = :d RETURNING id, version
)
INSERT INTO {table} (dossier_id, seq, type, at, actor_id, actor_kind, actor_unit_id, data, changes)
SELECT id, version, 'forward', now(), 'can-bo-' || (id % 5000), 'officer', 'phuong-' || (id % 168),
       jsonb_build_object('note', 'Chuyển bộ phận xử lý', 'assignee_id', 'can-bo-' || (id % 4999)),
       jsonb_build_object('status', 3, 'step', 'xu-ly', 'step_unit_id', 'phuong-' || (id % 168),
                          'version', version, 'last_event_at', now(), 'step_entered_at', now())
FROM changed;
"""


def _history_sql(table: str) -> str:
    return f"SELECT {', '.join(_COLUMNS)} FROM {table} WHERE dossier_id = {{}} ORDER BY seq"


def _history_script(table: str, dossiers: int) -> str:
    return f"\\set d random(1, {dossiers})\n{_history_sql(table).format(':d')};\n"


CASES: dict[str, tuple[Callable[[str, int], str], str]] = {
    # name: (script, pgbench protocol)
    "append": (_append_script, "prepared"),
    "history": (_history_script, "prepared"),
    "history_unprepared": (_history_script, "simple"),
}


def pgbench_run(
    server: BenchServer, workdir: Path, name: str, script: str, s: Settings, protocol: str
) -> dict[str, Any]:
    """One pgbench run: TPS, latency percentiles (from its per-transaction log), CPU per transaction."""
    path = workdir / f"{name}.sql"
    path.write_text(script)
    prefix = workdir / f"log-{name}"
    for old in workdir.glob(f"{prefix.name}*"):
        old.unlink()
    db_before = cpu_seconds(server.postmaster_pids())
    client_before = _children_cpu()
    out = server.pgbench(
        "-n", "-f", str(path), "-c", str(s.clients), "-j", "2", "-T", str(s.seconds), "-M", protocol,
        "-l", f"--log-prefix={prefix}",
        database=DATABASE,
    )  # fmt: skip
    client = _children_cpu() - client_before
    database = cpu_seconds(server.postmaster_pids()) - db_before
    latencies = sorted(_logged_latencies(workdir, prefix.name))
    for old in workdir.glob(f"{prefix.name}*"):
        old.unlink()
    transactions = _number(out, "number of transactions actually processed:")
    failed = _number(out, "number of failed transactions:", missing=0)
    if not latencies or transactions <= 0:
        raise RuntimeError(f"pgbench {name}: no transactions\n{out}")
    return {
        "tps": round(_number(out, "tps =", "(without initial connection time)"), 1),
        "transactions": int(transactions),
        "failed": int(failed),
        "latency_ms": {
            "mean": round(statistics.fmean(latencies), 3),
            "p50": round(_percentile(latencies, 0.50), 3),
            "p99": round(_percentile(latencies, 0.99), 3),
            "max": round(latencies[-1], 3),
        },
        "database_cpu_us_per_transaction": round(database * 1e6 / transactions, 1),
        "pgbench_cpu_us_per_transaction": round(client * 1e6 / transactions, 1),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _logged_latencies(workdir: Path, prefix: str) -> Iterator[float]:
    """pgbench -l lines: client, transaction, latency µs, script, epoch s, µs (PostgreSQL 15)."""
    for log in workdir.glob(f"{prefix}*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                yield int(fields[2]) / 1000


def _number(out: str, before: str, after: str = "", *, missing: float | None = None) -> float:
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(before) and (not after or after in line):
            return float(line.removeprefix(before).split()[0])
    if missing is not None:
        return missing
    raise RuntimeError(f"pgbench output without {before!r}:\n{out}")


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- plans and maintenance


def explain_history(conninfo: str, table: str, s: Settings) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS, SUMMARY) of a dossier's history: the first in a new session (relation
    caches cold), then the median of `explain_repeats` more for other dossiers."""
    statement = "EXPLAIN (ANALYZE, BUFFERS, SUMMARY, FORMAT JSON) " + _history_sql(table).format("%s")
    runs = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for i in range(s.explain_repeats + 1):
            dossier = 1 + (i * 7_919_993) % s.dossiers
            row = conn.execute(statement, (dossier,), prepare=False).fetchone()
            assert row is not None
            runs.append(row[0][0])
    relations: list[str] = []
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node["Node Type"] + (f" {node['Index Name']}" if "Index Name" in node else ""))
        if "Relation Name" in node:
            relations.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(runs[-1]["Plan"])
    later = runs[1:]
    return {
        "first_planning_ms": round(runs[0]["Planning Time"], 3),
        "first_execution_ms": round(runs[0]["Execution Time"], 3),
        "planning_ms": round(statistics.median(r["Planning Time"] for r in later), 3),
        "execution_ms": round(statistics.median(r["Execution Time"] for r in later), 3),
        "relations_scanned": len(set(relations)),
        "rows": runs[-1]["Plan"].get("Actual Rows"),
        "plan": " › ".join(nodes[:4]) + (" …" if len(nodes) > 4 else ""),
    }


def sizes(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Heap + TOAST and index bytes of each table (a partitioned table: the sum over its partitions)."""
    query = """
        WITH leaves AS (  -- pg_partition_tree lists nothing for a table that is not partitioned
            SELECT relid FROM pg_partition_tree(%(t)s) WHERE isleaf
            UNION SELECT oid FROM pg_class WHERE oid = %(t)s::regclass AND relkind = 'r'
        )
        SELECT coalesce(sum(pg_table_size(relid)), 0)::bigint, coalesce(sum(pg_indexes_size(relid)), 0)::bigint,
               count(*)
        FROM leaves
    """
    found: dict[str, Any] = {}
    for table in TABLES:
        row = conn.execute(query, {"t": table}).fetchone()
        assert row is not None
        table_bytes, index_bytes, leaves = row
        found[table] = {
            "table_mb": round(table_bytes / 2**20, 1),
            "indexes_mb": round(index_bytes / 2**20, 1),
            "total_mb": round((table_bytes + index_bytes) / 2**20, 1),
            "relations": leaves,
        }
    return found


def _timed(conn: psycopg.Connection[Any], statement: str) -> float:
    started = time.perf_counter()
    conn.execute(statement)
    return round((time.perf_counter() - started) * 1000, 1)


def maintenance(conn: psycopg.Connection[Any], starts: list[datetime]) -> dict[str, Any]:
    """VACUUM of each table and of one month; removing the oldest month: DETACH + DROP vs DELETE (both rolled
    back). Run last: the rolled-back DELETE leaves every row it touched to be hinted again. `starts`: the
    partitions' lower bounds, then the last one's upper bound."""
    # starts[-2] is next month's partition, still empty; starts[-3] the current month's
    current, oldest = partition_name(starts[-3]), partition_name(starts[0])
    found: dict[str, Any] = {
        # the first VACUUM after the append runs: the pages they filled (the rest is all-visible, skipped)
        "vacuum_ms": {"plain": _timed(conn, "VACUUM plain"), "monthly": _timed(conn, "VACUUM monthly")},
        # every page read, as when the visibility map cannot help (what a month's own VACUUM saves at most)
        "vacuum_every_page_ms": {
            "plain": _timed(conn, "VACUUM (DISABLE_PAGE_SKIPPING) plain"),
            "monthly": _timed(conn, "VACUUM (DISABLE_PAGE_SKIPPING) monthly"),
            f"the current month ({current})": _timed(conn, f"VACUUM (DISABLE_PAGE_SKIPPING) {current}"),
            f"the oldest month ({oldest})": _timed(conn, f"VACUUM (DISABLE_PAGE_SKIPPING) {oldest}"),
        },
    }
    row = conn.execute(f"SELECT count(*) FROM {oldest}").fetchone()
    month_rows = row[0] if row else 0

    def wal_bytes(start: str) -> int:
        done = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", (start,))
        got = done.fetchone()
        return int(got[0]) if got else 0

    def lsn() -> str:
        got = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        return str(got[0]) if got else "0/0"

    with conn.transaction(force_rollback=True):
        start = lsn()
        detach_ms = _timed(conn, f"ALTER TABLE monthly DETACH PARTITION {oldest}")
        drop_ms = _timed(conn, f"DROP TABLE {oldest}")
        detach_wal = wal_bytes(start)
    with conn.transaction(force_rollback=True):
        start = lsn()
        started = time.perf_counter()
        deleted = conn.execute("DELETE FROM plain WHERE at < %s", (starts[1],)).rowcount
        delete_ms = round((time.perf_counter() - started) * 1000, 1)
        delete_wal = wal_bytes(start)
    found["remove_oldest_month"] = {
        "month": oldest,
        "rows": month_rows,
        "monthly_detach_ms": detach_ms,
        "monthly_drop_ms": drop_ms,
        "monthly_wal_kb": round(detach_wal / 1024, 1),
        "plain_delete_ms": delete_ms,
        "plain_deleted_rows": deleted,
        "plain_wal_mb": round(delete_wal / 2**20, 1),
        "monthly_detach_concurrently": _detach_concurrently(conn, oldest),
    }
    return found


def _detach_concurrently(conn: psycopg.Connection[Any], partition: str) -> str:
    """What production would run so the appends need not wait (for real: this is the last step)."""
    try:
        return f"{_timed(conn, f'ALTER TABLE monthly DETACH PARTITION {partition} CONCURRENTLY')} ms"
    except psycopg.Error as exc:
        return f"refused: {exc.diag.message_primary}"


# ---------------------------------------------------------------- the benchmark


def run(
    server: BenchServer, workdir: Path, s: Settings, *, log: Callable[[str], None] = _log_nothing
) -> dict[str, Any]:
    """Build both tables in a fresh scratch database, measure, drop the database; returns the figures."""
    server.server.drop_database(DATABASE)  # a kept cluster's earlier run
    url = make_url(server.create_database(DATABASE)).set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    results: dict[str, Any] = {"settings": s.__dict__ | {"dossiers": s.dossiers}}
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            with _small_wal(conn):
                results["data"] = build(conn, s, now, log)
            results["sizes_after_load"] = sizes(conn)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {t: [] for t in TABLES} for c in CASES}
        for round_no in range(s.rounds):
            order = TABLES if round_no % 2 == 0 else TABLES[::-1]
            for case, (script, protocol) in CASES.items():
                for table in order:
                    log(f"round {round_no + 1}/{s.rounds}: {case} on {table}")
                    found = pgbench_run(
                        server, workdir, f"{case}-{table}", script(table, s.dossiers), s, protocol
                    )
                    runs[case][table].append(found)
        results["runs"] = runs
        results["medians"] = {
            case: {table: _medians(per_table[table]) for table in TABLES} for case, per_table in runs.items()
        }
        log("plans of a dossier's history")
        results["explain_history"] = {t: explain_history(conninfo, t, s) for t in TABLES}
        with psycopg.connect(conninfo, autocommit=True) as conn:
            results["sizes_after_runs"] = sizes(conn)
            log("maintenance: VACUUM, DETACH + DROP vs DELETE of the oldest month")
            starts = [datetime.fromisoformat(m) for m in results["data"]["month_starts"]]
            results["maintenance"] = maintenance(conn, starts)
    finally:
        server.server.drop_database(DATABASE)
    return results


class _small_wal:
    """During the bulk load only, checkpoint every 1 GB of WAL (recycled segments would otherwise take up to
    the run's max_wal_size of disk); the setting is restored before anything is measured."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("ALTER SYSTEM SET max_wal_size = '1GB'")
        self.conn.execute("SELECT pg_reload_conf()")

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("ALTER SYSTEM RESET max_wal_size")
        self.conn.execute("SELECT pg_reload_conf()")
        self.conn.execute("CHECKPOINT")


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tps": round(statistics.median(r["tps"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["latency_ms"]["p50"] for r in runs), 3),
        "p99_ms": round(statistics.median(r["latency_ms"]["p99"] for r in runs), 3),
        "database_cpu_us": round(statistics.median(r["database_cpu_us_per_transaction"] for r in runs), 1),
        "tps_range": [min(r["tps"] for r in runs), max(r["tps"] for r in runs)],
        "failed": sum(r["failed"] for r in runs),
    }


def summary(results: dict[str, Any]) -> list[str]:
    """The Markdown lines of the result."""
    s = results["settings"]
    med = results["medians"]
    size = results["sizes_after_load"]
    plans = results["explain_history"]
    maint = results["maintenance"]
    removal = maint["remove_oldest_month"]

    def ratio(a: float, b: float) -> str:
        return f"{b / a:.2f}×" if a else "—"

    rows: list[list[Any]] = []
    labels = {
        "append": "append one event (prepared)",
        "history": "a dossier's history (prepared)",
        "history_unprepared": "a dossier's history (unprepared: planned each time)",
    }
    for case, label in labels.items():
        p, m = med[case]["plain"], med[case]["monthly"]
        rows.append([f"{label}: TPS", p["tps"], m["tps"], ratio(p["tps"], m["tps"])])
        rows.append(
            [f"{label}: p50 / p99 ms", f"{p['p50_ms']} / {p['p99_ms']}", f"{m['p50_ms']} / {m['p99_ms']}", ""]
        )
        rows.append(
            [f"{label}: PostgreSQL CPU µs", p["database_cpu_us"], m["database_cpu_us"],
             ratio(p["database_cpu_us"], m["database_cpu_us"])]
        )  # fmt: skip
    pp, mp = plans["plain"], plans["monthly"]
    rows += [
        ["history plan: planning ms (first in a session / median)",
         f"{pp['first_planning_ms']} / {pp['planning_ms']}", f"{mp['first_planning_ms']} / {mp['planning_ms']}",
         ratio(pp["planning_ms"], mp["planning_ms"])],
        ["history plan: execution ms (median)", pp["execution_ms"], mp["execution_ms"],
         ratio(pp["execution_ms"], mp["execution_ms"])],
        ["history plan: relations scanned", pp["relations_scanned"], mp["relations_scanned"], ""],
        ["size: table + indexes MB", f"{size['plain']['table_mb']} + {size['plain']['indexes_mb']}",
         f"{size['monthly']['table_mb']} + {size['monthly']['indexes_mb']}",
         ratio(size["plain"]["total_mb"], size["monthly"]["total_mb"])],
        ["VACUUM after the appends, ms", maint["vacuum_ms"]["plain"], maint["vacuum_ms"]["monthly"], ""],
    ]  # fmt: skip
    every = maint["vacuum_every_page_ms"]
    months = [k for k in every if k.startswith("the ")]
    rows.append(
        ["VACUUM (DISABLE_PAGE_SKIPPING) ms", every["plain"],
         f"{every['monthly']} (whole); " + "; ".join(f"{every[k]} ({k})" for k in months),
         ""]
    )  # fmt: skip
    rows.append(
        [f"remove the oldest month ({removal['rows']:,} events) ms",
         f"DELETE {removal['plain_delete_ms']} ({removal['plain_wal_mb']} MB of WAL)",
         f"DETACH {removal['monthly_detach_ms']} + DROP {removal['monthly_drop_ms']} "
         f"({removal['monthly_wal_kb']} kB of WAL)", ""]
    )  # fmt: skip
    failed = sum(med[c][t]["failed"] for c in med for t in TABLES)
    return [
        f"{s['events']:,} events ({s['dossiers']:,} dossiers, 2 each, over {HISTORY_MONTHS} months) in each "
        f"table; `monthly` has {size['monthly']['relations']} partitions (one per month, the next month's, a "
        f"default). pgbench {s['clients']} clients, 2 threads, {s['seconds']} s per run, {s['rounds']} rounds "
        f"alternating the tables; medians of the rounds (every run in the JSON). Rows identical after the load: "
        f"{results['data']['same_rows']}. Failed transactions: {failed}.",
        "",
        *report.table(["measurement", "plain", "monthly", "monthly / plain"], rows),
        "",
        f"History plan, plain: {pp['plan']}. Monthly: {mp['plan']}.",
        "",
        "`monthly`'s keys are PRIMARY KEY (id, at) and UNIQUE (dossier_id, seq, at): PostgreSQL requires the "
        "partition key in every unique constraint, so one event per (dossier_id, seq) is no longer enforced by "
        "the database (decision 0012). DETACH ran in a transaction (ACCESS EXCLUSIVE on the parent: appends "
        "wait). DETACH … CONCURRENTLY (the appends need not wait): "
        f"{removal['monthly_detach_concurrently']}.",
    ]
