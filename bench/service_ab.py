"""Complete lifecycles through the service layer, in-process, alternated between two code trees.

`python -m bench.service_ab --b TREE [--scale small|full] [--city DIR] [--threads 1,8] [--rounds 8]
[--lifecycles 200] [--app core|shipped]`

`bench.ab` drives the HTTP API, and on a shared host its phases vary by ±15 %: a change worth 5 % of a
lifecycle's CPU does not show (session 10). Here there is no HTTP server and no load generator: each phase is a
fresh process of one variant (a tree — its `motcua` first on PYTHONPATH — and a number of threads) running
`--lifecycles` complete lifecycles straight through `dossiers.submit_dossier` and `dossiers.act` on the same
cluster and city (`bench/service_child.py`), after a warm-up. Measured over exactly those lifecycles: the
process's CPU (Python, psycopg) and PostgreSQL's (every process of the cluster, from /proc), per lifecycle. The
variants take turns, the order turning each round; compare medians. Writes `results/<date>-service-ab-<app>-<scale>.*`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import loadgen, report, suites
from bench.ab import HERE, _compile, _spread, city_context, tree_arguments, trees_of
from bench.server import cpu_seconds

CHILD = Path(__file__).resolve().with_name("service_child.py")


@dataclasses.dataclass(frozen=True)
class Variant:
    tree: Path
    threads: int

    @property
    def label(self) -> str:
        return f"{'A' if self.tree == HERE else 'B'} ({self.tree.name}), {self.threads} threads"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service_ab", description=__doc__)
    tree_arguments(parser)
    parser.add_argument("--threads", default="1,8", help="comma-separated numbers of threads")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--lifecycles", type=int, default=200, help="measured lifecycles per phase")
    parser.add_argument("--app", choices=("core", "shipped"), default="core", help="without or with hooks")
    parser.add_argument("--wards", type=int, default=8, help="ward teams (one per thread, round robin)")
    args = parser.parse_args(argv)
    trees = trees_of(parser, args)
    threads = [int(n) for n in args.threads.split(",") if n.strip()]
    if not threads or min(threads) < 1 or args.rounds < 1 or args.lifecycles < 1 or args.wards < 1:
        parser.error("--threads, --rounds, --lifecycles and --wards must be positive")
    variants = [Variant(tree, n) for tree in trees for n in threads]
    if len(variants) < 2:
        parser.error("nothing to compare: give --b, or two numbers of threads")
    scale = suites.SCALES[args.scale]
    scale = dataclasses.replace(scale, dossiers=args.dossiers or scale.dossiers)
    run = report.Run(scale=scale.name, scale_settings=scale.as_dict() | {"app": args.app})
    run.note = args.note
    engines = {str(tree): _compile(tree) for tree in trees}
    with city_context(scale, run, args, workers=1, client="in-process") as (ctx, city):
        assert ctx.city_url is not None and ctx.server is not None
        teams = suites.ward_teams(ctx.city_url, args.wards, suites.example_form(ctx.city_url))
        job = {
            "url": ctx.city_url,
            "teams": [dataclasses.asdict(team) for team in teams],
            "steps": loadgen.LIFECYCLE,
            "lifecycles": args.lifecycles,
            "app": args.app,
        }
        phases = []
        for round_number in range(args.rounds):
            shift = round_number % len(variants)  # the order turns each round
            for variant in variants[shift:] + variants[:shift]:
                ctx.log(
                    f"{variant.label}: {args.lifecycles} lifecycles in-process (round {round_number + 1})"
                )
                figures = _phase(variant, job | {"threads": variant.threads}, ctx.server.postmaster_pids)
                phases.append({"round": round_number, "variant": variant.label} | figures)
    results = {"city": city, "engines": engines, "variants": summaries(variants, phases), "phases": phases}
    lines = report_lines(results)
    path = run.write(f"service-ab-{args.app}", results, summary=lines)
    print("\n".join(lines), flush=True)
    ctx.log(f"wrote {path.relative_to(HERE)}")
    return 0


def _phase(variant: Variant, job: dict[str, Any], database_pids: Any) -> dict[str, Any]:
    """One child process of the variant: warmed up, then measured (its CPU, and the cluster's meanwhile)."""
    env = {**os.environ, "PYTHONPATH": str(variant.tree)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD)], cwd=variant.tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(json.dumps(job) + "\n")
        child.stdin.flush()
        if not json.loads(child.stdout.readline() or "{}").get("ready"):
            raise RuntimeError(f"{variant.label}: the child failed before its warm-up ended")
        database = cpu_seconds(database_pids())
        child.stdin.write("go\n")
        child.stdin.flush()
        measured = json.loads(child.stdout.readline() or "{}")
        database = cpu_seconds(database_pids()) - database
    finally:
        child.stdin.close()
        if child.wait(60) != 0:
            raise RuntimeError(f"{variant.label}: the child exited with {child.returncode}")
    if "cpu_seconds" not in measured:
        raise RuntimeError(f"{variant.label}: the child gave no figures")
    count = job["lifecycles"]
    python_ms = measured["cpu_seconds"] * 1000 / count
    database_ms = database * 1000 / count
    return {
        "python_ms_per_lifecycle": round(python_ms, 3),
        "database_ms_per_lifecycle": round(database_ms, 3),
        "cpu_ms_per_lifecycle": round(python_ms + database_ms, 3),
        "wall_ms_per_lifecycle": round(measured["wall_seconds"] * 1000 / count, 3),
    }


FIGURES = (
    "python_ms_per_lifecycle",
    "database_ms_per_lifecycle",
    "cpu_ms_per_lifecycle",
    "wall_ms_per_lifecycle",
)


def summaries(variants: list[Variant], phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each variant's median and range of each figure over its own phases."""
    return [
        {"variant": v.label, "tree": str(v.tree), "threads": v.threads}
        | {f: _spread([p[f] for p in phases if p["variant"] == v.label]) for f in FIGURES}
        for v in variants
    ]


def report_lines(results: dict[str, Any]) -> list[str]:
    def cell(spread: dict[str, float]) -> str:
        return f"{spread['median']} ({spread['min']}–{spread['max']})"

    engines = "; ".join(f"{tree}: {why}" for tree, why in results["engines"].items())
    rows = [[s["variant"], *(cell(s[f]) for f in FIGURES)] for s in results["variants"]]
    headers = ["variant", "Python ms", "PostgreSQL ms", "CPU ms", "wall ms"]
    return [
        f"City: {results['city']['dossiers']:,} dossiers. Engines: {engines}.",
        "Per complete lifecycle (a filing and five actions), median (range) over the rounds:",
        "",
        *report.table(headers, rows),
    ]


if __name__ == "__main__":
    sys.exit(main())
