"""What every result records (date, machine, load, versions, scale, ceilings) and how it is written.

A result is `bench/results/<date>-<name>-<scale>.json` plus a Markdown twin (`-2`, `-3` … for later runs of the
same day: never overwritten); the JSON is the source, the Markdown is for people (the README quotes it).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from motcua.domain.clock import VN_TZ

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LIBRARIES = ("litestar", "uvicorn", "sqlalchemy", "psycopg", "httpx", "uvloop", "spiffworkflow")


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages (`uptime`)."""
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    memory_kb = 0
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "load_average_at_start": load_average(),
    }


def versions(postgresql: str | None = None) -> dict[str, str]:
    found = {"python": platform.python_version()}
    if postgresql:
        found["postgresql"] = postgresql
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def free_stem(directory: Path, stem: str) -> str:
    """`stem`, or the first of `stem-2`, `stem-3` … that names no result in `directory` yet."""
    candidate, n = stem, 1
    while (directory / f"{candidate}.json").exists() or (directory / f"{candidate}.md").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


@dataclass
class Run:
    """One `python -m bench` run: shared context every result of the run carries."""

    scale: str
    scale_settings: dict[str, Any]
    started: datetime = field(default_factory=lambda: datetime.now(VN_TZ))
    machine: dict[str, Any] = field(default_factory=machine)
    versions: dict[str, str] = field(default_factory=versions)
    ceilings: dict[str, Any] = field(default_factory=dict)
    postgresql_settings: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def write(self, name: str, results: dict[str, Any], *, summary: list[str]) -> Path:
        """Write `<date>-<name>-<scale>.json` and `.md` — `-2`, `-3` … after the scale when an earlier run of the
        day holds that name (results are never overwritten: the README quotes them) —; returns the JSON path."""
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stem = free_stem(RESULTS_DIR, f"{self.started:%Y-%m-%d}-{name}-{self.scale}")
        document = {
            "benchmark": name,
            "date": self.started.isoformat(timespec="seconds"),
            "written": datetime.now(VN_TZ).isoformat(timespec="seconds"),
            "scale": self.scale,
            "scale_settings": self.scale_settings,
            "machine": self.machine | {"load_average_at_end": load_average()},
            "versions": self.versions,
            "postgresql_settings": self.postgresql_settings,
            "ceilings": self.ceilings,
            "note": self.note,
            "results": results,
        }
        path = RESULTS_DIR / f"{stem}.json"
        path.write_text(
            json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        (RESULTS_DIR / f"{stem}.md").write_text(self._markdown(name, document, summary), encoding="utf-8")
        return path

    def _markdown(self, name: str, document: dict[str, Any], summary: list[str]) -> str:
        m = document["machine"]
        v = document["versions"]
        lines = [
            f"# {name} — scale `{self.scale}` — {document['date']}",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; load average "
            f"{m['load_average_at_start']} at start, {m['load_average_at_end']} at end.",
            "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
            f"Scale: {json.dumps(self.scale_settings, ensure_ascii=False)}",
        ]
        if self.note:
            lines += ["", f"**Note:** {self.note}"]
        if self.ceilings:
            lines += ["", "Ceilings measured in the same run:", ""]
            lines += [f"- {key}: {_fmt(value)}" for key, value in self.ceilings.items()]
        lines += ["", "## Results", "", *summary, ""]
        lines += ["Full figures: the JSON file of the same name.", ""]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return out
