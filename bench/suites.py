"""The benchmarks of the suite. Each returns (results, Markdown summary lines); `__main__` writes them."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, select, text, update

from bench import cluster as pgcluster
from bench import loadgen, report
from bench.server import Server, cpu_seconds, rss_mb, serve
from motcua.domain.clock import VN_TZ, SystemClock
from motcua.domain.workflow import Role
from motcua.services import bench_data, identity
from motcua.services.legacy_import import import_dossiers
from motcua.services.seed import DEMO_PASSWORD, ensure_demo_accounts, setup_reference_data
from motcua.store import migrate
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.identity import users
from motcua.web.auth import SESSION_COOKIE

KHAI_SINH = "1.001193"
WARD = "phuong-sai-gon"


@dataclass(frozen=True)
class Scale:
    """How big a run is. `small` validates everything in minutes; `full` is the issue's city scale."""

    name: str
    dossiers: int  # in the PostgreSQL city the load runs against
    import_rows: int  # rows of the legacy export imported into each database
    sqlite_dossiers: int  # the single-commune SQLite database
    lifecycle_seconds: float
    lifecycle_max: int
    lifecycle_users: int
    lifecycle_wards: int  # wards the lifecycle users spread over (each user works in one ward)
    track_seconds: float
    track_max: int
    track_users: int
    healthz_seconds: float
    engine_instances: int
    pgbench_seconds: int
    pgbench_clients: int
    sqlite_seconds: float
    shared_buffers: str
    max_wal_size: str
    partition_events: int  # events in each of the two event tables the `partitions` benchmark compares

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


SCALES = {
    "small": Scale(
        name="small",
        dossiers=100_000,
        import_rows=100_000,
        sqlite_dossiers=100_000,
        lifecycle_seconds=15,
        lifecycle_max=20_000,
        lifecycle_users=16,
        lifecycle_wards=16,
        track_seconds=10,
        track_max=500_000,
        track_users=32,
        healthz_seconds=5,
        engine_instances=2_000,
        pgbench_seconds=10,
        pgbench_clients=8,
        sqlite_seconds=8,
        shared_buffers="1GB",
        max_wal_size="8GB",
        partition_events=2_000_000,
    ),
    "full": Scale(
        name="full",
        dossiers=10_000_000,
        import_rows=1_000_000,
        sqlite_dossiers=100_000,
        lifecycle_seconds=60,
        lifecycle_max=200_000,
        lifecycle_users=16,
        lifecycle_wards=16,
        track_seconds=30,
        track_max=2_000_000,
        track_users=32,
        healthz_seconds=10,
        engine_instances=20_000,
        pgbench_seconds=30,
        pgbench_clients=8,
        sqlite_seconds=20,
        shared_buffers="6GB",
        max_wal_size="32GB",
        partition_events=20_000_000,
    ),
}


@dataclass
class Context:
    """What the benchmarks of one run share: the scale, the run record, the cluster, the client."""

    scale: Scale
    run: report.Run
    workers: int
    client: str
    workdir: Path
    server: pgcluster.BenchServer | None = None
    city_url: str | None = None
    city_dir: Path | None = None  # `--city DIR`: the cluster and its generated city are kept there

    def log(self, message: str) -> None:
        print(f"[bench {datetime.now(VN_TZ):%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------- ceilings and the city


def start_cluster(ctx: Context) -> None:
    settings = pgcluster.ServerSettings(
        shared_buffers=ctx.scale.shared_buffers, max_wal_size=ctx.scale.max_wal_size
    )
    ctx.server = pgcluster.start(settings, keep_in=ctx.city_dir)
    ctx.run.versions["postgresql"] = ctx.server.version()
    ctx.run.postgresql_settings = settings.as_dict()
    ctx.log(f"PostgreSQL cluster on port {ctx.server.port}: {ctx.run.versions['postgresql']}")


def pgbench_ceilings(ctx: Context) -> None:
    assert ctx.server is not None
    ctx.log("pgbench ceilings (TPC-B-like, select-only)")
    found = pgcluster.pgbench_ceilings(
        ctx.server, clients=ctx.scale.pgbench_clients, seconds=ctx.scale.pgbench_seconds
    )
    ctx.run.ceilings.update({f"pgbench_{k}": v for k, v in found.items()})


def build_city(ctx: Context) -> dict[str, Any]:
    """The PostgreSQL city: migrations, reference data, demo accounts, N generated dossiers, ANALYZE.
    With `--city DIR`, a city of the same size generated there by an earlier run is reused (migrated to
    head, analysed); its generation figures are the earlier run's, marked `reused_from`."""
    assert ctx.server is not None
    record = ctx.city_dir / "city.json" if ctx.city_dir else None
    if record is not None and record.exists():
        kept = json.loads(record.read_text())
        if kept["dossiers"] == ctx.scale.dossiers:
            ctx.log(f"reusing the city of {kept['dossiers']:,} dossiers kept in {ctx.city_dir}")
            ctx.city_url = ctx.server.url("city")
            upgrade(ctx.city_url)
            _analyze(ctx.city_url)
            return kept | {"reused_from": str(ctx.city_dir)}
        ctx.log(
            f"the kept city has {kept['dossiers']:,} dossiers, not {ctx.scale.dossiers:,}: generating anew"
        )
        record.unlink()
    ctx.server.server.drop_database("city")  # a kept cluster's unfinished city
    url = ctx.server.create_database("city")
    upgrade(url)
    db = Database(url)
    now = SystemClock().now()
    try:
        setup_reference_data(db, now=now)
        ensure_demo_accounts(db, now=now)
        ctx.log(f"generating {ctx.scale.dossiers:,} dossiers through the bulk import path")
        started = time.perf_counter()
        result = bench_data.generate(
            db, dossiers=ctx.scale.dossiers, now=now, on_batch=_progress(ctx, ctx.scale.dossiers, started)
        )
        generated = time.perf_counter() - started
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    finally:
        db.dispose()
    ctx.city_url = url
    city = {
        "dossiers": result.imported,
        "events": result.events,
        "documents": result.documents,
        "rejected": len(result.rejected),
        "seconds": round(generated, 1),
        "dossiers_per_second": round(result.imported / generated),
        "database_size": size,
        "generated_at": now.isoformat(),
    }
    if record is not None:
        record.write_text(json.dumps(city, indent=1))
    return city


def _analyze(url: str) -> None:
    db = Database(url)
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    finally:
        db.dispose()


def _progress(ctx: Context, total: int, started: float) -> Callable[[Any], None]:
    last = [0.0]

    def show(rep: Any) -> None:
        now = time.perf_counter()
        if now - last[0] > 15 or rep.imported >= total:
            last[0] = now
            rate = rep.imported / max(now - started, 1e-9)
            ctx.log(f"  {rep.imported:,}/{total:,} dossiers ({rate:,.0f}/s)")

    return show


# ---------------------------------------------------------------- load


def upgrade(url: str) -> None:
    """Migrate to head, then create any table declared in code that no revision creates yet (another area's
    work in progress) — the benchmark measures the code as it is."""
    from motcua.store.schema import load_all

    migrate.upgrade(url)
    db = Database(url)
    try:
        load_all().create_all(db.engine)
    finally:
        db.dispose()


def _cpu(ctx: Context, server: Server) -> dict[str, float]:
    db_pids = ctx.server.postmaster_pids() if ctx.server else []
    return {
        "client": time.process_time(),
        "server": cpu_seconds(server.worker_pids()),
        "database": cpu_seconds(db_pids),
    }


def _cpu_per(before: dict[str, float], after: dict[str, float], operations: int) -> dict[str, float]:
    return {
        f"{who}_ms_per_operation": round((after[who] - before[who]) * 1000 / max(operations, 1), 2)
        for who in before
    }


async def _phase(
    ctx: Context,
    server: Server,
    *,
    users: int,
    max_count: int,
    seconds: float,
    operation: Any,
    unit: str,
    operations: Callable[[loadgen.Recorder], int] | None = None,
) -> dict[str, Any]:
    before = _cpu(ctx, server)
    recorder = await loadgen.run_phase(
        users, loadgen.Budget(max_count, seconds), operation, client_kind=ctx.client, port=server.port
    )
    count = operations(recorder) if operations else sum(len(v) for v in recorder.latencies.values())
    summary = recorder.summary(count, unit)
    summary["users"] = users
    summary["cpu"] = _cpu_per(before, _cpu(ctx, server), count)
    return summary


def healthz_ceiling(ctx: Context, server: Server) -> None:
    ctx.log("HTTP ceiling: /healthz with the same load generator")
    op = loadgen.get_operation("healthz", ["/healthz"], None)
    found = asyncio.run(
        _phase(
            ctx,
            server,
            users=32,
            max_count=10**9,
            seconds=ctx.scale.healthz_seconds,
            operation=op,
            unit="requests",
        )
    )
    ctx.run.ceilings["http_healthz_requests_per_second"] = found["requests_per_second"]
    ctx.run.ceilings["http_healthz_p99_ms"] = found["latency_ms"]["healthz"]["p99"]
    ctx.run.ceilings["http_server_workers"] = server.workers
    ctx.run.ceilings["load_client"] = ctx.client


def sample_codes(url: str, limit: int = 20_000, *, receiving_unit: str | None = None) -> list[str]:
    """Codes spread over the whole table (every k-th id), optionally of one receiving unit."""
    db = Database(url)
    try:
        with db.read() as conn:
            query = select(dossiers.c.code)
            if receiving_unit:
                query = query.where(dossiers.c.receiving_unit_id == receiving_unit).limit(limit)
                return list(conn.scalars(query))
            total = int(
                conn.execute(select(dossiers.c.id).order_by(dossiers.c.id.desc()).limit(1)).scalar() or 0
            )
            step = max(total // limit, 1)
            return list(conn.scalars(query.where(dossiers.c.id % step == 0).limit(limit)))
    finally:
        db.dispose()


def example_form(url: str) -> dict[str, Any]:
    from motcua.services.catalog import get_procedure

    db = Database(url)
    try:
        with db.read() as conn:
            form: dict[str, Any] = get_procedure(conn, KHAI_SINH)["city"]["form_schema"]["examples"][0]
            return form
    finally:
        db.dispose()


CORE_APP = "bench.asgi_core:app"


def _lifecycles(
    ctx: Context, server: Server, teams: list[WardTeam], variant: str, *, view: str = "summary"
) -> dict[str, Any]:
    s = ctx.scale
    logged_in = login_teams(server.port, teams)
    created: list[str] = []
    variant = f"{variant}, {view} views"
    ctx.log(
        f"complete lifecycles, {variant}: {s.lifecycle_users} users in {len(teams)} wards, "
        f"≤ {s.lifecycle_seconds:.0f} s"
    )
    result = asyncio.run(
        _phase(
            ctx, server, users=s.lifecycle_users, max_count=s.lifecycle_max, seconds=s.lifecycle_seconds,
            operation=loadgen.lifecycle_operation(logged_in, created, view=view), unit="lifecycles",
            operations=lambda _: len(created),
        )
    )  # fmt: skip
    result["variant"] = variant
    result["wards"] = len(teams)
    result["transitions_per_second"] = round(result["lifecycles_per_second"] * 5, 1)
    return result


# The officers of a lifecycle by the demo account they stand for (bench/loadgen.py LIFECYCLE).
TEAM_ROLES = {
    "sg.tiepnhan": (Role.RECEIVER, "tiếp nhận"),
    "sg.xuly": (Role.PROCESSOR, "xử lý"),
    "sg.pheduyet": (Role.APPROVER, "phê duyệt"),
    "sg.traketqua": (Role.RETURNER, "trả kết quả"),
}


@dataclass(frozen=True)
class WardTeam:
    """A ward's citizen and four officers (usernames by the demo account they stand for) and what they file."""

    usernames: dict[str, str]
    submission: dict[str, Any]


def ward_teams(url: str, count: int, form: dict[str, Any]) -> list[WardTeam]:
    """`count` wards spread over the city's commune-level units, each with a citizen and the four officers of
    a birth registration's steps (accounts created once, password DEMO_PASSWORD). The first team is Phường Sài
    Gòn's demo accounts, so one team is the demo's own lifecycle."""
    from motcua.domain.lifecycle import ActorKind
    from motcua.services.identity import applicant_user_id, create_user, get_user
    from motcua.services.units import list_units

    db = Database(url)
    now = SystemClock().now()
    teams = [WardTeam({name: name for name in ("congdan", *TEAM_ROLES)}, _submission(WARD, form))]
    try:
        with db.transaction() as conn:
            wards = sorted(
                u["id"]
                for kind in ("phuong", "xa", "dac_khu")
                for u in list_units(conn, on=now.date(), kind=kind)
                if u["id"] != WARD
            )
            step = max(len(wards) // max(count - 1, 1), 1)
            for n, ward in enumerate(wards[::step][: count - 1], start=1):
                names = {"congdan": f"bench{n}.congdan"}
                personal_id = f"079095{990000 + n:06d}"
                if get_user(conn, applicant_user_id(personal_id=personal_id, tax_code=None)) is None:
                    create_user(
                        conn, user_id=applicant_user_id(personal_id=personal_id, tax_code=None),
                        username=names["congdan"], password=DEMO_PASSWORD, kind=ActorKind.CITIZEN,
                        full_name=f"Công dân thử tải {n}", now=now, personal_id=personal_id,
                    )  # fmt: skip
                for demo, (role, label) in TEAM_ROLES.items():
                    username = names[demo] = f"bench{n}.{demo.split('.', 1)[1]}"
                    officer = get_user(conn, username)
                    if officer is None:
                        create_user(
                            conn, user_id=username, username=username, password=DEMO_PASSWORD,
                            kind=ActorKind.OFFICER, full_name=f"Cán bộ {label} {n}", now=now, unit_id=ward,
                            roles=frozenset({role}),
                        )  # fmt: skip
                    elif officer["unit_id"] != ward:  # made by a run with another number of wards
                        conn.execute(update(users).where(users.c.id == username).values(unit_id=ward))
                teams.append(WardTeam(names, _submission(ward, form)))
    finally:
        db.dispose()
    return teams


def _submission(ward: str, form: dict[str, Any]) -> dict[str, Any]:
    return {"procedure_code": KHAI_SINH, "receiving_unit_id": ward, "channel": "online", "form_data": form}


def login_teams(port: int, teams: list[WardTeam]) -> list[loadgen.Team]:
    """A real login (argon2) for every account of the teams."""
    usernames = sorted({u for team in teams for u in team.usernames.values()})
    tokens = asyncio.run(loadgen.login_all(port, DEMO_PASSWORD, usernames))
    return [
        loadgen.Team({demo: tokens[user] for demo, user in team.usernames.items()}, team.submission)
        for team in teams
    ]


def load(ctx: Context, city: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """HTTP load on the city: /healthz ceiling, public tracking, complete lifecycles; memory after."""
    assert ctx.city_url is not None
    codes = sample_codes(ctx.city_url)
    s = ctx.scale
    teams = ward_teams(ctx.city_url, s.lifecycle_wards, example_form(ctx.city_url))
    with serve(ctx.city_url, workers=ctx.workers, log=ctx.workdir / "server-city.log") as server:
        rss_start = {pid: rss_mb(pid) for pid in server.worker_pids()}
        healthz_ceiling(ctx, server)
        ctx.log(f"public tracking: {s.track_users} users, ≤ {s.track_seconds:.0f} s")
        tracking = asyncio.run(
            _phase(
                ctx, server, users=s.track_users, max_count=s.track_max, seconds=s.track_seconds,
                operation=loadgen.tracking_operation(codes), unit="lookups",
            )
        )  # fmt: skip
        lifecycles = _lifecycles(ctx, server, teams, "as shipped")
        rss_after = {pid: rss_mb(pid) for pid in server.worker_pids()}
    with serve(
        ctx.city_url, workers=ctx.workers, log=ctx.workdir / "server-core.log", app=CORE_APP
    ) as server:
        core = _lifecycles(ctx, server, teams, "core (no event hooks)")
        core_full = _lifecycles(ctx, server, teams, "core (no event hooks)", view="full")
    workers_mb = [v for v in rss_after.values() if v is not None]
    results = {
        "city": city,
        "tracking": tracking,
        "lifecycles": lifecycles,
        "lifecycles_core": core,
        "lifecycles_core_full_views": core_full,
        "memory": {
            "worker_rss_mb_at_start": list(rss_start.values()),
            "worker_rss_mb_after_load": workers_mb,
            "target_mb": 250,
        },
        "targets": {
            "lifecycles_per_second": 250,
            "lifecycle_p99_ms": 150,
            "tracking_per_second": 5000,
            "tracking_p99_ms": 50,
        },
    }
    return results, _load_summary(ctx, results)


def _load_summary(ctx: Context, r: dict[str, Any]) -> list[str]:
    ceilings = ctx.run.ceilings
    tpcb = ceilings.get("pgbench_tpcb_like_tps") or 1
    healthz = ceilings.get("http_healthz_requests_per_second") or 1
    track = r["tracking"]
    lines = [
        f"City: {r['city']['dossiers']:,} dossiers ({r['city']['database_size']}), generated at "
        f"{r['city']['dossiers_per_second']:,}/s through the bulk import path.",
        "",
        f"- Public tracking: **{track['lookups_per_second']:,}/s** ({track['lookups_per_second'] / healthz:.0%} of "
        f"the /healthz ceiling {healthz:,.0f} req/s), p99 {track['latency_ms']['track']['p99']} ms, "
        f"{track['errors']} errors; target ≥ 5,000/s, p99 < 50 ms.",
    ]
    for key in ("lifecycles", "lifecycles_core", "lifecycles_core_full_views"):
        life = r[key]
        worst = max((v["p99"] for v in life["latency_ms"].values()), default=0)
        lines.append(
            f"- Complete lifecycles, {life['variant']}: **{life['lifecycles_per_second']:,}/s** "
            f"({life['transitions_per_second']:,} transitions/s = {life['transitions_per_second'] / tpcb:.0%} of "
            f"pgbench TPC-B-like {tpcb:,.0f} TPS), worst p99 {worst:,} ms, {life['errors']} errors; "
            "target ≥ 250/s, p99 < 150 ms, no errors."
        )
    lines += [
        f"- CPU per lookup (ms): {track['cpu']}",
        f"- CPU per lifecycle as shipped (ms): {r['lifecycles']['cpu']}",
        f"- CPU per lifecycle, core (ms): {r['lifecycles_core']['cpu']}",
        f"- CPU per lifecycle, core with full views (ms): {r['lifecycles_core_full_views']['cpu']}",
        f"- Worker resident memory after the load: {r['memory']['worker_rss_mb_after_load']} MB (target < 250 MB).",
        "",
    ]
    rows = []
    labels = {
        "tracking": "",
        "lifecycles": "shipped: ",
        "lifecycles_core": "core: ",
        "lifecycles_core_full_views": "core, full views: ",
    }
    for key, label in labels.items():
        rows += [
            [label + kind, v["count"], v["p50"], v["p95"], v["p99"], v["max"]]
            for kind, v in r[key]["latency_ms"].items()
        ]
    lines += report.table(["request", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    errors = [e for key in labels if key != "tracking" for e in r[key]["error_samples"]]
    if errors:
        lines += ["", "Error samples:", "", *(f"- `{e[:200]}`" for e in errors[:5])]
    return lines


# ---------------------------------------------------------------- hot queries


@contextmanager
def capture_selects(db: Database) -> Iterator[list[tuple[str, Any]]]:
    captured: list[tuple[str, Any]] = []

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield captured
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def queries(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    """EXPLAIN ANALYZE of every SELECT the hot use cases issue, on the city at this scale."""
    from motcua.domain.lifecycle import Actor, ActorKind
    from motcua.domain.workflow import Role
    from motcua.services import dossiers as service
    from motcua.services import workspace
    from motcua.services.runtime import Runtime

    assert ctx.city_url is not None
    db = Database(ctx.city_url)
    rt = Runtime(db=db)
    code = sample_codes(ctx.city_url, 10)[3]
    with db.read() as conn:
        row = conn.execute(
            select(dossiers.c.applicant_id, dossiers.c.receiving_unit_id).where(dossiers.c.code == code)
        ).one()
    officer = Actor("bench.receiver", ActorKind.OFFICER, frozenset({Role.RECEIVER}), row.receiving_unit_id)
    applicant = Actor(row.applicant_id, ActorKind.CITIZEN)
    monitor = Actor("bench.monitor", ActorKind.OFFICER, frozenset({Role.MONITOR}), "thanh-pho-ho-chi-minh")
    cases: dict[str, Callable[[], Any]] = {
        "track": lambda: service.track(rt, code),
        "get_dossier (officer)": lambda: service.get_dossier(rt, officer, code),
        "queue new (receiving unit)": lambda: service.list_dossiers(rt, officer, queue="new"),
        "queue unit (step unit, open)": lambda: service.list_dossiers(rt, officer, queue="unit"),
        "queue all (unit)": lambda: service.list_dossiers(rt, officer, queue="all"),
        "queue mine (assignee, open)": lambda: service.list_dossiers(rt, officer, queue="mine"),
        "applicant's dossiers": lambda: service.list_dossiers(rt, applicant),
        "city-wide monitor, all": lambda: service.list_dossiers(rt, monitor, queue="all"),
        # an officer's search over every dossier of the unit (the web queue's text box, status "all")
        "search a whole code (unit, all)": lambda: workspace.officer_queue(
            rt, officer, workspace.QueueQuery(queue="unit", status="all", text=code)
        ),
        "search a whole personal ID (unit, all)": lambda: workspace.officer_queue(
            rt,
            officer,
            workspace.QueueQuery(queue="unit", status="all", text=row.applicant_id.removeprefix("cd-")),
        ),
        "search a part of a name (unit, all)": lambda: workspace.officer_queue(
            rt, officer, workspace.QueueQuery(queue="unit", status="all", text="Thị Mai")
        ),
        "search a name without diacritics (unit, all)": lambda: workspace.officer_queue(
            rt, officer, workspace.QueueQuery(queue="unit", status="all", text="nguyen thi mai")
        ),
        "search a part of a name (city-wide, all)": lambda: workspace.officer_queue(
            rt, monitor, workspace.QueueQuery(queue="unit", status="all", text="Thị Mai")
        ),
        "procedure filter (city-wide)": lambda: workspace.officer_queue(
            rt, monitor, workspace.QueueQuery(queue="unit", limit=1)
        ),
        # a common name part city-wide (6 % of the dossiers): the due-date order walked, the count from the rows
        "search a common name part (city-wide, all)": lambda: workspace.officer_queue(
            rt, monitor, workspace.QueueQuery(queue="unit", status="all", text="nguyen")
        ),
        "search a common name part (city-wide API, all)": lambda: service.list_dossiers(
            rt, monitor, queue="all", search="nguyen"
        ),
        # a mid-frequency part ("Thị Mai": 0.3 % of the dossiers) through the API, and the city-wide open queue
        # searched for a common part (its count: the trigram matches joined with the open dossiers)
        "search a mid-frequency name part (city-wide API, all)": lambda: service.list_dossiers(
            rt, monitor, queue="all", search="Thị Mai"
        ),
        "search a common name part (city-wide, open)": lambda: workspace.officer_queue(
            rt, monitor, workspace.QueueQuery(queue="unit", text="nguyen")
        ),
        "search a part of a code (city-wide, all)": lambda: workspace.officer_queue(
            rt, monitor, workspace.QueueQuery(queue="unit", status="all", text=code[-12:])
        ),
        "newest first (unit, all)": lambda: service.list_dossiers(rt, officer, queue="all", sort="recent"),
        "newest first (city-wide, all)": lambda: service.list_dossiers(
            rt, monitor, queue="all", sort="recent"
        ),
    }
    results: dict[str, Any] = {}
    raw_rows: list[list[Any]] = []
    try:
        with db.read() as conn:  # warm the caches (units, workflows) outside the capture
            rt.directory(conn, SystemClock().now().date())
        for name, call in cases.items():
            with capture_selects(db) as captured:
                started = time.perf_counter()
                call()
                elapsed = (time.perf_counter() - started) * 1000
            explained = [_explain(db, statement, params) for statement, params in captured]
            results[name] = {"use_case_ms": round(elapsed, 2), "statements": explained}
            for item in explained:
                raw_rows.append(
                    [name, item["sql"][:90].replace("|", "/"), item["execution_ms"], item["plan"]]
                )
    finally:
        db.dispose()
    lines = report.table(["use case", "statement", "execution ms", "plan (top nodes)"], raw_rows)
    return results, lines


def _explain(db: Database, statement: str, params: Any) -> dict[str, Any]:
    with db.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        # A hot statement (store/db.py: a tuple of values) carries PostgreSQL's own `$1` placeholders, run
        # through a RawCursor; SQLAlchemy's statements carry named ones with a mapping.
        native = isinstance(params, tuple | list)
        with psycopg.RawCursor(raw) if native else raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params)
            plan = cur.fetchone()[0][0]
        conn.rollback()
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" {node['Index Name']}"
        elif "Relation Name" in node:
            label += f" {node['Relation Name']}"
        nodes.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {
        "sql": " ".join(statement.split()),
        "execution_ms": round(plan["Execution Time"], 3),
        "plan": " › ".join(nodes[:4]),
        "seq_scan_on_dossiers": any(n.startswith("Seq Scan dossiers") for n in nodes),
    }


# ---------------------------------------------------------------- legacy import


def write_export(path: Path, rows: int, now: datetime) -> Path:
    """A legacy export (CSV) of `rows` generated dossiers, as another system would produce it."""
    db_path = path.parent / "export-source.sqlite3"
    source = Database(f"sqlite:///{db_path}")
    from motcua.store.schema import load_all

    load_all().create_all(source.engine)
    setup_reference_data(source, now=now)
    with source.read() as conn:
        from motcua.domain.catalog import CityProcedure
        from motcua.services.units import directory
        from motcua.store.schema.catalog import city_procedures

        units = directory(conn, now.date())
        procedures = [
            CityProcedure.from_dict(r.data, version=r.version)
            for r in conn.execute(
                select(city_procedures.c.data, city_procedures.c.version).where(
                    city_procedures.c.is_current.is_(True)
                )
            )
        ]
    source.dispose()
    generator = bench_data.CityGenerator(units, procedures, now=now, seed=99)
    fields = [
        "code", "procedure_code", "receiving_unit", "channel", "status", "submitted_at", "accepted_at",
        "paused_at", "resolved_at", "returned_at", "closed_at", "outcome", "applicant_name",
        "applicant_personal_id", "applicant_tax_code", "form_data", "documents",
    ]  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for _, record in generator.records(rows):
            writer.writerow({k: _csv_value(v) for k, v in record.items()})
    return path


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if hasattr(value, "value"):
        return value.value
    return value


def legacy_import(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    """`motcua import dossiers` of one CSV export into a fresh PostgreSQL database and a fresh SQLite file."""
    assert ctx.server is not None
    now = SystemClock().now()
    export = ctx.workdir / "legacy-export.csv"
    ctx.log(f"writing a legacy export of {ctx.scale.import_rows:,} rows")
    write_export(export, ctx.scale.import_rows, now)
    results: dict[str, Any] = {
        "rows": ctx.scale.import_rows,
        "file_mb": round(export.stat().st_size / 2**20, 1),
    }
    targets = {
        "postgresql": ctx.server.create_database("import_target"),
        "sqlite": f"sqlite:///{ctx.workdir / 'import-target.sqlite3'}",
    }
    for name, url in targets.items():
        upgrade(url)
        db = Database(url)
        try:
            setup_reference_data(db, now=now)
            ctx.log(f"importing into {name}")
            db_cpu_before = cpu_seconds(ctx.server.postmaster_pids()) if name == "postgresql" else 0.0
            cpu_before = time.process_time()
            rep = import_dossiers(db, export, now=now)
            results[name] = rep.as_dict() | {
                "dossiers_per_second": round(rep.imported / rep.seconds),
                "importer_cpu_seconds": round(time.process_time() - cpu_before, 1),
            }
            if name == "postgresql":
                results[name]["database_cpu_seconds"] = round(
                    cpu_seconds(ctx.server.postmaster_pids()) - db_cpu_before, 1
                )
        finally:
            db.dispose()
    results["target_postgresql_dossiers_per_second"] = 100_000
    pg_rate = results["postgresql"]["dossiers_per_second"]
    lines = [
        f"Export: {results['rows']:,} rows of CSV ({results['file_mb']} MB), each a dossier with 2 events "
        "(or 1), 1–3 documents' metadata, its applicant.",
        "",
        *report.table(
            ["database", "dossiers/s", "seconds", "imported", "rejected", "importer CPU s", "database CPU s"],
            [
                [
                    "PostgreSQL (COPY)",
                    pg_rate,
                    results["postgresql"]["seconds"],
                    results["postgresql"]["imported"],
                    results["postgresql"]["rejected"],
                    results["postgresql"]["importer_cpu_seconds"],
                    results["postgresql"].get("database_cpu_seconds"),
                ],
                [
                    "SQLite (executemany)",
                    results["sqlite"]["dossiers_per_second"],
                    results["sqlite"]["seconds"],
                    results["sqlite"]["imported"],
                    results["sqlite"]["rejected"],
                    results["sqlite"]["importer_cpu_seconds"],
                    "—",
                ],
            ],
        ),
        "",
        f"Target: ≥ 100,000 dossiers/s into PostgreSQL; measured {pg_rate:,}/s ({pg_rate / 100_000:.0%}).",
    ]
    return results, lines


# ---------------------------------------------------------------- the event log partitioned by month


def partitions(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    """The event log as today against the same events partitioned by month (`bench/partitions.py`)."""
    from bench import partitions as event_log

    assert ctx.server is not None
    settings = event_log.Settings(
        events=ctx.scale.partition_events,
        seconds=ctx.scale.pgbench_seconds,
        clients=ctx.scale.pgbench_clients,
    )
    ctx.log(f"partitions: {settings.events:,} events in each table")
    results = event_log.run(ctx.server, ctx.workdir, settings, log=ctx.log)
    return results, event_log.summary(results)


# ---------------------------------------------------------------- engine


def engine(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    from bench.engine import compare

    ctx.log("engine comparison: motcua's engine (interpreted, and compiled when built) vs SpiffWorkflow")
    results = compare(ctx.scale.engine_instances)
    lines = [
        f"- motcua engine, {results['engine']}: **{results['motcua_transitions_per_second']:,} transitions/s** "
        f"(best of {results.get('rounds')} rounds of {results.get('instances_per_round')} lifecycles), "
        f"**{results.get('ratio')}×** SpiffWorkflow",
    ]
    compiled = results["compiled"]
    if compiled.get("engine"):
        lines.append(
            f"- motcua engine, {compiled['engine']}: **{compiled['motcua_transitions_per_second']:,} "
            f"transitions/s**, **{compiled.get('ratio')}×** SpiffWorkflow (what `make serve` runs when built)"
        )
    else:
        lines.append(f"- compiled engine: not measured ({compiled.get('why')})")
    spiff = results.get("spiffworkflow_transitions_per_second")
    lines += [
        f"- SpiffWorkflow {ctx.run.versions.get('spiffworkflow')}: "
        + (
            f"**{spiff:,} transitions/s**" if spiff is not None else "not measured (`make bench` installs it)"
        ),
        "- target: ≥ 20×",
    ]
    return results, lines


# ---------------------------------------------------------------- SQLite commune


def sqlite_commune(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    """One commune on the embedded database: 100k dossiers all received at Phường Sài Gòn (a commune's own
    system holds its own dossiers), one worker; latency of the API, the citizen pages and the officer pages
    (with a page session), then complete lifecycles."""
    path = ctx.workdir / "commune.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    now = SystemClock().now()
    try:
        setup_reference_data(db, now=now)
        ensure_demo_accounts(db, now=now)
        ctx.log(f"SQLite commune: generating {ctx.scale.sqlite_dossiers:,} dossiers")
        started = time.perf_counter()
        generated = bench_data.generate(
            db, dossiers=ctx.scale.sqlite_dossiers, now=now, receiving_units={WARD}
        )
        seconds = time.perf_counter() - started
        # No ANALYZE here: the server's first connection runs it, as it would for a commune's own file
        # (`store.db.refresh_sqlite_statistics`).
        sessions = {  # page sessions (the `motcua_session` cookie) of two officers
            name: f"{SESSION_COOKIE}={_web_token(db, name, now)}" for name in ("sg.tiepnhan", "sg.xuly")
        }
    finally:
        db.dispose()
    codes = sample_codes(url, 5_000)
    form = example_form(url)
    with serve(url, workers=1, log=ctx.workdir / "server-sqlite.log") as server:
        tokens = asyncio.run(loadgen.login_all(server.port, DEMO_PASSWORD))
        officer, handler = tokens["sg.tiepnhan"], tokens["sg.xuly"]
        pages = _html_pages(server.port, [*PUBLIC_PAGES, *(f"/tra-cuu-ho-so/{c}" for c in codes[:3])])
        checks: dict[str, Any] = {
            "track": loadgen.tracking_operation(codes),
            "dossier (officer)": loadgen.get_operation(
                "dossier", [f"/api/v1/dossiers/{c}" for c in codes[:2_000]], officer
            ),
            **{
                f"queue {queue}": loadgen.get_operation(
                    f"queue_{queue}",
                    [f"/api/v1/dossiers?queue={queue}"],
                    handler if queue == "mine" else officer,
                )
                for queue in ("new", "unit", "mine", "all")
            },
            "procedure search": loadgen.get_operation(
                "procedures", ["/api/v1/procedures?q=khai%20sinh", "/api/v1/procedures?q=tam%20tru"], None
            ),
        }
        for page in pages:
            paths = [page] if "/tra-cuu-ho-so/" not in page else [f"/tra-cuu-ho-so/{c}" for c in codes[:500]]
            name = page if "/tra-cuu-ho-so/" not in page else "/tra-cuu-ho-so/{code}"
            checks[f"page {name}"] = loadgen.get_operation(f"page {name}", paths, None)
        for name, paths, session in _officer_pages(codes, sessions):
            _check_page(server.port, paths[0], session)  # a session that does not work fails the run
            checks[f"page {name}"] = loadgen.get_operation(f"page {name}", paths, None, cookie=session)
        phases: dict[str, Any] = {}
        for name, op in checks.items():
            phases[name] = asyncio.run(
                _phase(
                    ctx,
                    server,
                    users=4,
                    max_count=10**9,
                    seconds=ctx.scale.sqlite_seconds,
                    operation=op,
                    unit="requests",
                )
            )
        created: list[str] = []
        demo_team = loadgen.Team(tokens, _submission(WARD, form))  # one commune: its own demo accounts
        phases["lifecycles"] = asyncio.run(
            _phase(
                ctx, server, users=4, max_count=10**9, seconds=ctx.scale.sqlite_seconds,
                operation=loadgen.lifecycle_operation([demo_team], created), unit="lifecycles",
                operations=lambda _: len(created),
            )
        )  # fmt: skip
        rss = [rss_mb(pid) for pid in server.worker_pids()]
    results = {
        "dossiers": generated.imported,
        "generation_dossiers_per_second": round(generated.imported / seconds),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "phases": phases,
        "worker_rss_mb": rss,
        "html_pages": pages,
        "target_p99_ms": 50,
    }
    rows = []
    for name, phase in phases.items():
        for kind, lat in phase["latency_ms"].items():
            label = (
                name
                if kind == name or name == f"page {kind}" or kind.startswith("page ")
                else f"{name}: {kind}"
            )
            rows.append([label, phase["requests_per_second"], lat["p50"], lat["p99"], phase["errors"]])
    lines = [
        f"{generated.imported:,} dossiers in {results['file_mb']} MB of SQLite (generated at "
        f"{results['generation_dossiers_per_second']:,}/s); one worker; 4 concurrent users per phase.",
        "" if pages else "No server-rendered page answered at / yet: pages not measured.",
        "",
        *report.table(["phase: request", "req/s", "p50 ms", "p99 ms", "errors"], rows),
        "",
        f"Worker resident memory: {rss} MB. Target: p99 < 50 ms for pages and API.",
    ]
    return results, lines


# The citizen pages a commune's residents use: home, catalog, a search, a procedure, tracking.
PUBLIC_PAGES = ("/", "/thu-tuc", "/thu-tuc?q=khai+sinh", "/thu-tuc/1.001193", "/tra-cuu-ho-so")


def _officer_pages(codes: list[str], sessions: dict[str, str]) -> list[tuple[str, list[str], str]]:
    """(name, paths, session cookie) of the officer pages: the desk's queues, one's own, a dossier."""
    desk, handler = sessions["sg.tiepnhan"], sessions["sg.xuly"]
    return [
        ("/mot-cua/moi", ["/mot-cua/moi"], desk),
        ("/mot-cua/don-vi", ["/mot-cua/don-vi"], desk),
        ("/mot-cua/don-vi?status=all", ["/mot-cua/don-vi?status=all"], desk),
        ("/mot-cua/cua-toi", ["/mot-cua/cua-toi"], handler),
        ("/mot-cua/ho-so/{code}", [f"/mot-cua/ho-so/{c}" for c in codes[:500]], desk),
    ]


def _web_token(db: Database, username: str, now: datetime) -> str:
    with db.transaction() as conn:
        return identity.login(conn, username=username, password=DEMO_PASSWORD, now=now, purpose="web").token


def _check_page(port: int, path: str, cookie: str | None = None) -> None:
    """Raise unless `path` answers 200 with HTML (a 303 to the login page would time the wrong page)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie or ""})
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(request, timeout=10) as response:
        if response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            raise RuntimeError(f"{path}: HTTP {response.status} {response.headers.get('content-type')}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _html_pages(port: int, paths: Sequence[str]) -> list[str]:
    """The citizen pages among `paths` that answer with HTML (each one is then measured)."""
    found = []
    for path in paths:
        try:
            _check_page(port, path)
        except (OSError, RuntimeError):
            continue
        found.append(path)
    return found


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="motcua-bench-"))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
