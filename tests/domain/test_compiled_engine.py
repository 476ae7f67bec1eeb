"""The optional mypyc build of the engine (`motcua.domain._build`, `make compile`): it gives byte for byte the
same events, states and audit hashes as the pure Python, and a stale or foreign build is never used.

The compiled and the pure engine cannot share one process (the same module names), so each runs the same
hypothesis-generated lifecycles in a subprocess (`python -m tests.domain.test_compiled_engine`, plans on
stdin, transcript on stdout) and the transcripts are compared as bytes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import motcua.domain
from motcua.domain import COMPILED_MODULES, GROUP, build_directory, build_status, sources_digest
from motcua.domain.audit import GENESIS_HASH, jsonable, seal
from motcua.domain.catalog import TimeUnit
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import DomainError
from motcua.domain.lifecycle import (
    Command,
    DossierState,
    Event,
    ProcedureTerms,
    allowed_actions,
    decide,
    state_to_dict,
)
from tests.domain.test_lifecycle import CAST, context, open_dossier, valid_payload
from tests.domain.test_lifecycle_properties import (
    COMMANDS,
    EARLY_ENDINGS,
    SCENARIOS,
    SUBMISSIONS,
    broken_payloads,
)

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
USABLE, WHY = build_status()
needs_build = pytest.mark.skipif(
    not USABLE, reason=f"no usable compiled engine ({WHY}): run `make compile` (needs mypyc and a C compiler)"
)


def run_engine(plans: list[dict[str, Any]], *, pure: bool, build: Path | None = None) -> dict[str, Any]:
    """The transcript of `plans` from a fresh interpreter, pure or with the build (`build_directory()`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MOTCUA_PURE", "MOTCUA_MYPYC_DIR")}
    if pure:
        env["MOTCUA_PURE"] = "1"
    env["MOTCUA_MYPYC_DIR"] = str(build or build_directory())
    done = subprocess.run(
        [sys.executable, "-m", "tests.domain.test_compiled_engine"],
        input=json.dumps(plans),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return {"out": done.stdout, "err": done.stderr, **json.loads(done.stdout.partition("\n")[0])}


# ---------------------------------------------------------------- the same lifecycles, both engines

steps = st.fixed_dictionaries(
    {
        "choice": st.integers(0, 9),
        "pick": st.integers(0, 10_000),
        "actor": st.integers(0, 100),
        "action": st.integers(0, 100),
        "delay": st.one_of(
            st.integers(0, 59),
            st.integers(1, 12).map(lambda h: h * 60),
            st.integers(1, 6).map(lambda d: d * 1440),
        ),
        "valid": st.integers(0, 4),
        "payload": st.integers(0, 10),
    }
)
plans = st.fixed_dictionaries(
    {
        "scenario": st.integers(0, 2),
        "submission": st.integers(0, 2),
        "amount": st.integers(0, 3),
        "unit": st.integers(0, 10),
        "cutoff": st.integers(0, 2),
        "start": st.integers(0, 660 * 1440),  # minutes after 2026-01-01 00:00 (the test calendar's two years)
        "steps": st.lists(steps, min_size=1, max_size=30),
    }
)


# Offered commands with valid payloads an hour apart on each workflow: every batch moves dossiers along (the
# drawn plans may be refusals only).
ONWARD = [
    {
        "scenario": scenario,
        "submission": scenario,
        "amount": 2,
        "unit": 0,
        "cutoff": 1,
        "start": 90_000,
        "steps": [
            {"choice": 5, "pick": n, "actor": 0, "action": 0, "delay": 60, "valid": 1, "payload": 0}
            for n in range(8)
        ],
    }
    for scenario in range(3)
]


@needs_build
@settings(max_examples=3, deadline=None)
@given(batch=st.lists(plans, min_size=10, max_size=30))
def test_compiled_and_pure_engines_write_the_same_bytes(batch: list[dict[str, Any]]) -> None:
    batch = [*batch, *ONWARD]
    pure = run_engine(batch, pure=True)
    compiled = run_engine(batch, pure=False)
    assert pure["engine"] is None and pure["lifecycle"].endswith(".py")
    assert compiled["engine"] and compiled["lifecycle"].endswith(SUFFIX), compiled
    assert compiled["out"].partition("\n")[2] == pure["out"].partition("\n")[2]
    assert pure["events"] >= 3 * 4  # each onward plan reaches "returned": 4 decisions after the submission


# ---------------------------------------------------------------- never a stale or foreign build


def fake_build(directory: Path, **stamp: Any) -> Path:
    """A build directory with the files the loader looks for (empty) and a stamp for the current sources."""
    (directory / "motcua" / "domain").mkdir(parents=True)
    (directory / "lib").mkdir()
    for name in COMPILED_MODULES:
        (directory / "motcua" / "domain" / f"{name}{SUFFIX}").write_bytes(b"")
    (directory / "lib" / f"{GROUP}__mypyc{SUFFIX}").write_bytes(b"")
    fields = {
        "sources": sources_digest(),
        "modules": list(COMPILED_MODULES),
        "ext_suffix": SUFFIX,
        "mypy": "x",
    }
    (directory / "stamp.json").write_text(json.dumps({**fields, **stamp}))
    return directory


def test_a_build_is_used_only_for_the_sources_and_python_it_was_made_from(tmp_path: Path) -> None:
    assert build_status(tmp_path / "none") == (False, "no compiled build")
    assert build_status(fake_build(tmp_path / "ok")) == (True, "mypyc x")
    usable, why = build_status(fake_build(tmp_path / "stale", sources="0" * 64))
    assert not usable and why.startswith("stale")
    usable, why = build_status(fake_build(tmp_path / "other", ext_suffix=".cpython-399-x.so"))
    assert not usable and "another Python" in why
    usable, why = build_status(fake_build(tmp_path / "fewer", modules=["lifecycle"]))
    assert not usable
    (tmp_path / "ok" / "motcua" / "domain" / f"lifecycle{SUFFIX}").unlink()
    usable, why = build_status(tmp_path / "ok")
    assert not usable and "incomplete" in why


def test_editing_any_domain_module_changes_the_digest(tmp_path: Path) -> None:
    copy = tmp_path / "domain"
    shutil.copytree(Path(motcua.domain.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = sources_digest(copy)
    assert before == sources_digest()
    audit = copy / "audit.py"  # not itself compiled: the compiled modules may depend on any of them
    audit.write_bytes(audit.read_bytes() + b"\n")
    assert sources_digest(copy) != before
    (copy / "__init__.py").write_text("# the loader itself is never compiled\n")
    audit.write_bytes(audit.read_bytes()[:-1])
    assert sources_digest(copy) == before


def test_a_stale_stamp_falls_back_to_pure_python(tmp_path: Path) -> None:
    """With the real build when there is one (the binary must not be loaded), else a fake one."""
    build = tmp_path / "build"
    if USABLE:
        shutil.copytree(build_directory(), build)
        stamp = json.loads((build / "stamp.json").read_text())
        (build / "stamp.json").write_text(json.dumps({**stamp, "sources": "f" * 64}))
    else:
        fake_build(build, sources="f" * 64)
    plan = [
        {"scenario": 0, "submission": 0, "amount": 1, "unit": 0, "cutoff": 0, "start": 90_000, "steps": []}
    ]
    result = run_engine(plan, pure=False, build=build)
    assert result["engine"] is None and result["lifecycle"].endswith("lifecycle.py")
    assert "stale" in result["err"]  # one warning line says why


@needs_build
def test_the_build_is_used_when_it_matches_and_motcua_pure_turns_it_off() -> None:
    plan = [
        {"scenario": 0, "submission": 0, "amount": 1, "unit": 0, "cutoff": 0, "start": 90_000, "steps": []}
    ]
    compiled = run_engine(plan, pure=False)
    assert compiled["engine"].startswith("mypyc ") and compiled["lifecycle"].endswith(SUFFIX)
    assert compiled["err"] == ""
    pure = run_engine(plan, pure=True)
    assert pure["engine"] is None and pure["lifecycle"].endswith(".py")
    assert pure["out"].partition("\n")[2] == compiled["out"].partition("\n")[2]


# ---------------------------------------------------------------- the subprocess: plans in, transcript out


def _transcript(plans: list[dict[str, Any]]) -> tuple[list[Any], int]:
    units, cutoffs = list(TimeUnit), [None, datetime(2026, 1, 1, 15).time(), datetime(2026, 1, 1, 11).time()]
    amounts = [Fraction(1, 2), Fraction(1), Fraction(3), Fraction(15)]
    origin = datetime(2026, 1, 1, tzinfo=VN_TZ)
    out: list[Any] = []
    accepted = 0
    for plan in plans:
        workflow, competent = SCENARIOS[plan["scenario"]]
        channel, submitter = SUBMISSIONS[plan["submission"]]
        ctx = context(workflow, competent)
        terms = ProcedureTerms(
            "1.001193", amounts[plan["amount"]], units[plan["unit"] % len(units)], cutoffs[plan["cutoff"]]
        )
        now = origin + timedelta(minutes=plan["start"])
        d = open_dossier(ctx, now, terms=terms, channel=channel, actor=submitter)
        record: list[Any] = []
        prev = _log(record, d.state, d.events[0], GENESIS_HASH)
        for step in plan["steps"]:
            now += timedelta(minutes=step["delay"])
            offered = [(a, x) for a in CAST for x in allowed_actions(d.state, a, ctx)]
            record.append(sorted(f"{a.id}:{x.value}" for a, x in offered))
            if offered and step["choice"] >= 2:
                onward = [p for p in offered if p[1] not in EARLY_ENDINGS]
                pool = onward if onward and step["choice"] < 9 else offered
                actor, action = pool[step["pick"] % len(pool)]
            else:
                actor, action = CAST[step["actor"] % len(CAST)], COMMANDS[step["action"] % len(COMMANDS)]
            if step["valid"]:
                payload = valid_payload(action, d.state, now)
            else:
                options = broken_payloads(action, d.state, now)
                payload = options[step["payload"] % len(options)]
            try:
                state, events = decide(d.state, Command(action, actor, now, payload), ctx)
            except DomainError as error:
                record.append({"refused": type(error).__name__, "code": error.code, "message": str(error)})
                continue
            d.state = state
            d.events += events
            accepted += 1
            prev = _log(record, state, events[0], prev)
        out.append(record)
    return out, accepted


def _log(record: list[Any], state: DossierState, event: Event, prev: str) -> str:
    """Record an accepted event as stored (`jsonable`), the state as stored, and its audit entry's hash."""
    fields = {
        "dossier": state.code,
        "seq": event.seq,
        "type": event.type.value,
        "at": event.at,
        "actor_id": event.actor_id,
        "actor_kind": event.actor_kind.value,
        "actor_unit_id": event.actor_unit_id,
        "data": event.data,
        "changes": event.changes,
    }
    entry = seal(0, event.seq, prev, fields)  # (`seal` hashes `jsonable(fields)`)
    record.append({"event": jsonable(fields), "state": state_to_dict(state), "audit": entry.hash})
    return entry.hash


if __name__ == "__main__":
    import motcua.domain.lifecycle

    transcript, accepted = _transcript(json.loads(sys.stdin.read()))
    header = {
        "engine": motcua.domain.compiled(),
        "lifecycle": motcua.domain.lifecycle.__file__,
        "events": accepted,
    }
    sys.stdout.write(json.dumps(header) + "\n" + json.dumps(transcript, ensure_ascii=False) + "\n")
