"""One variant's phase of `python -m bench.service_ab`: complete lifecycles through the service layer, in-process.

Run as a file (`python bench/service_child.py`) with the variant's tree first on PYTHONPATH: it imports only
`motcua`, so the tree's own code runs (another tree's `bench/` may not have this file). Protocol on stdin/stdout,
one JSON line each: the job in (`url`, `teams`, `steps`, `lifecycles`, `threads`, `app`); after a warm-up it prints
`{"ready": true}` and waits for one line; then it runs the lifecycles and prints its CPU and wall seconds, so
the parent can read the database's CPU over exactly the measured part.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from motcua.domain.lifecycle import Action, Actor, Channel
from motcua.services import dossiers as dossier_service
from motcua.services.hooks import default_hooks
from motcua.services.identity import actor_from_row
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.identity import users

WARM_UP = 20
# (action, demo account, payload) after the filing: the HTTP load's lifecycle, sent by the parent in the job
# (`bench.loadgen.LIFECYCLE`)
Steps = Sequence[tuple[str, str, Mapping[str, Any]]]


class Team:
    """A ward's citizen and officers as actors, and what the citizen files."""

    def __init__(self, actors: Mapping[str, Actor], submission: dossier_service.Submission) -> None:
        self.actors, self.submission = actors, submission


def teams_of(db: Database, teams: Sequence[Mapping[str, Any]]) -> list[Team]:
    """The bench's ward teams (`bench.suites.WardTeam` as JSON) with their accounts read as actors."""
    result = []
    with db.read() as conn:
        for team in teams:
            names = dict(team["usernames"])
            rows = conn.execute(select(users).where(users.c.username.in_(names.values()))).mappings()
            by_name = {row["username"]: actor_from_row(dict(row)) for row in rows}
            sub = team["submission"]
            result.append(
                Team(
                    {demo: by_name[user] for demo, user in names.items()},
                    dossier_service.Submission(
                        sub["procedure_code"],
                        sub["receiving_unit_id"],
                        Channel(sub["channel"]),
                        sub["form_data"],
                    ),
                )
            )
    return result


def lifecycle(rt: Runtime, team: Team, steps: Steps) -> str:
    """File one dossier and take it to the handing-over (summary answers, as the HTTP load asks); its code."""
    code = str(dossier_service.submit_dossier(rt, team.actors["congdan"], team.submission)["code"])
    for action, demo, payload in steps:
        dossier_service.act(rt, team.actors[demo], code, Action(action), payload, summary=True)
    return code


def run_lifecycles(rt: Runtime, teams: Sequence[Team], steps: Steps, count: int, threads: int) -> list[str]:
    """`count` lifecycles on `threads` threads, each thread with its own team (round robin); the codes."""
    codes: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        team = teams[n % len(teams)]
        try:
            for _ in range(count // threads + (1 if n < count % threads else 0)):
                codes.append(lifecycle(rt, team, steps))
        except BaseException as exc:  # reported by the parent thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return codes


def main() -> int:
    job = json.loads(sys.stdin.readline())
    db = Database(job["url"])
    rt = Runtime(db=db, hooks=[] if job["app"] == "core" else default_hooks())
    teams = teams_of(db, job["teams"])
    run_lifecycles(rt, teams, job["steps"], WARM_UP, job["threads"])
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    cpu, wall = time.process_time(), time.perf_counter()
    run_lifecycles(rt, teams, job["steps"], job["lifecycles"], job["threads"])
    result = {"cpu_seconds": time.process_time() - cpu, "wall_seconds": time.perf_counter() - wall}
    print(json.dumps(result), flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
