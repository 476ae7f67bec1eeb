"""`python -m bench.service_ab`: its child runs real lifecycles through the service layer (both databases), and
the parent sums each variant up over its own phases."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import select

from bench.ab import HERE
from bench.loadgen import LIFECYCLE
from bench.service_ab import FIGURES, Variant, report_lines, summaries
from bench.service_child import run_lifecycles, teams_of
from bench.suites import KHAI_SINH, WARD, WardTeam
from motcua.domain.clock import FixedClock
from motcua.domain.lifecycle import Status
from motcua.services.audit import verify_database
from motcua.services.catalog import get_procedure
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers


def test_the_child_takes_each_dossier_to_the_handing_over(seeded_db: Database, clock: FixedClock) -> None:
    """Three lifecycles on two threads: three dossiers filed at the demo ward, each returned to its applicant
    by the step's officers, with an intact audit log."""
    with seeded_db.read() as conn:
        form = get_procedure(conn, KHAI_SINH)["city"]["form_schema"]["examples"][0]
    names = ("congdan", "sg.tiepnhan", "sg.xuly", "sg.pheduyet", "sg.traketqua")
    submission = {
        "procedure_code": KHAI_SINH,
        "receiving_unit_id": WARD,
        "channel": "online",
        "form_data": form,
    }
    team = dataclasses.asdict(WardTeam({name: name for name in names}, submission))
    rt = Runtime(db=seeded_db, clock=clock)
    codes = run_lifecycles(rt, teams_of(seeded_db, [team]), LIFECYCLE, 3, 2)
    assert len(set(codes)) == 3
    with seeded_db.read() as conn:
        rows = conn.execute(
            select(dossiers.c.status, dossiers.c.receiving_unit_id).where(dossiers.c.code.in_(codes))
        )
        assert sorted(tuple(row) for row in rows) == [(int(Status.RETURNED), WARD)] * 3
    assert verify_database(seeded_db).ok


def _phase(variant: Variant, python: float, database: float, wall: float) -> dict[str, object]:
    return {
        "variant": variant.label,
        "python_ms_per_lifecycle": python,
        "database_ms_per_lifecycle": database,
        "cpu_ms_per_lifecycle": python + database,
        "wall_ms_per_lifecycle": wall,
    }


def test_each_variant_is_summed_up_over_its_own_phases() -> None:
    a, b = Variant(HERE, 1), Variant(Path("/tmp/other"), 1)
    phases = [
        _phase(a, 3.5, 3.0, 6.0),
        _phase(b, 4.5, 3.25, 8.0),
        _phase(b, 4.0, 3.0, 7.0),
        _phase(a, 3.0, 2.5, 5.0),
    ]
    phases.append(_phase(a, 4.0, 2.75, 7.0))
    first, second = summaries([a, b], phases)
    assert (first["variant"], second["variant"]) == (f"A ({HERE.name}), 1 threads", "B (other), 1 threads")
    assert first["python_ms_per_lifecycle"] == {"median": 3.5, "min": 3.0, "max": 4.0}
    assert second["database_ms_per_lifecycle"] == {"median": 3.12, "min": 3.0, "max": 3.25}
    assert first["cpu_ms_per_lifecycle"]["median"] == 6.5 and set(FIGURES) <= set(first)
    lines = report_lines({"city": {"dossiers": 1000}, "engines": {}, "variants": [first, second]})
    assert (
        "| B (other), 1 threads | 4.25 (4.0–4.5) | 3.12 (3.0–3.25) | 7.38 (7.0–7.75) | 7.5 (7.0–8.0) |"
        in lines
    )
