"""Complete lifecycles alternated between variants on one city: two code trees, or several numbers of users.

`python -m bench.ab [--scale small|full] [--city DIR] [--b TREE] [--users 16,32] [--rounds 3] [--seconds 30]
[--app core|shipped]`

Successive load runs on a shared machine spread widely for the same code (session 9 at 10M: 157–219
lifecycles/s core), which hides a change of a few per cent. Here the variants take turns in short phases on the
same cluster, city and servers, so the machine's drift falls on all of them alike; each variant's median and
range over the rounds are what to compare. A variant is a code tree and a number of users: tree A is this
checkout, `--b` another checkout of the repository (a `git worktree`) whose `motcua` its server imports
(PYTHONPATH); each tree's engine is compiled first when it can be (`motcua.domain._build --if-stale`), so both
run the same kind of engine. Writes `results/<date>-ab-<scale>.*` (no ceilings: the variants are compared with
each other, in the same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import report, suites
from bench.loadgen import install_uvloop
from bench.server import Server, serve

HERE = Path(__file__).resolve().parents[1]
APPS = {"core": suites.CORE_APP, "shipped": "motcua.api.asgi:app"}


@dataclasses.dataclass(frozen=True)
class Variant:
    tree: Path
    users: int

    @property
    def label(self) -> str:
        return f"{'A' if self.tree == HERE else 'B'} ({self.tree.name}), {self.users} users"


def tree_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every comparison of code trees on one city takes (also `bench.service_ab`)."""
    parser.add_argument("--scale", choices=sorted(suites.SCALES), default="small")
    parser.add_argument("--city", type=Path, help="the kept cluster and city (as `python -m bench --city`)")
    parser.add_argument("--dossiers", type=int, help="override the scale's number of dossiers in the city")
    parser.add_argument("--b", type=Path, help="another checkout to compare with this one")
    parser.add_argument("--note", default="")


def trees_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    """This checkout, and `--b` if given (refused unless it is a checkout of this repository)."""
    trees = [HERE] + ([args.b.resolve()] if args.b else [])
    if args.b and not (trees[1] / "motcua" / "__init__.py").is_file():
        parser.error(f"--b {args.b}: not a checkout of this repository (no motcua/ there)")
    return trees


@contextmanager
def city_context(
    scale: suites.Scale, run: report.Run, args: argparse.Namespace, *, workers: int, client: str
) -> Iterator[tuple[suites.Context, dict[str, Any]]]:
    """The run's context with its cluster started and its city built (or the one kept in `--city` reused), and
    the city's figures; afterwards the cluster is stopped and the scratch directory removed."""
    ctx = suites.Context(
        scale=scale,
        run=run,
        workers=workers,
        client=client,
        workdir=suites.scratch_dir(),
        city_dir=args.city.resolve() if args.city else None,
    )
    try:
        suites.start_cluster(ctx)
        yield ctx, suites.build_city(ctx)
    finally:
        if ctx.server is not None:
            ctx.server.stop()
        suites.remove(ctx.workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    tree_arguments(parser)
    parser.add_argument("--users", default="16", help="comma-separated numbers of lifecycle users")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--app", choices=sorted(APPS), default="core")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    trees = trees_of(parser, args)
    users = [int(n) for n in args.users.split(",") if n.strip()]
    if not users or min(users) < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--users, --rounds and --seconds must be positive")
    variants = [Variant(tree, n) for tree in trees for n in users]
    if len(variants) < 2:
        parser.error("nothing to compare: give --b, or two numbers of users")
    scale = suites.SCALES[args.scale]
    scale = dataclasses.replace(
        scale, lifecycle_seconds=args.seconds, dossiers=args.dossiers or scale.dossiers
    )
    loop = install_uvloop()
    run = report.Run(
        scale=scale.name,
        scale_settings=scale.as_dict() | {"workers": args.workers, "event_loop": loop, "app": args.app},
    )
    run.note = args.note
    engines = {str(tree): _compile(tree) for tree in trees}
    with city_context(scale, run, args, workers=args.workers, client="raw") as (ctx, city):
        assert ctx.city_url is not None
        teams = suites.ward_teams(ctx.city_url, scale.lifecycle_wards, suites.example_form(ctx.city_url))
        phases = _alternate(ctx, args, trees, variants, teams)
    results = {"city": city, "engines": engines, "variants": _summaries(variants, phases), "phases": phases}
    lines = _report(results)
    path = run.write("ab", results, summary=lines)
    print("\n".join(lines), flush=True)
    ctx.log(f"wrote {path.relative_to(HERE)}")
    return 0


def _compile(tree: Path) -> str:
    """Build the tree's compiled engine if it can, and say which engine its server will run."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(
        [sys.executable, "-m", "motcua.domain._build", "--if-stale"], cwd=tree, env=env, check=False
    )
    status = subprocess.run(
        [sys.executable, "-c", "from motcua.domain import build_status; print(build_status()[1])"],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return status.stdout.strip() or status.stderr.strip()[-200:]


def _alternate(
    ctx: suites.Context,
    args: argparse.Namespace,
    trees: list[Path],
    variants: list[Variant],
    teams: list[suites.WardTeam],
) -> list[dict[str, Any]]:
    assert ctx.city_url is not None
    phases: list[dict[str, Any]] = []
    with ExitStack() as stack:
        servers: dict[Path, Server] = {
            tree: stack.enter_context(
                serve(
                    ctx.city_url,
                    workers=args.workers,
                    log=ctx.workdir / f"server-{n}.log",
                    app=APPS[args.app],
                    env={"PYTHONPATH": str(tree)},
                )
            )
            for n, tree in enumerate(trees)
        }
        base = ctx.scale
        for round_number in range(args.rounds):
            # The order turns each round, so no variant always follows the same one.
            shift = round_number % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                ctx.scale = dataclasses.replace(base, lifecycle_users=variant.users)
                result = suites._lifecycles(ctx, servers[variant.tree], teams, variant.label)
                phases.append({"round": round_number, "variant": variant.label} | _figures(result))
        ctx.scale = base
    return phases


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    cpu = result["cpu"]
    per_lifecycle = sum(
        cpu[k] for k in ("client_ms_per_operation", "server_ms_per_operation", "database_ms_per_operation")
    )
    return {
        "lifecycles_per_second": result["lifecycles_per_second"],
        "worst_p99_ms": max(v["p99"] for v in result["latency_ms"].values()),
        "errors": result["errors"],
        "cpu_ms_per_lifecycle": cpu,
        "cpu_ms_per_lifecycle_all_in": round(per_lifecycle, 2),
        "cores_busy": round(result["lifecycles_per_second"] * per_lifecycle / 1000, 2),
    }


def _summaries(variants: list[Variant], phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summaries = []
    for variant in variants:
        mine = [p for p in phases if p["variant"] == variant.label]
        rates = [p["lifecycles_per_second"] for p in mine]
        cpus = [p["cpu_ms_per_lifecycle_all_in"] for p in mine]
        summaries.append(
            {
                "variant": variant.label,
                "tree": str(variant.tree),
                "users": variant.users,
                "lifecycles_per_second": _spread(rates),
                "cpu_ms_per_lifecycle": _spread(cpus),
                "worst_p99_ms": max(p["worst_p99_ms"] for p in mine),
                "errors": sum(p["errors"] for p in mine),
            }
        )
    return summaries


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}


def _report(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            s["variant"],
            f"{s['lifecycles_per_second']['median']:,} ({s['lifecycles_per_second']['min']:,}–"
            f"{s['lifecycles_per_second']['max']:,})",
            f"{s['cpu_ms_per_lifecycle']['median']} ({s['cpu_ms_per_lifecycle']['min']}–"
            f"{s['cpu_ms_per_lifecycle']['max']})",
            s["worst_p99_ms"],
            s["errors"],
        ]
        for s in results["variants"]
    ]
    engines = "; ".join(f"{tree}: {why}" for tree, why in results["engines"].items())
    return [
        f"City: {results['city']['dossiers']:,} dossiers. Engines: {engines}.",
        "",
        *report.table(
            [
                "variant",
                "lifecycles/s, median (range)",
                "CPU ms per lifecycle, median (range)",
                "worst p99 ms",
                "errors",
            ],
            rows,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
