"""A benchmark's results are never overwritten by a later run of the same day (the README quotes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report


def test_a_second_run_of_the_day_is_written_beside_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    run = report.Run(scale="small", scale_settings={})
    first = run.write("ab", {"n": 1}, summary=["first"])
    second = run.write("ab", {"n": 2}, summary=["second"])
    third = run.write("ab", {"n": 3}, summary=["third"])
    stem = f"{run.started:%Y-%m-%d}-ab-small"
    assert [first.name, second.name, third.name] == [f"{stem}.json", f"{stem}-2.json", f"{stem}-3.json"]
    assert '"n": 1' in first.read_text(encoding="utf-8") and '"n": 2' in second.read_text(encoding="utf-8")
    assert "first" in (tmp_path / f"{stem}.md").read_text(encoding="utf-8")
    assert "second" in (tmp_path / f"{stem}-2.md").read_text(encoding="utf-8")
