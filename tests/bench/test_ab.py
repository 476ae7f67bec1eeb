"""`python -m bench.ab` compares variants by their median and range over alternated phases."""

from __future__ import annotations

from pathlib import Path

from bench.ab import HERE, Variant, _report, _summaries


def _phase(
    variant: Variant, rate: float, cpu: float, p99: float = 20.0, errors: int = 0
) -> dict[str, object]:
    return {
        "variant": variant.label,
        "lifecycles_per_second": rate,
        "cpu_ms_per_lifecycle_all_in": cpu,
        "worst_p99_ms": p99,
        "errors": errors,
    }


def test_each_variant_is_summed_up_over_its_own_phases() -> None:
    a, b = Variant(HERE, 16), Variant(Path("/tmp/other"), 16)
    phases = [
        _phase(a, 200.0, 8.125),
        _phase(b, 150.0, 10.0, p99=40.0),
        _phase(b, 170.0, 9.0, errors=1),
        _phase(a, 220.0, 7.25),
        _phase(a, 180.0, 9.1, p99=33.0),
        _phase(b, 160.0, 9.5),
    ]
    summaries = _summaries([a, b], phases)
    assert [s["variant"] for s in summaries] == [f"A ({HERE.name}), 16 users", "B (other), 16 users"]
    assert summaries[0]["lifecycles_per_second"] == {"median": 200.0, "min": 180.0, "max": 220.0}
    assert summaries[1]["cpu_ms_per_lifecycle"] == {"median": 9.5, "min": 9.0, "max": 10.0}
    assert summaries[0]["cpu_ms_per_lifecycle"]["median"] == 8.12  # rounded to 0.01 ms
    assert (summaries[0]["worst_p99_ms"], summaries[1]["worst_p99_ms"]) == (33.0, 40.0)
    assert (summaries[0]["errors"], summaries[1]["errors"]) == (0, 1)
    lines = _report({"city": {"dossiers": 1000}, "engines": {}, "variants": summaries})
    assert "| B (other), 16 users | 160.0 (150.0–170.0) | 9.5 (9.0–10.0) | 40.0 | 1 |" in lines
