"""A throwaway PostgreSQL cluster for a benchmark run, and the pgbench ceilings measured on it.

The cluster code is the test suite's (`tests/pg.py`: initdb into a temp dir, 127.0.0.1 and a free port, run
as `postgres` when we are root); only the server settings differ. Unlike the tests, a benchmark keeps
durability on (fsync, synchronous_commit, full_page_writes), because production does: the ceilings and the
application are measured under the same settings, so their ratio is fair.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

from tests import pg


@dataclass(frozen=True)
class ServerSettings:
    """PostgreSQL settings for the benchmark cluster (recorded in every result)."""

    shared_buffers: str = "512MB"
    max_connections: int = 200
    max_wal_size: str = "4GB"
    checkpoint_timeout: str = "15min"
    durable: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def options(self) -> str:
        values = {
            "listen_addresses": "127.0.0.1",
            "max_connections": str(self.max_connections),
            "shared_buffers": self.shared_buffers,
            "max_wal_size": self.max_wal_size,
            "checkpoint_timeout": self.checkpoint_timeout,
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            **self.extra,
        }
        return " ".join(f"-c {name}={value}" for name, value in values.items())

    def as_dict(self) -> dict[str, object]:
        return {
            "shared_buffers": self.shared_buffers,
            "max_connections": self.max_connections,
            "max_wal_size": self.max_wal_size,
            "checkpoint_timeout": self.checkpoint_timeout,
            "durable (fsync, synchronous_commit, full_page_writes)": self.durable,
            **self.extra,
        }


class _BenchCluster(pg._Cluster):
    settings: ServerSettings = ServerSettings()
    keep: bool = False  # a kept cluster (`--city DIR`) is stopped cleanly and its files stay

    @classmethod
    def start_in(cls, bindir: Path, root: Path) -> _BenchCluster:
        """Start the cluster kept in `root` (initdb first if `root` holds none yet); `stop()` keeps it."""
        user = pg._server_user()
        root.mkdir(parents=True, exist_ok=True)
        cluster = cls(bindir=bindir, root=root, user=user)
        cluster.keep = True
        if user:
            shutil.chown(root, user=user)
        if not (cluster.datadir / "PG_VERSION").exists():
            cluster._initdb()
        (cluster.datadir / "postmaster.pid").unlink(missing_ok=True)  # a run killed earlier
        cluster.port = pg._free_port()
        if not cluster._pg_ctl_start():
            raise RuntimeError(f"PostgreSQL did not start in {root}:\n{cluster._log_tail()}")
        atexit.register(cluster.stop)
        return cluster

    def stop(self) -> None:
        if not self.keep:
            super().stop()
            return
        if not self.stopped:
            self.stopped = True
            self._pg_ctl("-m", "fast", "-w", "-t", "600", "stop")

    def _pg_ctl_start(self) -> bool:
        options = f"-k {self.root} -p {self.port} {self.settings.options()}"
        if self.keep:
            # A kept city stays on disk between runs: spent WAL segments are deleted at each checkpoint
            # instead of renamed into future ones (a 10M load otherwise leaves ~max_wal_size of them).
            options += " -c wal_recycle=off"
        return self._pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "120", "-o", options, "start")


@dataclass
class BenchServer:
    """A running benchmark cluster: SQLAlchemy URLs for databases on it, pgbench, and `stop()`."""

    server: pg.PgServer
    bindir: Path
    settings: ServerSettings

    @property
    def port(self) -> int:
        return int(self.server.admin_url.port or 5432)

    def create_database(self, name: str) -> str:
        return self.server.create_database(name)

    def url(self, name: str) -> str:
        return self.server.url(name)

    def version(self) -> str:
        done = subprocess.run(
            [str(self.bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    def pgbench(self, *args: str, database: str = "pgbench") -> str:
        command = [str(self.bindir / "pgbench"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(
            [*command, *args, database],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout + done.stderr

    def postmaster_pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers), for CPU accounting."""
        from bench.server import children_of

        cluster = self.server.cluster
        if cluster is None:
            return []
        try:
            postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [postmaster, *children_of(postmaster)]

    def stop(self) -> None:
        self.server.stop()


def start(settings: ServerSettings | None = None, keep_in: Path | None = None) -> BenchServer:
    """Start a private cluster with `settings` (raises `tests.pg.PostgresUnavailable` without binaries);
    with `keep_in`, the cluster kept in that directory (created there the first time)."""
    bindir = pg.find_bindir()
    if bindir is None:
        raise pg.PostgresUnavailable("PostgreSQL binaries not found (Debian: apt-get install postgresql)")
    cluster_class: type[_BenchCluster] = type(
        "Cluster", (_BenchCluster,), {"settings": settings or ServerSettings()}
    )
    cluster = cluster_class.start_in(bindir, keep_in) if keep_in else cluster_class.start(bindir)
    url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=cluster.port)
    server = pg.PgServer(admin_url=url.set(database="postgres"), cluster=cluster, name_prefix="bench")
    return BenchServer(server=server, bindir=bindir, settings=settings or ServerSettings())


_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
_LATENCY = re.compile(r"latency average = ([0-9.]+) ms")


def pgbench_ceilings(
    server: BenchServer, *, clients: int, seconds: int, scale: int = 10
) -> dict[str, object]:
    """TPC-B-like and select-only TPS on the benchmark cluster, with `clients` connections and 2 threads."""
    server.server.drop_database("pgbench")  # a kept cluster has the previous run's
    server.create_database("pgbench")
    server.pgbench("-i", "-q", "-s", str(scale))
    results: dict[str, object] = {"scale": scale, "clients": clients, "seconds": seconds}
    for name, extra in (("tpcb_like", ()), ("select_only", ("-S",))):
        out = server.pgbench("-c", str(clients), "-j", "2", "-T", str(seconds), "-n", *extra)
        tps = _TPS.search(out)
        latency = _LATENCY.search(out)
        results[f"{name}_tps"] = float(tps.group(1)) if tps else None
        results[f"{name}_latency_ms"] = float(latency.group(1)) if latency else None
    return results
