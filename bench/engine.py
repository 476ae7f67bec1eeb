"""The pure engine against SpiffWorkflow 3.2 on the same five-step workflow, in-process.

motcua: `submit` then `decide` five times on `tieu-chuan` (accept → forward → approve → issue result →
return result), each command by the officer of the step's role, with the legal deadlines computed on the
Vietnamese working calendar and each event's state diff. SpiffWorkflow: a new `BpmnWorkflow` of
`bench/tieu_chuan.bpmn` (five user tasks in role lanes), each ready user task run, then the engine steps.
Neither persists anything. A transition is one completed step (five per instance); instance creation is
inside the timed loop for both. Rates are per second of this process's CPU time (`time.process_time`), so
other work on a shared machine slows both sides' wall clocks without changing the ratio much; rounds
alternate between the engines and the best round of each counts.

What the motcua side does per transition, eagerly (nothing deferred until read): the national-status and
role × unit checks, the legal due date at acceptance and each step's due date on entering it (on the real
calendar's table of office periods — `BusinessCalendar`, built once per process like Spiff's parsed spec), a
new immutable state, and the event with its changed fields already encoded for storage (ISO instants). The
submission instants repeat every 300 instances; the engine keeps no cache keyed by instants or dossiers, so
the repetition does not help it (the calendar's table, and the ISO formatter's table of years in which the
zone is +07:00, depend only on the years touched; the workflow's routes are compiled once when it is parsed).

motcua runs twice per round, the same code: interpreted by CPython (`MOTCUA_PURE=1`) and, when `make compile`
has built it for the current sources, compiled by mypyc (`motcua.domain.compiled()`; the engine's modules
only — SpiffWorkflow is not compiled). A module cannot be loaded both ways in one process, so each motcua run
is a fresh `python -m bench.engine` subprocess that sets up as above and reports the CPU rate of its timed
loop alone; SpiffWorkflow runs in this process. Each is compared with SpiffWorkflow's best round.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.catalog import TimeUnit
from motcua.domain.clock import VN_TZ
from motcua.domain.lifecycle import (
    Action,
    Actor,
    ActorKind,
    Channel,
    Command,
    Context,
    ProcedureTerms,
    decide,
    submit,
)
from motcua.domain.workflow import Role, parse_workflow
from motcua.services.workflows import read_definition_files

BPMN = Path(__file__).resolve().parent / "tieu_chuan.bpmn"
WARD = "phuong-sai-gon"
STEPS = (
    (Action.ACCEPT, Role.RECEIVER),
    (Action.FORWARD, Role.PROCESSOR),
    (Action.APPROVE, Role.APPROVER),
    (Action.ISSUE_RESULT, Role.PROCESSOR),
    (Action.RETURN_RESULT, Role.RETURNER),
)
PAYLOADS: dict[Action, dict[str, Any]] = {Action.RETURN_RESULT: {"method": "desk"}}


def motcua_engine(instances: int) -> float:
    """Transitions per second of the pure engine."""
    data = next(d for d in read_definition_files() if d["id"] == "tieu-chuan")
    ctx = Context(
        workflow=parse_workflow(data), calendar=BusinessCalendar.vietnam(), resolve_unit=lambda _: WARD
    )
    terms = ProcedureTerms("1.001193", __import__("fractions").Fraction(1), TimeUnit.WORKING_DAY)
    citizen = Actor("cd-079090001234", ActorKind.CITIZEN)
    officers = {
        role: Actor(f"sg.{role.value}", ActorKind.OFFICER, frozenset({role}), WARD) for _, role in STEPS
    }
    start = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    minute = timedelta(minutes=1)
    gc.collect()
    began = time.process_time()
    for i in range(instances):
        at = start + timedelta(minutes=i % 300)
        state, _ = submit(
            ctx,
            code=f"068.00.70.H29-260302-{i + 1:04d}",
            terms=terms,
            channel=Channel.ONLINE,
            actor=citizen,
            applicant_id=citizen.id,
            receiving_unit_id=WARD,
            competent_unit_id=WARD,
            at=at,
        )
        for n, (action, role) in enumerate(STEPS, start=1):
            state, _ = decide(
                state, Command(action, officers[role], at + n * minute, PAYLOADS.get(action, {})), ctx
            )
    return len(STEPS) * instances / (time.process_time() - began)


def spiffworkflow(instances: int) -> float:
    """Transitions per second of SpiffWorkflow on the equivalent BPMN process."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("tieu_chuan")
    gc.collect()
    began = time.process_time()
    done = 0
    for _ in range(instances):
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        while not workflow.is_completed():
            for task in workflow.get_tasks(state=TaskState.READY, manual=True):
                task.run()
                done += 1
            workflow.do_engine_steps()
    elapsed = time.process_time() - began
    assert done == len(STEPS) * instances, done
    return done / elapsed


def motcua_engine_in(instances: int, *, pure: bool) -> dict[str, Any]:
    """`motcua_engine(instances)` in a fresh interpreter, interpreted (`pure`) or with the compiled build; its
    rate and which engine actually ran."""
    env = {k: v for k, v in os.environ.items() if k != "MOTCUA_PURE"}
    if pure:
        env["MOTCUA_PURE"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "bench.engine", str(instances)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )
    return json.loads(done.stdout)


def compare(instances: int, rounds: int = 3) -> dict[str, Any]:
    """Best of `rounds` alternating rounds for each engine (the best round is the least disturbed): motcua
    interpreted, motcua compiled (when built), SpiffWorkflow."""
    from motcua.domain import build_status

    python = f"CPython {platform.python_version()}"
    usable, why = build_status()
    ours: list[float] = []
    compiled: list[float] = []
    label: str | None = None
    theirs: list[float] = []
    try:
        import SpiffWorkflow  # noqa: F401
    except ImportError:
        rounds, spiff = 1, False
    else:
        spiff = True
    for _ in range(rounds):
        run = motcua_engine_in(instances, pure=True)
        assert run["engine"] is None, run
        ours.append(run["transitions_per_second"])
        if usable:
            run = motcua_engine_in(instances, pure=False)
            label = run["engine"]
            if label is None:  # the build went stale or failed to load in the child
                usable, why = False, "the build did not load in the subprocess"
            else:
                compiled.append(run["transitions_per_second"])
        if spiff:
            theirs.append(
                spiffworkflow(max(instances // 4, 50))
            )  # Spiff is slower: fewer instances, same CPU time
    results: dict[str, Any] = {
        "instances_per_round": {"motcua": instances, "spiffworkflow": max(instances // 4, 50)},
        "rounds": rounds,
        "clock": "process CPU time",
        "engine": f"{python}, interpreted",
        "motcua_transitions_per_second": round(max(ours)),
    }
    if spiff:
        results |= {
            "spiffworkflow_transitions_per_second": round(max(theirs)),
            "ratio": round(max(ours) / max(theirs), 1),
            "target_ratio": 20,
        }
    else:
        results["spiffworkflow"] = "not installed"
    if compiled and label is not None:
        results["compiled"] = {
            "engine": f"{python}, engine modules compiled by {label}",
            "motcua_transitions_per_second": round(max(compiled)),
            **({"ratio": round(max(compiled) / max(theirs), 1)} if spiff else {}),
        }
    else:
        results["compiled"] = {"engine": None, "why": why}
    results["all_rounds"] = {
        "motcua": [round(x) for x in ours],
        "motcua_compiled": [round(x) for x in compiled],
        "spiffworkflow": [round(x) for x in theirs],
    }
    return results


if (
    __name__ == "__main__"
):  # `python -m bench.engine N`: one timed run of N lifecycles, as JSON (see `compare`)
    import motcua.domain
    import motcua.domain.lifecycle

    rate = motcua_engine(int(sys.argv[1]))
    print(
        json.dumps(
            {
                "transitions_per_second": rate,
                "engine": motcua.domain.compiled(),
                "lifecycle": motcua.domain.lifecycle.__file__,
            }
        )
    )
