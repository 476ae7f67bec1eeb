"""`python -m bench [--scale small|full] [--only engine,import,load,partitions,queries,sqlite]` — see bench/README.md."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report, suites
from bench.loadgen import install_uvloop

BENCHMARKS = ("load", "queries", "import", "partitions", "engine", "sqlite")
NEEDS_CLUSTER = {"load", "queries", "import", "partitions"}
NEEDS_CITY = {"load", "queries"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale", choices=sorted(suites.SCALES), default=os.environ.get("BENCH_SCALE", "small")
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="uvicorn workers (default: cores)"
    )
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="the load generator's HTTP client"
    )
    parser.add_argument("--dossiers", type=int, help="override the scale's number of dossiers in the city")
    parser.add_argument(
        "--wards",
        type=int,
        help="override the wards the lifecycle users spread over (1: all in Phường Sài Gòn)",
    )
    parser.add_argument(
        "--users", type=int, help="override the scale's lifecycle users (virtual users, one connection each)"
    )
    parser.add_argument(
        "--note", default="", help="a remark recorded with every result (e.g. the machine's state)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, SQLite files)")
    parser.add_argument(
        "--city",
        type=Path,
        help="keep the PostgreSQL cluster and its generated city in this directory, and reuse a city of the "
        "same size found there (the 10M city takes ~1 hour to generate)",
    )
    args = parser.parse_args(argv)
    # A stopped run (Ctrl-C, `timeout`, SIGTERM) still stops its PostgreSQL cluster and server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    selected = [b for b in (args.only.split(",") if args.only else BENCHMARKS) if b]
    unknown = set(selected) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    scale = suites.SCALES[args.scale]
    if args.dossiers:
        scale = suites.Scale(**(scale.as_dict() | {"dossiers": args.dossiers}))
    if args.users:
        scale = suites.Scale(**(scale.as_dict() | {"lifecycle_users": args.users}))
    if args.wards:
        scale = suites.Scale(**(scale.as_dict() | {"lifecycle_wards": args.wards}))
    loop = install_uvloop()
    run = report.Run(
        scale=scale.name, scale_settings=scale.as_dict() | {"workers": args.workers, "event_loop": loop}
    )
    run.note = args.note
    ctx = suites.Context(
        scale=scale,
        run=run,
        workers=args.workers,
        client=args.client,
        workdir=suites.scratch_dir(),
        city_dir=args.city.resolve() if args.city else None,
    )
    ctx.log(f"scale {scale.name}, benchmarks {', '.join(selected)}, load average {report.load_average()}")
    failures = 0
    try:
        city: dict[str, Any] = {}
        if NEEDS_CLUSTER & set(selected):
            suites.start_cluster(ctx)
            suites.pgbench_ceilings(ctx)
        if NEEDS_CITY & set(selected):
            city = suites.build_city(ctx)
        steps: dict[str, Callable[[], tuple[dict[str, Any], list[str]]]] = {
            "load": lambda: suites.load(ctx, city),
            "queries": lambda: suites.queries(ctx),
            "import": lambda: suites.legacy_import(ctx),
            "partitions": lambda: suites.partitions(ctx),
            "engine": lambda: suites.engine(ctx),
            "sqlite": lambda: suites.sqlite_commune(ctx),
        }
        for name in BENCHMARKS:
            if name not in selected:
                continue
            try:
                results, summary = steps[name]()
            except Exception:
                failures += 1
                ctx.log(f"{name} FAILED:\n{traceback.format_exc()}")
                continue
            path = run.write(name, results, summary=summary)
            ctx.log(f"{name}: wrote {path.relative_to(path.parents[2])}")
            print("\n".join(summary), flush=True)
    finally:
        if ctx.server is not None:
            ctx.server.stop()
        if args.keep:
            ctx.log(f"scratch directory kept: {ctx.workdir}")
        else:
            suites.remove(ctx.workdir)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
